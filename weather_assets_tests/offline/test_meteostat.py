"""The offline Meteostat replay against the documented data.meteostat.net hourly bulk file
(docs/providers/meteostat.md): gzip CSV with the sample's header, `<col>_source` columns, 404 for a
station-year without data, the injected gaps, model cells and impossible value, and the client's own
normaliser on its files."""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import io
import math

import pytest

from weather_assets.offline.meteostat import IMPLAUSIBLE, MeteostatReplay, bundled_stations
from weather_assets.providers import meteostat
from weather_assets.providers.base import WireRequest, WireResponse
from weather_assets_tests.conftest import FIXTURES

REPLAY = MeteostatReplay()
STATIONS = bundled_stations()
GREENSBORO = IMPLAUSIBLE[0]  # 72317
DOCUMENTED = (FIXTURES / "meteostat" / "data_hourly_2024_10637.csv").read_text(encoding="utf-8")


def _get(station: str, year: int = 2024, replay: MeteostatReplay = REPLAY) -> WireResponse:
    """The request exactly as the client's pull sends it."""
    return replay(WireRequest("GET", meteostat.DEFAULT_URL + meteostat.hourly_path(station, year), ()))


def _rows(body: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(gzip.decompress(body).decode("utf-8"))))


def _frame(station: str, body: bytes):
    meta = {"station": station, "year": 2024, "granularity": "hourly"}
    frame = meteostat.normalise_hourly(body, meta, [STATIONS[station]])
    return {row["observed_at"]: row for row in frame.iter_rows(named=True)}


def test_a_station_year_is_a_gzip_csv_with_the_documented_columns():
    response = _get(GREENSBORO)
    assert response.status == 200 and response.headers["Content-Type"] == "application/gzip"
    assert response.body[:2] == b"\x1f\x8b" and meteostat._classify(response) is None
    text = gzip.decompress(response.body).decode("utf-8")
    assert text.splitlines()[0] == DOCUMENTED.splitlines()[0]  # same columns, same order
    documented = list(csv.DictReader(io.StringIO(DOCUMENTED)))
    rows = _rows(response.body)
    assert len(rows) == 91 * 24  # 2024-01-01T00 .. 2024-03-31T23: a partial year
    assert (rows[0]["month"], rows[0]["day"], rows[0]["hour"]) == ("1", "1", "0")
    assert (rows[-1]["month"], rows[-1]["day"], rows[-1]["hour"]) == ("3", "31", "23")
    numeric = [c for c in documented[0] if not c.endswith("_source")]
    for row in rows:  # numbers or empty cells, like the sample; a source wherever there is a value
        for column in numeric:
            if row[column]:
                float(row[column])
        sources = {c: row[f"{c}_source"] for c in numeric[4:]}
        assert set(sources.values()) <= {"", "metar", "synop", "model"}
        assert all(bool(source) == bool(row[c]) for c, source in sources.items())


def test_the_normaliser_reads_the_file_with_its_injected_oddities():
    body = _get(GREENSBORO).body
    raw = {(int(r["month"]), int(r["day"]), int(r["hour"])): r for r in _rows(body)}
    hours = _frame(GREENSBORO, body)

    noon = raw[3, 20, 12]  # the impossible value: a decimal slip of the pressure
    assert noon["pres"] == "10158.0" and hours[dt.datetime(2024, 3, 20, 12)]["pressure_msl_hpa"] == 10158.0

    row, cells = hours[dt.datetime(2024, 3, 20, 13)], raw[3, 20, 13]
    assert row["temperature_c"] == float(cells["temp"]) and row["relative_humidity_pct"] == float(cells["rhum"])
    assert row["wind_speed_ms"] == pytest.approx(float(cells["wspd"]) / 3.6)
    assert row["precipitation_mm"] == float(cells["prcp"]) and row["source"] == "meteostat"
    # no dwpt column in the new layout: Magnus from temp and rhum, 0.1 °C
    t, rh = float(cells["temp"]), float(cells["rhum"])
    gamma = math.log(rh / 100) + 17.625 * t / (243.04 + t)
    assert row["dew_point_c"] == pytest.approx(243.04 * gamma / (17.625 - gamma), abs=0.051)

    model = raw[1, 4, 3]  # 03:00 UTC every 7th day from Jan 4: model gap-fill
    assert (model["temp_source"], model["rhum_source"], model["pres_source"]) == ("model", "model", "model")
    filled = hours[dt.datetime(2024, 1, 4, 3)]
    assert filled["temperature_c"] is None and filled["pressure_msl_hpa"] is None
    assert filled["wind_speed_ms"] == pytest.approx(float(model["wspd"]) / 3.6)  # observed cells stay

    gap = raw[1, 10, 4]  # 04:00 UTC every 9th day from Jan 1: a missing report
    assert (gap["temp"], gap["rhum"], gap["temp_source"]) == ("", "", "")
    assert hours[dt.datetime(2024, 1, 10, 4)]["temperature_c"] is None
    assert all(r["snwd"] == r["tsun"] == "" for r in raw.values())
    assert len(hours) == 91 * 24 and 5 < sum(r["temperature_c"] or 0 for r in hours.values()) / len(hours) < 20


def test_station_years_without_data_answer_404():
    for response in (_get(GREENSBORO, 2023), _get("99999")):
        assert response.status == 404 and response.headers["Content-Type"].startswith("text/plain")
        assert response.body.startswith(b"Not Found: no hourly data for station")


def test_the_same_request_gives_the_same_bytes():
    station = next(s for s in STATIONS if s != GREENSBORO)
    assert _get(station).body == _get(station, replay=MeteostatReplay()).body  # gzip mtime 0
    assert _get(station).body != _get(GREENSBORO).body
