"""The offline Open-Meteo replay against Open-Meteo's documented format (docs/providers/open-meteo.md):
the client's own requests and normaliser, protocol, errors, injected anomalies, a reproducible generator."""

from __future__ import annotations

import datetime as dt
import gzip
import importlib.util
import json
import math
import re
import shutil
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest

from weather_assets.offline.open_meteo import (
    HOURLY_UNITS,
    RECORDED_END,
    RECORDED_START,
    RECORDED_VARIABLES,
    OpenMeteoReplay,
    recorded_sites,
)
from weather_assets.providers import open_meteo
from weather_assets.providers.base import WireRequest
from weather_assets.sites.catalog import load_catalog
from weather_assets_tests.offline.shape import assert_shaped_like, sample

REPO = Path(__file__).resolve().parents[2]
RECORDED = REPO / "weather_assets" / "offline" / "recorded" / "open_meteo"
CATALOG = {s.id: s for s in load_catalog(REPO / "weather_assets" / "sites" / "sites.yaml")}
ARCHIVE = "https://archive-api.open-meteo.com/v1/archive"
FORECAST = "https://api.open-meteo.com/v1/forecast"
HOURS = 91 * 24
KEY_ORDER = [
    "latitude", "longitude", "generationtime_ms", "utc_offset_seconds",
    "timezone", "timezone_abbreviation", "elevation", "hourly_units", "hourly",
]


