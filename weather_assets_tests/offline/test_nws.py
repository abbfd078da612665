"""The offline NWS replay against api.weather.gov's documented format (docs/providers/nws.md): the samples'
structure, QuantitativeValue units, paging links, problem+json errors, the injected oddities, and the
client's own normalisers on its answers."""

from __future__ import annotations

import datetime as dt
import json
from urllib.parse import parse_qsl, urlsplit

import pytest

from weather_assets.offline.nws import NwsReplay
from weather_assets.providers import nws
from weather_assets.providers.base import RECORDED_CLOCK, WireRequest, WireResponse
from weather_assets.providers.spec import ESTIMATED_FIELDS
from weather_assets.sites.catalog import bundled_sites_file, load_catalog
from weather_assets_tests.offline.shape import assert_shaped_like, sample

BY_ID = {s.id: s for s in load_catalog(bundled_sites_file())}
GREENSBORO = BY_ID["greensboro_nc"]
HEADERS = {"user-agent": "weather-assets tests", "accept": nws.ACCEPT}
DAY = dt.date(2024, 3, 20)
REPLAY = NwsReplay()


def _get(path: str, params=(), headers=HEADERS, replay: NwsReplay = REPLAY) -> WireResponse:
    return replay(WireRequest("GET", nws.DEFAULT_URL + path, tuple(params), dict(headers)))


def _observations(station: str, limit: int = nws.MAX_LIMIT, replay: NwsReplay = REPLAY) -> WireResponse:
    """The first request of the client's history pull for DAY."""
    start, end = nws.observation_window(DAY, DAY)
    params = [("start", nws._iso_z(start)), ("end", nws._iso_z(end)), ("limit", str(limit))]
    return _get(f"/stations/{station}/observations", params, replay=replay)


def _without_context(payload: dict) -> dict:
    return {k: v for k, v in payload.items() if k != "@context"}


def _hours(station: str) -> dict[dt.datetime, dict]:
    body = _observations(station).body
    meta = {
        "kind": "observations", "station": station, "page": 0, "pages": 1, "others": [],
        "hours_from": dt.datetime(2024, 3, 20).isoformat(), "hours_to": dt.datetime(2024, 3, 21).isoformat(),
    }  # fmt: skip
    site = next(s for s in BY_ID.values() if s.stations.get("nws") == station)
    frame = nws.normalise_observations(body, meta, [site])
    return {row["observed_at"]: row for row in frame.iter_rows(named=True)}


def test_observations_have_the_documented_geojson_shape():
    response = _observations("KGSO")
    assert response.status == 200 and response.headers["Content-Type"] == "application/geo+json"
    body = json.loads(response.body)
    documented = sample("nws", "station_observations.json")
    assert body["@context"][0] == documented["@context"][0]
    # stationId/stationName: "recent responses also carry" them (nws.md)
    assert_shaped_like(_without_context(body), _without_context(documented), ordered=True,
                       extra=("stationId", "stationName"))  # fmt: skip
    stamps = [dt.datetime.fromisoformat(f["properties"]["timestamp"]) for f in body["features"]]
    assert stamps == sorted(stamps, reverse=True)  # newest first
    start, end = nws.observation_window(DAY, DAY)
    assert start <= stamps[-1] and stamps[0] <= end and len(stamps) >= 24
    units = {key: qv["unitCode"] for key, qv in body["features"][0]["properties"].items() if isinstance(qv, dict)}
    assert units["temperature"] == "wmoUnit:degC" and units["windSpeed"] == "wmoUnit:km_h-1"
    assert units["seaLevelPressure"] == "wmoUnit:Pa" and units["precipitationLastHour"] == "wmoUnit:mm"


def test_the_hourly_normaliser_reads_reports_and_the_injected_oddities():
    body = json.loads(_observations("KGSO").body)
    features = {f["properties"]["timestamp"]: f["properties"] for f in body["features"]}
    hours = _hours("KGSO")
    assert len(hours) == 24 and set(hours) == {dt.datetime(2024, 3, 20, h) for h in range(24)}

    routine = features["2024-03-20T08:53:00+00:00"]  # stands for 09:00: values as reported, in SI units
    row = hours[dt.datetime(2024, 3, 20, 9)]
    assert row["temperature_c"] == routine["temperature"]["value"]
    assert row["wind_speed_ms"] == pytest.approx(routine["windSpeed"]["value"] / 3.6)
    assert row["pressure_msl_hpa"] == pytest.approx(routine["seaLevelPressure"]["value"] / 100)
    assert -10 < row["temperature_c"] < 35 and 950 < row["pressure_msl_hpa"] < 1050

    assert "2024-03-20T07:53:00+00:00" not in features  # routine report missing...
    special = features["2024-03-20T07:45:00+00:00"]  # ...so the 07:45 special stands for 08:00
    assert hours[dt.datetime(2024, 3, 20, 8)]["temperature_c"] == special["temperature"]["value"]
    assert hours[dt.datetime(2024, 3, 20, 8)]["precipitation_mm"] is None  # a special's "last hour": unknown

    flagged = features["2024-03-20T10:53:00+00:00"]["temperature"]
    assert flagged == {"unitCode": "wmoUnit:degC", "value": 57.2, "qualityControl": "X"}
    assert hours[dt.datetime(2024, 3, 20, 11)]["temperature_c"] is None  # QC X -> NULL, routine beats 10:58

    assert _hours("KDEN")[dt.datetime(2024, 3, 20, 15)]["relative_humidity_pct"] == 104.6  # for the schema
    anchorage = _hours("PANC")[dt.datetime(2024, 3, 20, 4)]
    assert anchorage["wind_speed_ms"] is None and anchorage["wind_direction_deg"] is None
    assert anchorage["pressure_msl_hpa"] is None  # QC Q
    assert anchorage["temperature_c"] is not None


