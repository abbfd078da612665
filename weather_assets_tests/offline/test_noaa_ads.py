"""The offline NCEI Access Data Service replay against the documented `daily-summaries` JSON
(docs/providers/noaa-cdo.md Part 2): flat string-valued rows, the injected oddities, its plain-text
errors, and the client's own normaliser on its answers."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from weather_assets.offline.noaa_ads import NoaaAdsReplay
from weather_assets.offline.noaa_cdo import STORM_DAY, catalog_stations, ghcnd_day
from weather_assets.providers import noaa_ads
from weather_assets.providers.base import WireRequest, WireResponse
from weather_assets_tests.offline.shape import assert_shaped_like, sample

SITES = tuple(catalog_stations().values())
DAY = noaa_ads.DailyRequest(SITES, STORM_DAY, STORM_DAY)
META = {"dataset": noaa_ads.DATASET, "units": "metric"}
# The sample lists three datatypes; the client asks for all seven daily ones.
OTHER_TYPES = [t for t in noaa_ads.DAILY_DATATYPES if t not in ("PRCP", "TMAX", "TMIN")]
EXTRA = [*OTHER_TYPES, *(f"{t}_ATTRIBUTES" for t in OTHER_TYPES)]


def _get(request: noaa_ads.DailyRequest, extra=()) -> WireResponse:
    """The request exactly as the client sends it (one endpoint, every choice in the query)."""
    return NoaaAdsReplay()(WireRequest("GET", noaa_ads.DEFAULT_URL, (*request.params(), *extra)))


def test_rows_have_the_documented_flat_string_shape():
    response = _get(DAY, extra=(("includeStationName", "true"), ("includeStationLocation", "1")))
    assert response.status == 200 and response.headers["Content-Type"] == "application/json"
    rows = json.loads(response.body)
    assert_shaped_like(rows, sample("noaa-cdo", "ncei_access_daily_summaries.json"), extra=EXTRA)
    assert [(r["STATION"], r["DATE"]) for r in rows] == [
        ("USW00013723", "2024-03-20"), ("USW00003017", "2024-03-20"), ("USW00026451", "2024-03-20"),
    ]  # fmt: skip
    assert all(isinstance(v, str) for r in rows for v in r.values())  # every value a string
    assert rows[0]["NAME"] == SITES[0].name.upper() and rows[0]["LATITUDE"] == f"{SITES[0].latitude:g}"

    bare = json.loads(_get(DAY).body)  # what the client asks: no station name or location
    assert_shaped_like(bare, sample("noaa-cdo", "ncei_access_daily_summaries.json"),
                       optional=("NAME", "LATITUDE", "LONGITUDE", "ELEVATION"), extra=EXTRA)  # fmt: skip
    assert "NAME" not in bare[0]


def test_the_normaliser_reads_the_rows_and_the_injected_oddities():
    body = _get(DAY).body
    rows = {r["STATION"]: r for r in json.loads(body)}
    assert (rows["USW00003017"]["TMAX"], rows["USW00003017"]["TMAX_ATTRIBUTES"]) == ("61.1", ",X,W,")
    assert (rows["USW00026451"]["TMIN"], rows["USW00026451"]["TMIN_ATTRIBUTES"]) == ("-99.9", ",,W,")

    frame = noaa_ads.normalise_daily(body, META, SITES)
    by_site = {row["site_id"]: row for row in frame.iter_rows(named=True)}
    assert by_site["denver_co"]["temperature_max_c"] is None  # quality flag X
    assert by_site["anchorage_ak"]["temperature_min_c"] == -99.9  # impossible, unflagged: for the schema
    greensboro = by_site["greensboro_nc"]
    assert (greensboro["station_id"], greensboro["source"], greensboro["date"]) == (
        "GHCND:USW00013723", "noaa-ncei-ads", STORM_DAY,
    )  # fmt: skip
    raw = ghcnd_day("GHCND:USW00013723", STORM_DAY)  # the CDO replay's raw values: both sources agree
    for datatype, column in noaa_ads.DAILY_DATATYPES.items():
        divisor = 1 if datatype in ("SNOW", "SNWD") else 10
        assert greensboro[column] == pytest.approx(raw[datatype][0] / divisor, abs=0.05)
    assert greensboro["precipitation_mm"] > 0


def test_what_is_not_recorded_is_an_empty_array_and_bad_requests_plain_text():
    before = noaa_ads.DailyRequest(SITES, dt.date(2023, 6, 1), dt.date(2023, 6, 30))
    empty = _get(before)
    assert (empty.status, empty.body) == (200, b"[]")
    assert noaa_ads.normalise_daily(empty.body, META, SITES).height == 0

    csv = NoaaAdsReplay()(WireRequest("GET", noaa_ads.DEFAULT_URL, (("dataset", "daily-summaries"),)))
    assert csv.status == 400 and csv.headers["Content-Type"].startswith("text/plain")
    assert csv.body.startswith(b"offline replay serves format=json only")
    described = noaa_ads._describe_error(csv)  # the client quotes a plain-text error as it is
    assert described == csv.body.decode()


def test_the_same_request_gives_the_same_bytes():
    year = noaa_ads.DailyRequest(SITES, dt.date(2024, 1, 1), dt.date(2024, 3, 31))
    first = _get(year).body
    assert first == _get(year).body and len(json.loads(first)) == 3 * 91