def _load_generator():
    path = REPO / "scripts" / "generate_offline_open_meteo.py"
    spec = importlib.util.spec_from_file_location("generate_offline_open_meteo", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def replay() -> OpenMeteoReplay:
    return OpenMeteoReplay()


def _get(replay, url: str, **params) -> tuple[int, object, dict]:
    request = WireRequest.from_url("GET", f"{url}?{urlencode(params)}")
    response = replay(request)
    return response.status, json.loads(response.body.decode("utf-8")), response.headers


def _coords(*site_ids: str) -> dict[str, str]:
    return {
        "latitude": ",".join(str(CATALOG[s].latitude) for s in site_ids),
        "longitude": ",".join(str(CATALOG[s].longitude) for s in site_ids),
    }


def _bundled(dataset: str, site_id: str) -> dict:
    return json.loads(gzip.decompress((RECORDED / dataset / f"{site_id}.json.gz").read_bytes()))


# --- the client's own requests -------------------------------------------------------------------


def _client_archive(replay, site_ids, start: dt.date, end: dt.date):
    """The archive call the client plans for these sites and days, answered by the replay."""
    (request,) = open_meteo.plan_archive_requests([CATALOG[s] for s in site_ids], start, end)
    response = replay(WireRequest("GET", open_meteo.ARCHIVE_URL, tuple(request.params())))
    return response, request


def test_the_clients_request_gets_the_documented_multi_location_shape(replay):
    response, request = _client_archive(replay, ("sydney_au", "berlin_de"), dt.date(2024, 1, 20), dt.date(2024, 1, 21))
    assert response.status == 200
    body = json.loads(response.body)
    documented = sample("open-meteo", "archive_hourly_multi_location.json")
    # the client also asks for dew_point_2m, which the documented sample did not request
    assert_shaped_like(body, documented, extra=("dew_point_2m",))
    assert [list(element) for element in body] == [list(documented[0])] * 2  # key order as the server writes
    for element in body:
        assert element["hourly_units"]["wind_speed_10m"] == "m/s"  # the client's wind_speed_unit=ms
        assert list(element["hourly"]) == ["time", *open_meteo.HOURLY_VARIABLES]
        assert element["timezone"] == "GMT" and element["utc_offset_seconds"] == 0


def test_the_normaliser_reads_the_answer_and_the_injected_values(replay):
    response, request = _client_archive(replay, ("sydney_au", "berlin_de"), dt.date(2024, 1, 20), dt.date(2024, 1, 20))
    body = json.loads(response.body)
    frame = open_meteo.normalise_body(response.body, {}, request.sites)
    assert frame.height == 48 and frame["site_id"].to_list() == ["sydney_au"] * 24 + ["berlin_de"] * 24
    sydney = frame.filter(frame["site_id"] == "sydney_au")
    assert sydney["observed_at"].to_list() == [dt.datetime(2024, 1, 20, h) for h in range(24)]
    hourly = body[0]["hourly"]
    assert sydney["temperature_c"].to_list() == hourly["temperature_2m"]
    assert sydney["wind_speed_ms"].to_list() == hourly["wind_speed_10m"]  # already m/s
    assert sydney["weather_code"].to_list() == hourly["weather_code"]
    assert sydney["temperature_c"][5] == 71.3  # the README's impossible value, 2024-01-20T05:00
    assert 10 < sydney["temperature_c"].filter(sydney["temperature_c"] < 60).mean() < 35  # January in Sydney

    tail, tail_request = _client_archive(replay, ("london_gb",), dt.date(2024, 3, 31), dt.date(2024, 3, 31))
    london = open_meteo.normalise_body(tail.body, {}, tail_request.sites)
    assert london["temperature_c"].null_count() == 24  # the archive-lag tail: null, not 0


def test_the_same_request_gives_the_same_bytes(replay):
    first, _ = _client_archive(replay, ("cairo_eg", "tokyo_jp"), dt.date(2024, 2, 1), dt.date(2024, 2, 29))
    again, _ = _client_archive(OpenMeteoReplay(), ("cairo_eg", "tokyo_jp"), dt.date(2024, 2, 1), dt.date(2024, 2, 29))
    assert first.body == again.body


# --- the protocol ---------------------------------------------------------------------------------


def test_two_sites_list_in_request_order_with_exact_hours_and_variables(replay):
    status, body, headers = _get(
        replay, ARCHIVE, **_coords("sydney_au", "berlin_de"),
        start_date="2024-02-10", end_date="2024-02-11", hourly="wind_speed_10m,temperature_2m,weather_code",
    )
    assert status == 200 and headers["Content-Type"] == "application/json"
    assert isinstance(body, list) and len(body) == 2
    sydney, berlin = body
    assert (sydney["latitude"], sydney["longitude"]) == (-33.75, 151.25)  # grid point, not the site
    assert (berlin["latitude"], berlin["longitude"]) == (52.5, 13.5)
    for structure in body:
        assert list(structure) == KEY_ORDER
        assert structure["utc_offset_seconds"] == 0 and structure["timezone"] == "GMT"
        assert structure["hourly_units"] == {
            "time": "iso8601", "wind_speed_10m": "km/h", "temperature_2m": "°C", "weather_code": "wmo code",
        }
        hourly = structure["hourly"]
        assert list(hourly) == ["time", "wind_speed_10m", "temperature_2m", "weather_code"]
        assert len(hourly["time"]) == 48
        assert hourly["time"][0] == "2024-02-10T00:00" and hourly["time"][-1] == "2024-02-11T23:00"
        assert all(len(values) == 48 for values in hourly.values())
    # values are the recorded ones for that slice (Feb 10 = day 40)
    recorded = _bundled("archive", "berlin_de")["hourly"]
    assert berlin["hourly"]["temperature_2m"] == recorded["temperature_2m"][40 * 24 : 42 * 24]
    assert sydney["elevation"] == 39.0 and berlin["elevation"] == 34.0


def test_single_location_is_an_object_and_covers_the_full_range(replay):
    status, body, _ = _get(
        replay, ARCHIVE, **_coords("greensboro_nc"), start_date="2024-01-01", end_date="2024-03-31",
        hourly=",".join(RECORDED_VARIABLES),
    )
    assert status == 200 and isinstance(body, dict)
    assert list(body["hourly"]) == ["time", *RECORDED_VARIABLES]
    assert body["hourly_units"] == {"time": "iso8601", **HOURLY_UNITS}
    assert len(body["hourly"]["time"]) == HOURS
    assert body == _bundled("archive", "greensboro_nc")


def test_wind_speed_unit_ms_converts_and_says_m_s(replay):
    params = dict(**_coords("london_gb"), start_date="2024-03-29", end_date="2024-03-31",
                  hourly="wind_speed_10m,wind_gusts_10m,temperature_2m")
    _, kmh, _ = _get(replay, ARCHIVE, **params)
    _, ms, _ = _get(replay, ARCHIVE, **params, wind_speed_unit="ms")
    assert ms["hourly_units"] == {
        "time": "iso8601", "wind_speed_10m": "m/s", "wind_gusts_10m": "m/s", "temperature_2m": "°C",
    }
    for name in ("wind_speed_10m", "wind_gusts_10m"):
        converted = [None if v is None else round(v / 3.6, 2) for v in kmh["hourly"][name]]
        assert ms["hourly"][name] == converted
        assert any(v is None for v in ms["hourly"][name])  # the archive-lag tail stays null
        assert sum(v is not None and v > 0 for v in ms["hourly"][name]) >= 40
    assert ms["hourly"]["temperature_2m"] == kmh["hourly"]["temperature_2m"]
    # the legacy parameter name works the same
    _, legacy, _ = _get(replay, ARCHIVE, **params, windspeed_unit="ms")
    assert legacy == ms


def test_unixtime_and_legacy_variable_names(replay):
    status, body, _ = _get(
        replay, FORECAST, **_coords("tokyo_jp"), start_date="2024-01-02", end_date="2024-01-02",
        hourly="windspeed_10m,weathercode", timeformat="unixtime", timezone="GMT",
    )
    assert status == 200
    assert body["hourly_units"] == {"time": "unixtime", "windspeed_10m": "km/h", "weathercode": "wmo code"}
    assert body["hourly"]["time"][0] == int(dt.datetime(2024, 1, 2, tzinfo=dt.UTC).timestamp())
    assert body["hourly"]["time"][1] - body["hourly"]["time"][0] == 3600
    recorded = _bundled("forecast", "tokyo_jp")["hourly"]
    assert body["hourly"]["windspeed_10m"] == recorded["wind_speed_10m"][24:48]


def test_one_coordinate_with_several_date_ranges_gives_a_list(replay):
    status, body, _ = _get(
        replay, ARCHIVE, **_coords("cairo_eg"), start_date="2024-01-01,2024-02-01",
        end_date="2024-01-01,2024-02-03", hourly="precipitation",
    )
    assert status == 200 and [len(s["hourly"]["time"]) for s in body] == [24, 72]


def test_forecast_differs_from_archive_by_a_small_error(replay):
    params = dict(**_coords("denver_co"), start_date="2024-01-01", end_date="2024-03-29")
    _, archive, _ = _get(replay, ARCHIVE, **params, hourly="temperature_2m")
    _, forecast, _ = _get(replay, FORECAST, **params, hourly="temperature_2m")
    series = zip(archive["hourly"]["temperature_2m"], forecast["hourly"]["temperature_2m"], strict=True)
    pairs = [(a, f) for a, f in series if a is not None]
    mae = sum(abs(a - f) for a, f in pairs) / len(pairs)
    assert 0.5 < mae < 2.5
    assert (forecast["latitude"], forecast["longitude"]) == (39.625, -104.875)  # another model's grid


def test_the_handler_serves_httpx_through_a_mock_transport(replay):
    def transport(request: httpx.Request) -> httpx.Response:
        wire = replay(WireRequest.from_url(request.method, str(request.url), dict(request.headers)))
        return httpx.Response(wire.status, content=wire.body, headers=wire.headers)

    with httpx.Client(transport=httpx.MockTransport(transport)) as client:
        params = {"start_date": "2024-03-01", "end_date": "2024-03-01", "hourly": "cloud_cover"}
        response = client.get(ARCHIVE, params={**_coords("nairobi_ke", "cape_town_za"), **params})
    assert response.status_code == 200
    assert [len(s["hourly"]["cloud_cover"]) for s in response.json()] == [24, 24]


def test_site_files_are_read_once_and_cached(tmp_path):
    root = tmp_path / "open_meteo"
    shutil.copytree(RECORDED, root)
    replay = OpenMeteoReplay(root)
    params = dict(**_coords("auckland_nz"), start_date="2024-01-05", end_date="2024-01-05")
    params["hourly"] = "temperature_2m"
    first = _get(replay, ARCHIVE, **params)
    (root / "archive" / "auckland_nz.json.gz").unlink()
    assert _get(replay, ARCHIVE, **{**params, "start_date": "2024-01-04"})[0] == 200
    assert _get(replay, ARCHIVE, **params) == first


def test_recorded_sites_are_the_catalog_coordinates():
    assert recorded_sites() == {(s.latitude, s.longitude) for s in CATALOG.values()}
    assert (RECORDED_START, RECORDED_END) == (dt.date(2024, 1, 1), dt.date(2024, 3, 31))


# --- errors ---------------------------------------------------------------------------------------

GOOD = dict(**_coords("berlin_de"), start_date="2024-01-10", end_date="2024-01-11", hourly="temperature_2m")
OFFLINE_NOTE = (
    "recorded sites are the bundled catalog's (WEATHER_ASSETS_OFFLINE=1 serves 2024-01-01..2024-03-31 only)"
)


@pytest.mark.parametrize(
    ("url", "changes", "reason"),
    [
        (ARCHIVE, {"hourly": "temperature_2m,tempeture_2m"},
         "Cannot initialize WeatherVariable from invalid String value tempeture_2m for key hourly"),
        (ARCHIVE, {"start_date": "2024-01-12"}, "End-date must be larger or equals than start-date"),
        (ARCHIVE, {"start_date": "2023-12-31"},
         "Parameter 'start_date' is out of allowed range from 2024-01-01 to 2024-03-31"),
        (FORECAST, {"end_date": "2024-04-01"},
         "Parameter 'end_date' is out of allowed range from 2024-01-01 to 2024-03-31"),
        (ARCHIVE, {"longitude": "13.405,2.35"},
         "Parameter 'latitude' and 'longitude' must have the same number of elements"),
        (ARCHIVE, {"latitude": "48.85", "longitude": "2.35"},
         f"offline replay has no recording for latitude=48.85, longitude=2.35; {OFFLINE_NOTE}"),
        (ARCHIVE, {"latitude": "52.52,48.85", "longitude": "13.405,2.35"},
         f"offline replay has no recording for latitude=48.85, longitude=2.35; {OFFLINE_NOTE}"),
        (ARCHIVE, {"latitude": "95"}, "Latitude must be in range of -90 to 90°. Given: 95.0."),
        (ARCHIVE, {"start_date": None, "end_date": None},
         "Both 'start_date' and 'end_date' must be set in the url"),
        (ARCHIVE, {"past_days": "3"},
         "Parameter 'past_days' is mutually exclusive with 'start_date' and 'end_date'"),
        (ARCHIVE, {"start_date": "2024-1-10"},
         "Parameter 'start_date' must be a date formatted yyyy-mm-dd, got '2024-1-10'"),
        (ARCHIVE, {"timezone": "Mars/Olympus"}, "Invalid timezone"),
        (ARCHIVE, {"wind_speed_unit": "furlongs"},
         "Cannot initialize WindspeedUnit from invalid String value furlongs for key wind_speed_unit"),
        (ARCHIVE, {"timeformat": "rfc"},
         "Cannot initialize Timeformat from invalid String value rfc for key timeformat"),
    ],
)
def test_errors_use_open_meteo_shape_and_text(replay, url, changes, reason):
    params = {k: v for k, v in {**GOOD, **changes}.items() if v is not None}
    status, body, headers = _get(replay, url, **params)
    assert status == 400
    assert headers["Content-Type"] == "application/json"
    assert body == {"error": True, "reason": reason}
    assert_shaped_like(body, sample("open-meteo", "error_400_invalid_variable.json"), ordered=True)


def test_documented_error_texts_are_the_servers():
    documented = sample("open-meteo", "error_400_invalid_variable.json")
    _, body, _ = _get(OpenMeteoReplay(), ARCHIVE, **{**GOOD, "hourly": "tempeture_2m"})
    assert body == documented
    out_of_range = sample("open-meteo", "error_400_date_out_of_range.json")["reason"]
    _, body, _ = _get(OpenMeteoReplay(), ARCHIVE, **{**GOOD, "end_date": "2024-04-02"})
    assert body["reason"].split(" from ")[0] == out_of_range.split(" from ")[0]


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        ({"timezone": "Europe/Berlin"},
         "offline replay supports timezone=GMT (or UTC) only, got 'Europe/Berlin'"),
        ({"timezone": "auto"}, "offline replay supports timezone=GMT (or UTC) only"),
        ({"wind_speed_unit": "mph"}, "offline replay supports wind_speed_unit=kmh or ms only"),
        ({"hourly": "surface_pressure"},
         "offline replay has no recording of hourly variable 'surface_pressure'"),
        ({"daily": "temperature_2m_max"}, "parameter 'daily' is not supported"),
        ({"temperature_unit": "fahrenheit"}, "offline replay supports temperature_unit=celsius only"),
    ],
)
def test_offline_limits_are_clear_400s(replay, changes, fragment):
    status, body, _ = _get(replay, ARCHIVE, **{**GOOD, **changes})
    assert status == 400 and body["error"] is True and fragment in body["reason"]