def test_more_reports_than_limit_page_with_a_documented_next_link():
    first = json.loads(_observations("KGSO", limit=10).body)
    assert len(first["features"]) == 10
    link = urlsplit(first["pagination"]["next"])
    assert f"{link.scheme}://{link.netloc}" == nws.DEFAULT_URL and link.path == "/stations/KGSO/observations"
    query = dict(parse_qsl(link.query))
    assert set(query) == {"start", "end", "limit"} and query["limit"] == "10"
    oldest = dt.datetime.fromisoformat(first["features"][-1]["properties"]["timestamp"])
    assert dt.datetime.fromisoformat(query["end"]) == oldest - dt.timedelta(seconds=1)
    second = json.loads(_get(link.path, parse_qsl(link.query)).body)
    assert dt.datetime.fromisoformat(second["features"][0]["properties"]["timestamp"]) < oldest
    everything = json.loads(_observations("KGSO").body)["features"]
    assert first["features"] + second["features"] == everything[:20]


def test_points_and_the_hourly_forecast_have_the_documented_shapes():
    points = json.loads(_get(f"/points/{nws.point_text(GREENSBORO)}").body)
    documented = sample("nws", "points.json")
    assert_shaped_like(_without_context(points), _without_context(documented), ordered=True)
    link = nws.forecast_hourly_link(points, "test")
    assert link.startswith(nws.DEFAULT_URL + "/gridpoints/")

    response = _get(urlsplit(link).path)
    forecast = json.loads(response.body)
    assert_shaped_like(_without_context(forecast), _without_context(sample("nws", "forecast_hourly.json")),
                       ordered=True)  # fmt: skip
    periods = forecast["properties"]["periods"]
    assert len(periods) == 156 and [p["number"] for p in periods] == list(range(1, 157))
    assert periods[12]["windSpeed"].endswith(" mph") and " to " in periods[12]["windSpeed"]
    assert periods[19]["relativeHumidity"] == {"unitCode": "wmoUnit:percent", "value": None}

    frame = nws.normalise_forecast(response.body, {"kind": "forecast_hourly", "gridpoint": link}, [GREENSBORO])
    assert frame.height == 156
    first = frame.row(0, named=True)
    assert first["observed_at"] == RECORDED_CLOCK.replace(tzinfo=None)  # startTime (local) -> naive UTC
    assert first["temperature_c"] == pytest.approx((periods[0]["temperature"] - 32) * 5 / 9)
    low, high = (float(n) for n in periods[12]["windSpeed"].removesuffix(" mph").split(" to "))
    assert frame[ESTIMATED_FIELDS].to_list()[12] == "wind_speed_ms"
    assert frame["wind_speed_ms"][12] == pytest.approx((low + high) / 2 * 0.44704)
    assert frame["relative_humidity_pct"][19] is None and frame["relative_humidity_pct"][18] is not None
    assert frame[ESTIMATED_FIELDS].null_count() == 155


def test_errors_are_documented_problem_details():
    documented = sample("nws", "error_problem_500.json")
    no_agent = _get(f"/points/{nws.point_text(GREENSBORO)}", headers={"accept": nws.ACCEPT})
    assert no_agent.status == 403 and no_agent.headers["Content-Type"] == "application/problem+json"
    for response in (no_agent, _get("/points/36.09781,-79.9436"), _get("/stations/KXYZ/observations")):
        problem = json.loads(response.body)
        assert_shaped_like(problem, documented)
        assert problem["status"] == response.status and nws._describe_error(response).startswith(problem["title"])
    moved = _get("/points/36.09781,-79.9436")
    assert moved.status == 301 and moved.headers["Location"] == "/points/36.0978,-79.9436"
    assert _get("/stations/KXYZ/observations").status == 404


def test_the_same_request_gives_the_same_bytes():
    assert _observations("KDEN").body == _observations("KDEN", replay=NwsReplay()).body
    points = json.loads(_get(f"/points/{nws.point_text(GREENSBORO)}").body)
    cell = urlsplit(nws.forecast_hourly_link(points, "test")).path
    assert _get(cell).body == _get(cell, replay=NwsReplay()).body


def test_a_replay_with_an_earlier_clock_issues_that_days_forecast():
    """`make run` offline takes the forecasts of the days before the recording's clock (RecordedHttp.clock)."""
    earlier = RECORDED_CLOCK - dt.timedelta(days=2)
    replay = NwsReplay(clock=earlier)
    link = nws.forecast_hourly_link(json.loads(_get(f"/points/{nws.point_text(GREENSBORO)}", replay=replay).body), "t")
    response = _get(urlsplit(link).path, replay=replay)
    frame = nws.normalise_forecast(response.body, {"kind": "forecast_hourly", "gridpoint": link}, [GREENSBORO])
    assert frame["observed_at"][0] == earlier.replace(tzinfo=None) and frame.height == 156
    # The same valid hour reads the same from either clock: one synthetic weather, forecast from two times.
    later = nws.normalise_forecast(_get(urlsplit(link).path).body, {"kind": "forecast_hourly", "gridpoint": link},
                                   [GREENSBORO])  # fmt: skip
    assert frame.filter(frame["observed_at"] == later["observed_at"][0])["temperature_c"][0] == pytest.approx(
        later["temperature_c"][0]
    )
