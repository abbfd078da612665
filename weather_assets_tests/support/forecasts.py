"""Constructed forecasts and observations with known errors, for the blended forecast's tests.

One site `s1`; truth from source `station`, hourly over DAYS days from START. Each provider issues a 48-hour
forecast every day at 00 UTC: `biased` = truth + 2 °C + small noise, `noisy` = truth + large noise,
`perfect` = truth.
"""

from __future__ import annotations

import datetime as dt
import random

import polars as pl

START = dt.datetime(2024, 1, 1)
DAYS = 40
ISSUE = START + dt.timedelta(days=34)  # the first blend tested: 34 days of record before it


def truth(t: dt.datetime) -> float:
    return 8.0 + 5.0 * ((t.hour - 3) % 24) / 24 + (t.day % 7)


def observation_frame(days: int = DAYS, shuffle_from: dt.datetime | None = None, seed: int = 0) -> pl.DataFrame:
    """Station observations; values from `shuffle_from` on are permuted (the "future" a fit must not see)."""
    hours = [START + dt.timedelta(hours=h) for h in range(days * 24)]
    values = [truth(t) for t in hours]
    if shuffle_from is not None:
        cut = hours.index(shuffle_from)
        future = values[cut:]
        random.Random(seed).shuffle(future)
        values = values[:cut] + [v + 3.0 for v in future]
    return pl.DataFrame(
        {"site_id": "s1", "source": "station", "observed_at": hours, "temperature_c": values,
         "ingestion_run_id": "test", "ingested_at": dt.datetime(2024, 3, 1, tzinfo=dt.UTC)}
    )


def forecast_frame(source: str, error, days: int = DAYS) -> pl.DataFrame:
    rows = []
    for day in range(days):
        issued = START + dt.timedelta(days=day)
        for lead in range(48):
            t = issued + dt.timedelta(hours=lead)
            rows.append((issued, t, truth(t) + error(t, lead)))
    issued, valid, value = zip(*rows, strict=True)
    return pl.DataFrame(
        {"site_id": "s1", "source": source, "issued_at": issued, "valid_at": valid, "temperature_c": value,
         "ingestion_run_id": "test", "ingested_at": dt.datetime(2024, 3, 1, tzinfo=dt.UTC)}
    )


def gauss(seed: int, sigma: float, mean: float = 0.0):
    rng = random.Random(seed)
    return lambda _t, _lead: rng.gauss(mean, sigma)


PROVIDERS = {
    "biased": lambda: gauss(1, 0.4, mean=2.0),
    "noisy": lambda: gauss(2, 1.5),
    "perfect": lambda: (lambda _t, _lead: 0.0),
}


def insert(con, table: str, frame: pl.DataFrame) -> None:
    con.register("frame", frame)
    try:
        con.execute(f"insert into {table} by name select * from frame")
    finally:
        con.unregister("frame")