def test_forecast_without_dates_says_the_replay_needs_them(replay):
    params = {k: v for k, v in GOOD.items() if k not in {"start_date", "end_date"}}
    status, body, _ = _get(replay, FORECAST, **params, forecast_days="7")
    assert status == 400
    assert body["reason"].startswith("Both 'start_date' and 'end_date' must be set in the url")
    assert "/v1/forecast too" in body["reason"] and "2024-01-01..2024-03-31" in body["reason"]


def test_utc_is_accepted_and_unknown_paths_are_404(replay):
    assert _get(replay, ARCHIVE, **GOOD, timezone="UTC")[0] == 200
    status, body, _ = _get(replay, "https://archive-api.open-meteo.com/v1/marine", **GOOD)
    assert (status, body) == (404, {"error": True, "reason": "Not Found"})
    assert _get(replay, "http://127.0.0.1:8080/v1/archive", **GOOD)[0] == 200  # any host


# --- injected anomalies: where the README says -------------------------------------------------------


def _readme_rows(section: str) -> list[tuple[str, str, str, str]]:
    text = (RECORDED / "README.md").read_text(encoding="utf-8")
    block = text.split(section, 1)[1].split("\n\n", 2)[1]
    lines = [line for line in block.splitlines() if line.startswith("| ") and "---" not in line]
    rows = [line.strip("|").split("|") for line in lines]
    return [tuple(cell.strip() for cell in row) for row in rows[1:]]


