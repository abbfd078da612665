"""Validated partitions as Hive-style Parquet: `<table>/source=<source>/date=<YYYY-MM-DD>/data.parquet`.

This is the lake layout other engines (DuckDB, Trino, Spark) read directly. Every UTC day a
provider validated gets a file, even an empty one, so "validated, nothing valid" is different from
"never validated". Files are replaced atomically; re-validating a day overwrites it.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import polars as pl

from weather_assets.window import Window

OBSERVATIONS = "observations"
REJECTED = "rejected_observations"
DAILY = "daily_observations"  # daily-grain sources; `date` is the station's observation day
REJECTED_DAILY = "rejected_daily_observations"
AIR_QUALITY = "air_quality"  # hourly pollutant concentrations and air-quality indices
REJECTED_AIR_QUALITY = "rejected_air_quality"
PRECIPITATION_15MIN = "precipitation_15min"  # dense 15-minute precipitation (NOAA PRECIP_15)
REJECTED_PRECIPITATION_15MIN = "rejected_precipitation_15min"


def day_path(lake_dir: Path, table: str, source: str, day: dt.date) -> Path:
    return lake_dir / table / f"source={source}" / f"date={day.isoformat()}" / "data.parquet"


def write_day(lake_dir: Path, table: str, source: str, day: dt.date, df: pl.DataFrame) -> Path:
    """Write one source's rows for one UTC day (without the Hive columns, which live in the path)."""
    path = day_path(lake_dir, table, source, day)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".data.{os.getpid()}.tmp")
    df.drop([c for c in ("source", "date") if c in df.columns]).write_parquet(tmp, compression="zstd")
    os.replace(tmp, path)
    return path


def snapshot_dir(lake_dir: Path, table: str, source: str, issued_at: dt.datetime) -> Path:
    """Snapshots (forecasts, current conditions) are keyed by the hour they were taken, not by day."""
    return lake_dir / table / f"source={source}" / f"issued_at={issued_at:%Y-%m-%dT%H%MZ}"


def write_snapshot(lake_dir: Path, table: str, source: str, issued_at: dt.datetime, df: pl.DataFrame) -> Path:
    path = snapshot_dir(lake_dir, table, source, issued_at) / "data.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".data.{os.getpid()}.tmp")
    df.drop("source").write_parquet(tmp, compression="zstd")
    os.replace(tmp, path)
    return path


def newest_snapshot(lake_dir: Path, table: str, source: str) -> tuple[dt.datetime, Path] | None:
    """(issued_at, file) of the source's newest snapshot, or None if it has none."""
    found = sorted((lake_dir / table / f"source={source}").glob("issued_at=*"))
    if not found:
        return None
    issued_at = dt.datetime.strptime(found[-1].name.removeprefix("issued_at="), "%Y-%m-%dT%H%MZ")
    return issued_at, found[-1] / "data.parquet"


def files_for_days(lake_dir: Path, table: str, sources: Iterable[str], days: Iterable[dt.date]) -> list[Path]:
    """The existing files of `sources` for `days`, by source then day."""
    days = sorted(days)
    return [path for source in sources for day in days if (path := day_path(lake_dir, table, source, day)).exists()]


def missing_days(lake_dir: Path, table: str, source: str, days: Iterable[dt.date]) -> list[dt.date]:
    return [d for d in days if not day_path(lake_dir, table, source, d).exists()]


# --- Merging a validated window into the day files ---------------------------------------------------
# A history run replaces, in each day file of its window, the rows of the sites it covers; the rows of
# other sites stay. Each site-day's rows come from the newest pull that covered it.

RESPONSE_COLUMN = "_pull_run"  # which run's pull a normalised row came from


def partition_day(time_column: str) -> pl.Expr:
    """The partition day of a row: the UTC date of a timestamp, or the date itself (daily rows)."""
    column = pl.col(time_column)
    return column if time_column == "date" else column.dt.date()


def newest_response_rows(
    frame: pl.DataFrame,
    owners: Mapping[tuple[dt.date, str], str],
    scope: Sequence[str],
    time_column: str = "observed_at",
) -> pl.DataFrame:
    """Rows of the sites in `scope`, each site-day from the pull (`RESPONSE_COLUMN`) that `owners` names
    for it — all of that pull's rows: a provider may spread a site-day over pages or datasets (NOAA
    GHCND and PRECIP_HLY, CDO pages, one OpenWeatherMap call per hour). De-duplicating within one pull
    is the normaliser's job, and the schema's unique-key check quarantines any duplicate left."""
    wanted = set(scope)
    chosen = pl.DataFrame(
        [(day, site, run) for (day, site), run in owners.items() if site in wanted],
        schema={"_day": pl.Date, "site_id": pl.String, RESPONSE_COLUMN: pl.String},
        orient="row",
    )
    return (
        frame.with_columns(partition_day(time_column).alias("_day"))
        .join(chosen, on=["_day", "site_id", RESPONSE_COLUMN], how="semi", maintain_order="left")
        .drop("_day", RESPONSE_COLUMN)
    )


def rows_by_day(
    frame: pl.DataFrame, days: Sequence[dt.date], time_column: str = "observed_at"
) -> dict[dt.date, pl.DataFrame]:
    """`frame`'s rows for each of `days`, in frame order (an empty frame for a day without rows), in one
    pass: filtering per day would scan the whole window once per day (quadratic in its length)."""
    empty = frame.clear()
    if frame.height == 0:
        return dict.fromkeys(days, empty)
    groups = frame.with_columns(partition_day(time_column).alias("_day")).partition_by(
        "_day", as_dict=True, include_key=False, maintain_order=True
    )
    return {day: groups.get((day,), empty) for day in days}


def with_other_sites(
    lake_dir: Path, table: str, source: str, day: dt.date, new: pl.DataFrame, scope: Sequence[str]
) -> pl.DataFrame:
    """The day's rows to write: `new` plus the rows already in the day file for sites outside `scope`."""
    path = day_path(lake_dir, table, source, day)
    if not path.exists():
        return new
    kept = pl.read_parquet(path).filter(~pl.col("site_id").is_in(list(scope)))
    if kept.height == 0:
        return new
    return pl.concat([kept, new.drop([c for c in ("source", "date") if c in new.columns])], how="diagonal_relaxed")


def read_window(lake_dir: Path, table: str, source: str, window: Window, columns: Sequence[str]) -> pl.DataFrame:
    """The window's rows of one source as written, in `columns`: the source comes from the path, and so
    does a daily file's `date` (one file per observation day)."""
    paths = [day_path(lake_dir, table, source, d) for d in window.days]
    if "date" in columns:
        written = pl.concat(
            [
                pl.read_parquet(path).with_columns(pl.lit(day).alias("date"))
                for path, day in zip(paths, window.days, strict=True)
            ],
            how="diagonal_relaxed",
        )
    else:
        written = pl.read_parquet(paths, hive_partitioning=False)
    return written.with_columns(pl.lit(source).alias("source")).select(list(columns))