def _hour(replay, dataset: str, site_id: str, stamp: str, span: int = 1) -> dict[str, list]:
    day = stamp[:10]
    _, body, _ = _get(replay, f"https://x/v1/{dataset}", **_coords(site_id), start_date=day, end_date=day,
                      hourly=",".join(RECORDED_VARIABLES))
    i = body["hourly"]["time"].index(stamp)
    return {name: body["hourly"][name][max(0, i - span) : i + span + 1] for name in RECORDED_VARIABLES}


def test_readme_lists_the_injected_anomalies():
    nulls = _readme_rows("**Isolated nulls**")
    impossible = _readme_rows("**Physically impossible values**")
    assert len(nulls) >= 5
    assert len(impossible) == 2
    assert ("sydney_au", "2024-01-20T05:00", "temperature_2m", "71.3") in impossible
    assert ("berlin_de", "2024-02-14T13:00", "relative_humidity_2m", "104") in impossible


def test_isolated_nulls_are_where_the_readme_says(replay):
    for site_id, stamp, variable, _ in _readme_rows("**Isolated nulls**"):
        window = _hour(replay, "archive", site_id, stamp)
        names = RECORDED_VARIABLES if variable == "every variable" else (variable,)
        for name in RECORDED_VARIABLES:
            before, at, after = window[name]
            assert before is not None and after is not None, (site_id, stamp, name)  # isolated
            assert (at is None) == (name in names), (site_id, stamp, name)
        forecast = _hour(replay, "forecast", site_id, stamp)
        assert all(v is not None for values in forecast.values() for v in values)


def test_impossible_values_are_where_the_readme_says(replay):
    for site_id, stamp, variable, value in _readme_rows("**Physically impossible values**"):
        window = _hour(replay, "archive", site_id, stamp)
        assert window[variable][1] == json.loads(value)
        assert window[variable][0] is not None and abs(window[variable][0] - window[variable][2]) < 15
        assert _hour(replay, "forecast", site_id, stamp)[variable][1] != json.loads(value)


def test_archive_lag_tail_is_null_everywhere_and_only_there():
    for site_id in CATALOG:
        hourly = _bundled("archive", site_id)["hourly"]
        assert hourly["time"][HOURS - 30] == "2024-03-30T18:00"
        for name in RECORDED_VARIABLES:
            assert hourly[name][HOURS - 30 :] == [None] * 30, (site_id, name)
            assert hourly[name][HOURS - 31] is not None
        forecast = _bundled("forecast", site_id)["hourly"]
        assert all(v is not None for name in RECORDED_VARIABLES for v in forecast[name])


def test_values_are_physically_consistent_apart_from_the_injected_ones():
    impossible = {(s, t, v) for s, t, v, _ in _readme_rows("**Physically impossible values**")}
    for dataset in ("archive", "forecast"):
        for site_id, site in CATALOG.items():
            payload = _bundled(dataset, site_id)
            assert list(payload) == KEY_ORDER
            assert abs(payload["latitude"] - site.latitude) <= 0.25
            assert abs(payload["longitude"] - site.longitude) <= 0.25
            h = payload["hourly"]
            assert h["time"][0] == "2024-01-01T00:00" and len(h["time"]) == HOURS
            rows = zip(*(h[name] for name in ("time", *RECORDED_VARIABLES)), strict=True)
            injected = impossible if dataset == "archive" else set()
            for stamp, t, rh, td, p, ws, wd, wg, pr, cc, code in rows:
                if t is None or rh is None:
                    continue
                if (site_id, stamp, "temperature_2m") in injected:
                    assert t > 60
                    continue
                if (site_id, stamp, "relative_humidity_2m") in injected:
                    assert rh > 100
                    continue
                assert -60 < t < 55 and 20 <= rh <= 100 and td <= t
                if td is not None:  # Magnus from the rounded T and RH, rounded to 0.1
                    gamma = math.log(rh / 100) + 17.62 * t / (243.12 + t)
                    assert abs(td - 243.12 * gamma / (17.62 - gamma)) <= 0.051
                if p is not None:
                    assert 990 <= p <= 1035
                assert ws >= 0 and 0 <= wd <= 359 and isinstance(wd, int)
                if wg is not None:
                    assert wg >= ws
                assert isinstance(cc, int) and 0 <= cc <= 100 and isinstance(rh, int)
                if pr is None or code is None:
                    continue
                assert pr >= 0
                if pr == 0:
                    assert code in (0, 1, 2, 3)
                elif t <= 0.5:
                    assert code in (71, 73, 75) and cc >= 85
                else:
                    assert code in (61, 63, 65) and cc >= 85


def test_seasons_follow_the_hemisphere():
    def mean_temp(site_id: str, first_day: int, last_day: int) -> float:
        values = _bundled("archive", site_id)["hourly"]["temperature_2m"][first_day * 24 : last_day * 24]
        values = [v for v in values if v is not None and v < 60]
        return sum(values) / len(values)

    assert mean_temp("berlin_de", 0, 31) < mean_temp("sydney_au", 0, 31) - 10
    assert mean_temp("berlin_de", 60, 89) > mean_temp("berlin_de", 0, 31)  # March warmer than January
    assert mean_temp("sydney_au", 60, 89) < mean_temp("sydney_au", 0, 31)  # autumn in the south
    assert mean_temp("singapore_sg", 0, 89) > 24 and mean_temp("anchorage_ak", 0, 31) < -2


# --- the generator ----------------------------------------------------------------------------------


def test_generator_is_deterministic_and_reproduces_the_bundled_files(tmp_path):
    generator = _load_generator()
    first = generator.main(out_dir=tmp_path / "a")
    second = generator.main(out_dir=tmp_path / "b")
    relative = sorted(str(p.relative_to(tmp_path / "a")) for p in first)
    assert relative == sorted(str(p.relative_to(tmp_path / "b")) for p in second)
    assert len(relative) == 2 * len(CATALOG) + 2
    for name in relative:
        produced = (tmp_path / "a" / name).read_bytes()
        assert produced == (tmp_path / "b" / name).read_bytes(), name
        bundled = (RECORDED / name).read_bytes()
        if name.endswith(".gz"):  # compare content: the gzip stream may differ between zlib builds
            produced, bundled = gzip.decompress(produced), gzip.decompress(bundled)
        assert produced == bundled, f"{name} differs from the bundled file: re-run the generator"
    bundled_files = sorted(str(p.relative_to(RECORDED)) for p in RECORDED.rglob("*") if p.is_file())
    assert bundled_files == relative  # nothing stale in the package


def test_bundled_recordings_stay_small():
    total = sum(p.stat().st_size for p in RECORDED.rglob("*") if p.is_file())
    assert total < 3 * 1024 * 1024


def test_generator_documents_the_anomalies_in_its_docstring():
    doc = _load_generator().__doc__
    assert re.search(r"last ARCHIVE_LAG_HOURS \(30\) hours", doc)
    assert "ISOLATED_NULLS" in doc and "IMPOSSIBLE_VALUES" in doc and "SYNTHETIC" in doc
