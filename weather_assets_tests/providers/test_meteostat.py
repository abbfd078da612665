"""Meteostat bulk: normaliser on every documented sample, the HTTP policy, the pull over a real server, the replay."""

from __future__ import annotations

import datetime as dt
import gzip
import math
from pathlib import Path

import polars as pl
import pytest

from weather_assets.offline.meteostat import (
    COLUMNS,
    IMPLAUSIBLE,
    MeteostatReplay,
    bundled_stations,
    hourly_csv,
)
from weather_assets.offline.server import LocalServer, ScriptedHandler
from weather_assets.providers import meteostat
from weather_assets.providers.base import WireRequest, WireResponse
from weather_assets.providers.http import ProviderHttpClient, ProviderHttpError, handler_transport
from weather_assets.providers.registry import REPLAYS
from weather_assets.providers.spec import OBSERVATION_COLUMNS, UNPARSED, Fetcher
from weather_assets.schemas.observation import split_valid
from weather_assets.sites.catalog import Site, bundled_sites_file, load_catalog
from weather_assets_tests.providers.unparsed import assert_unparsed_rows

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "providers" / "meteostat"
CATALOG = load_catalog(bundled_sites_file())
SERVED = [s for s in CATALOG if s.stations.get("meteostat")]
SITE = Site(id="potsdam_de", name="Potsdam", latitude=52.38, longitude=13.06, timezone="Europe/Berlin",
            stations={"meteostat": "10637"})  # fmt: skip
META = {"station": "10637", "year": 2024, "granularity": "hourly"}
OK_CSV = b"year,month,day,hour,temp\n2024,1,1,0,1.0\n"


def sample(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def site(site_id: str, station: str) -> Site:
    return Site(id=site_id, name=site_id, latitude=0.0, longitude=0.0, timezone="UTC", stations={"meteostat": station})


def gz(body: bytes) -> WireResponse:
    return WireResponse(200, gzip.compress(body, mtime=0), {"content-type": "application/gzip"})


def text(status: int, body: str, headers: dict[str, str] | None = None) -> WireResponse:
    return WireResponse(status, body.encode(), {"content-type": "text/plain", **(headers or {})})


def client(waits: list[float], transport=None) -> ProviderHttpClient:
    """Built like the platform builds it; sleeps are recorded, not slept."""
    return ProviderHttpClient(meteostat.SPEC.policy, transport=transport, sleep=waits.append,
                              headers={"User-Agent": "t", **meteostat.SPEC.headers})  # fmt: skip


def in_window(frame: pl.DataFrame, start: dt.date, end: dt.date) -> pl.DataFrame:
    """What the platform keeps of a year file: the rows of the run's UTC window."""
    return frame.filter(pl.col("observed_at").dt.date().is_between(start, end))


# --------------------------------------------------------------------------- normaliser: samples


@pytest.mark.parametrize("compress", [True, False], ids=["gzip", "plain"])
def test_current_layout_sample_exact_values(compress):
    body = sample("data_hourly_2024_10637.csv")
    df = meteostat.normalise_hourly(gzip.compress(body) if compress else body, META, [SITE])

    assert df.schema == pl.Schema(OBSERVATION_COLUMNS)
    assert df["observed_at"].to_list() == [dt.datetime(2024, 1, 15, h) for h in range(3)]  # UTC hours
    assert df["site_id"].unique().to_list() == ["potsdam_de"] and df["source"].unique().to_list() == ["meteostat"]
    assert df["temperature_c"].to_list() == [-1.2, -1.5, -1.9]
    assert df["relative_humidity_pct"].to_list() == [87.0, 89.0, 91.0]
    assert df["pressure_msl_hpa"].to_list() == [1021.3, 1021.0, 1020.6]
    assert df["wind_direction_deg"].to_list() == [250.0, 250.0, 240.0]
    assert df["precipitation_mm"].to_list() == [0.0, 0.0, 0.1]
    # km/h -> m/s; empty gust cells are unknown, not 0.
    assert df["wind_speed_ms"].to_list() == pytest.approx([11.2 / 3.6, 10.8 / 3.6, 12.2 / 3.6])
    assert df["wind_gust_ms"][0] == pytest.approx(24.1 / 3.6) and df["wind_gust_ms"][1:].to_list() == [None, None]
    # The new layout has no dwpt: Magnus from temp and rhum (matches the legacy sample's -3.1 on row 0).
    assert df["dew_point_c"].to_list() == [-3.1, -3.1, -3.2]
    assert df["cloud_cover_pct"].null_count() == 3  # no cldc column
    assert df["weather_code"].to_list() == [3, 3, 14]
    assert df["weather_code_system"].unique().to_list() == ["meteostat_coco"]
    assert split_valid(df).rejected.height == 0


def test_legacy_layout_sample_reads_the_same_values_and_its_own_dew_point():
    legacy = meteostat.normalise_hourly(gzip.compress(sample("bulk_v2_hourly_10637.csv")), META, [SITE])
    current = meteostat.normalise_hourly(sample("data_hourly_2024_10637.csv"), META, [SITE])

    assert legacy["dew_point_c"].to_list() == [-3.1, -3.0, -3.2]  # reported, not derived
    assert legacy.drop("dew_point_c").equals(current.drop("dew_point_c"))


def test_legacy_daily_sample_is_rejected_naming_the_format():
    with pytest.raises(meteostat.MeteostatResponseError, match="legacy bulk.meteostat.net/v2 daily file") as info:
        meteostat.normalise_hourly(sample("bulk_v2_daily_10637.csv"), META, [SITE])
    assert "station 10637" in str(info.value) and "potsdam_de" in str(info.value)


def test_json_api_sample_is_rejected_naming_the_format():
    with pytest.raises(meteostat.MeteostatResponseError, match="JSON API"):
        meteostat.normalise_hourly(sample("api_stations_hourly.json"), META, [SITE])


# --------------------------------------------------------------------------- normaliser: rules


def _with_sources(row1_sources: str) -> bytes:
    """The current sample with row 1's ten source cells replaced."""
    lines = sample("data_hourly_2024_10637.csv").decode().splitlines()
    cells = lines[2].split(",")
    lines[2] = ",".join(cells[:14] + row1_sources.split(","))
    return ("\n".join(lines) + "\n").encode()


def _with_cells(body: bytes, cells: dict[tuple[int, int], str]) -> bytes:
    """`body` (a CSV) with the cells at (line, position) replaced."""
    lines = body.decode().splitlines()
    for (line, position), value in cells.items():
        row = lines[line].split(",")
        row[position] = value
        lines[line] = ",".join(row)
    return ("\n".join(lines) + "\n").encode()


def test_cells_that_do_not_parse_are_null_with_their_raw_text():
    body = sample("data_hourly_2024_10637.csv")
    header = body.decode().splitlines()[0].split(",")
    good = meteostat.normalise_hourly(body, META, [SITE])
    # Line n is row n - 1. `coco` must be a whole number; wspd and pres are neither derived from nor used
    # for another column (temp and rhum feed the derived dew point).
    cells = {(1, "wspd"): '"11,2"', (2, "coco"): "3.5", (3, "pres"): "abc", (3, "prcp"): " n/a "}  # CSV-quoted
    bad = meteostat.normalise_hourly(
        _with_cells(body, {(line, header.index(name)): value for (line, name), value in cells.items()}), META, [SITE]
    )
    marked = {
        0: {"wind_speed_ms": "11,2"},
        1: {"weather_code": "3.5"},
        2: {"precipitation_mm": " n/a ", "pressure_msl_hpa": "abc"},
    }
    assert_unparsed_rows(good, bad, marked)


def test_legacy_cells_that_do_not_parse_are_null_with_their_raw_text():
    body = sample("bulk_v2_hourly_10637.csv")
    good = meteostat.normalise_hourly(body, META, [SITE])
    bad = meteostat.normalise_hourly(_with_cells(body, {(1, 2): "abc"}), META, [SITE])  # row 1 temp; dwpt reported
    assert_unparsed_rows(good, bad, {1: {"temperature_c": "abc"}})


def test_a_model_cell_that_does_not_parse_is_dropped_like_any_model_cell():
    body = _with_sources("model,dwd_hourly,dwd_hourly,,dwd_hourly,dwd_hourly,,dwd_hourly,,metar")
    header = body.decode().splitlines()[0].split(",")
    df = meteostat.normalise_hourly(_with_cells(body, {(2, header.index("temp")): "abc"}), META, [SITE])
    assert df["temperature_c"][1] is None and df[UNPARSED].null_count() == 3  # not ours to quarantine
    # A row that holds nothing but model data and a cell that does not parse is kept, to be quarantined.
    only = b"year,month,day,hour,temp,rhum,temp_source,rhum_source\n2024,1,1,0,abc,80,dwd_hourly,model\n"
    row = meteostat.normalise_hourly(only, META, [SITE]).row(0, named=True)
    assert row[UNPARSED] == '{"temperature_c": "abc"}' and row["relative_humidity_pct"] is None


def test_model_cells_are_null_and_model_only_rows_are_dropped():
    # Row 1: temp and rhum from the model, the rest observed -> temp, rhum and the derived dew point NULL.
    body = _with_sources("model,MODEL,dwd_hourly,,dwd_hourly,dwd_hourly,,dwd_hourly,,metar")
    df = meteostat.normalise_hourly(body, META, [SITE])
    assert df.height == 3
    row = df.row(1, named=True)
    assert (row["temperature_c"], row["relative_humidity_pct"], row["dew_point_c"]) == (None, None, None)
    assert row["pressure_msl_hpa"] == 1021.0 and row["weather_code"] == 3

    # Row 1 entirely from forecasts/model (MOSMIX, met.no): dropped; include_model keeps it as reported.
    body = _with_sources("dwd_mosmix,dwd_mosmix,model,,model,model,,metno_forecast,,model")
    assert meteostat.normalise_hourly(body, META, [SITE])["observed_at"].dt.hour().to_list() == [0, 2]
    assert meteostat.normalise_hourly(body, META, [SITE], include_model=True)["temperature_c"][1] == -1.5


def test_all_empty_rows_of_the_file_are_kept_as_unknown():
    body = b"year,month,day,hour,temp,rhum,prcp,coco,temp_source\n2024,2,1,5,,,,,\n"
    df = meteostat.normalise_hourly(body, META, [SITE])
    assert df.height == 1 and df.row(0, named=True)["observed_at"] == dt.datetime(2024, 2, 1, 5)
    assert (
        df.select(pl.all().exclude("site_id", "source", "observed_at", "weather_code_system").null_count()).row(0)
        == (1,) * 11  # the ten measures, and `unparsed`: an empty cell is unknown, not unreadable
    )


def test_reported_dwpt_and_cloud_cover_columns_are_used_when_present():
    body = (
        b"year,month,day,hour,temp,dwpt,rhum,cldc,coco\n"
        b"2024,7,1,12,20.0,11.5,50,8,\n"
        b"2024,7,1,13,20.0,,50,4,2\n"
        b"2024,7,1,14,20.0,9.0,,0,\n"
    )
    df = meteostat.normalise_hourly(body, META, [SITE])
    assert df["dew_point_c"].to_list() == [11.5, None, 9.0]  # as reported; an empty cell stays NULL
    assert df["cloud_cover_pct"].to_list() == [100.0, 50.0, 0.0]  # okta x 12.5
    assert df["weather_code"].to_list() == [None, 2, None]


@pytest.mark.parametrize(
    ("temp", "rhum", "dew"),
    [(20.0, 50.0, 9.3), (20.0, 100.0, 20.0), (-10.0, 80.0, -12.8), (30.0, 0.0, None), (None, 50.0, None)],
)
def test_magnus_dew_point(temp, rhum, dew):
    frame = pl.DataFrame({"t": [temp], "h": [rhum]}, schema={"t": pl.Float64, "h": pl.Float64})
    assert frame.select(meteostat.magnus_dew_point(pl.col("t"), pl.col("h"))).item() == dew


@pytest.mark.parametrize("body", [b"", gzip.compress(b"", mtime=0), b"year,month,day,hour,temp,rhum\n", b"\n\n"])
def test_empty_files_are_empty_frames(body):
    df = meteostat.normalise_hourly(body, META, [SITE])
    assert df.height == 0 and df.schema == pl.Schema(OBSERVATION_COLUMNS)


def test_every_site_of_a_shared_station_gets_the_rows():
    other = site("potsdam_center", "10637")
    df = meteostat.normalise_hourly(sample("data_hourly_2024_10637.csv"), META, [SITE, other])
    assert df.height == 6 and df["site_id"].to_list() == ["potsdam_de"] * 3 + ["potsdam_center"] * 3


def test_implausible_values_are_left_for_the_schema_to_quarantine():
    body = sample("data_hourly_2024_10637.csv").replace(b"1021.0", b"10210.0")
    df = meteostat.normalise_hourly(body, META, [SITE])
    assert df["pressure_msl_hpa"][1] == 10210.0
    outcome = split_valid(df)
    assert outcome.valid.height == 2 and outcome.rejected["failed_column"].to_list() == ["pressure_msl_hpa"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"year,month,day,temp\n2024,1,1,3.0\n", "daily file"),
        (b"year,day,hour,temp\n2024,1,1,3.0\n", "lacks date column"),
        (b"year,month,day,hour,temp\n2024,Jan,1,0,1.0\n", "column 'month' has non-numeric value"),
        (b"year,month,day,hour,temp\n2024,1.5,1,0,1.0\n", "column 'month' must hold integers"),
        (b"year,month,day,hour,temp\n2024,13,1,0,1.0\n", "invalid date"),
        (b"year,month,day,hour,temp\n2024,1,1,24,1.0\n", "hour outside 0..23"),
        (b"year,month,day,hour,temp\n2024,1,,0,1.0\n", "empty 'day'"),
        (b"2024-01-15,0,-1.2,-3.1,87,0.0,,250,11.2,24.1,1021.3,\n", "has 12 columns, expected 13"),
        (b"2024-02-30,0,-1.2,-3.1,87,0.0,,250,11.2,24.1,1021.3,,3\n", "bad legacy 'date'"),
        (b"<html><title>502 Bad Gateway</title></html>", "HTML/XML page"),
        (b"station,time,temp\n10637,2024-01-01 00:00,1.0\n", "unrecognised layout"),
        (gzip.compress(OK_CSV, mtime=0)[:-9], "not readable gzip"),
    ],
)
def test_malformed_bodies_raise_naming_station_and_site(body, message):
    with pytest.raises(meteostat.MeteostatResponseError, match=message) as info:
        meteostat.normalise_hourly(body, META, [SITE])
    assert str(info.value).startswith("meteostat: station 10637 (potsdam_de)")


# --------------------------------------------------------------------------- HTTP policy


def _pull(server: LocalServer, sites, start, end, waits):
    with client(waits) as http:
        pulled = list(meteostat.pull_hourly(Fetcher(http, server.url("/prefix")), sites, start, end))
        return pulled, http.stats


def test_404_station_year_is_empty_not_a_failure():
    waits: list[float] = []
    with LocalServer(ScriptedHandler([text(404, "Not Found")])) as server:
        pulled, stats = _pull(server, [SITE], dt.date(2024, 5, 1), dt.date(2024, 5, 1), waits)
        assert pulled == [] and len(server.requests) == 1 and stats.retries == 0
        assert server.requests[0].path == "/prefix/hourly/2024/10637.csv.gz"


def test_403_is_final_and_the_error_names_provider_status_station_and_reason():
    denied = WireResponse(403, b"<?xml version='1.0'?><Error><Code>AccessDenied</Code><Message>Access Denied"
                               b"</Message></Error>", {"content-type": "application/xml"})  # fmt: skip
    waits: list[float] = []
    with LocalServer(ScriptedHandler([denied])) as server:
        with pytest.raises(ProviderHttpError) as info:
            _pull(server, [SITE], dt.date(2024, 5, 1), dt.date(2024, 5, 1), waits)
        assert len(server.requests) == 1 and waits == []
    err = info.value
    assert err.status == 403 and not err.retryable
    message = str(err)
    assert message.startswith("meteostat: HTTP 403 for station 10637 (potsdam_de) hourly 2024")
    assert "AccessDenied - Access Denied" in message


def test_5xx_is_retried_until_attempts_run_out():
    waits: list[float] = []
    with LocalServer(ScriptedHandler([text(502, "Bad Gateway")])) as server:
        with pytest.raises(ProviderHttpError, match="HTTP 502") as info:
            _pull(server, [SITE], dt.date(2024, 5, 1), dt.date(2024, 5, 1), waits)
        assert len(server.requests) == meteostat.POLICY.max_attempts
    assert info.value.retryable and "Bad Gateway" in str(info.value) and len(waits) == 4


def test_a_truncated_gzip_is_retried_once_and_a_2xx_error_page_not_at_all():
    good = gzip.compress(OK_CSV, mtime=0)
    truncated = WireResponse(200, good[:-6], {"content-type": "application/gzip"})
    script = [truncated, WireResponse(200, good, {"content-type": "application/gzip"})]
    waits: list[float] = []
    with LocalServer(ScriptedHandler(script)) as server:
        (pulled,), stats = _pull(server, [SITE], dt.date(2024, 1, 1), dt.date(2024, 1, 1), waits)
    assert pulled.response.attempts == 2 and stats.retries == 1 and pulled.response.body == good
    with LocalServer(ScriptedHandler([truncated])) as server:
        with pytest.raises(ProviderHttpError, match="truncated or corrupt gzip body"):
            _pull(server, [SITE], dt.date(2024, 1, 1), dt.date(2024, 1, 1), waits)
        assert len(server.requests) == 2  # one retry, not max_attempts
    page = text(200, "<html><head><title>Service Unavailable</title></head></html>")
    with LocalServer(ScriptedHandler([page, WireResponse(200, good)])) as server:
        with pytest.raises(ProviderHttpError, match="Service Unavailable .*HTML/XML page.*not retried") as info:
            _pull(server, [SITE], dt.date(2024, 1, 1), dt.date(2024, 1, 1), waits)
        assert len(server.requests) == 1
    assert info.value.status == 200 and not info.value.retryable


def test_a_json_body_is_not_retried_and_says_why():
    waits: list[float] = []
    with LocalServer(ScriptedHandler([text(200, '{"meta": {}, "data": []}')])) as server:
        with pytest.raises(ProviderHttpError, match="JSON body, not a bulk CSV") as info:
            _pull(server, [SITE], dt.date(2024, 1, 1), dt.date(2024, 1, 1), waits)
        assert len(server.requests) == 1
    assert info.value.status == 200


def test_plain_csv_bodies_are_accepted():
    """A server that sent Content-Encoding: gzip has been decoded by the client already."""
    assert meteostat._classify(WireResponse(200, OK_CSV)) is None
    assert meteostat._classify(WireResponse(200, gzip.compress(OK_CSV))) is None
    assert meteostat._classify(WireResponse(404, b"")) is None  # the shared rules decide


# --------------------------------------------------------------------------- the pull over a real server


def two_year_server() -> ScriptedHandler:
    """2024 from the replay; 2023 a small file (two hours of Dec 31) except station 03772 (404);
    one 429 with Retry-After: 1 on the first request and one 503 on the third."""
    replay, sites = MeteostatReplay(), bundled_stations()

    def two_years(request: WireRequest) -> WireResponse:
        if "/2023/" in request.path:
            station = request.path.rsplit("/", 1)[-1].removesuffix(".csv.gz")
            if station == "03772":
                return text(404, "Not Found")
            site = sites[station]
            return gz(hourly_csv(station, site, dt.datetime(2023, 12, 31, 22), dt.datetime(2023, 12, 31, 23)).encode())
        return replay(request)

    return ScriptedHandler([
        text(429, "Too Many Requests", {"Retry-After": "1"}),
        two_years,
        text(503, "Service Unavailable"),
        two_years,
    ])


def test_two_year_window_costs_two_requests_per_station_plus_retries():
    sites = [s for s in SERVED if s.stations["meteostat"] in ("72317", "03772", "10384")]
    start, end = dt.date(2023, 12, 31), dt.date(2024, 1, 1)
    waits: list[float] = []
    with LocalServer(two_year_server()) as server:
        pulled, stats = _pull(server, sites, start, end, waits)
        paths = [r.path for r in server.requests]

    stations, years = len(sites), 2
    assert stations * years == 6  # requests_note: stations x calendar years touched
    assert len(paths) == 6 + 2 and stats.requests == 6 and stats.retries == 2
    assert 1.0 in waits  # Retry-After honoured
    assert "/prefix/hourly/2023/03772.csv.gz" in paths and "/prefix/hourly/2024/03772.csv.gz" in paths  # zeros kept
    # 03772's 2023 answered 404: five bodies, each clipped to its year inside the window.
    assert [(p.meta["station"], p.meta["year"]) for p in pulled] == [
        ("72317", 2023), ("72317", 2024), ("03772", 2024), ("10384", 2023), ("10384", 2024),
    ]  # fmt: skip
    assert {(p.start, p.end) for p in pulled} == {(start, start), (end, end)}
    assert all(p.response.url.startswith(server.base_url) and "?" not in p.response.url for p in pulled)

    frames = [in_window(meteostat.normalise_hourly(p.response.body, p.meta, p.sites), start, end) for p in pulled]
    rows = pl.concat(frames)
    counts = dict(rows.group_by("site_id").len().iter_rows())
    assert counts == {"greensboro_nc": 2 + 24, "london_gb": 24, "berlin_de": 2 + 24}
    assert rows["observed_at"].min() == dt.datetime(2023, 12, 31, 22)
    assert rows["observed_at"].max() == dt.datetime(2024, 1, 1, 23)


def test_sites_sharing_a_station_cost_one_request():
    sites = [site("a", "10637"), site("b", "10637"), site("c", "03772")]
    assert list(meteostat.station_groups(sites)) == ["10637", "03772"]
    waits: list[float] = []
    with LocalServer(ScriptedHandler([gz(OK_CSV)])) as server:
        pulled, _ = _pull(server, sites, dt.date(2024, 1, 1), dt.date(2024, 1, 1), waits)
        assert len(server.requests) == 2
    assert [tuple(s.id for s in p.sites) for p in pulled] == [("a", "b"), ("c",)]


@pytest.mark.parametrize(
    ("sites", "start", "end", "message"),
    [
        ([site("x", "../../etc")], dt.date(2024, 1, 1), dt.date(2024, 1, 1), "not a Meteostat station id"),
        ([SITE], dt.date(2024, 1, 2), dt.date(2024, 1, 1), "before start"),
    ],
)
def test_bad_input_fails_before_any_request(sites, start, end, message):
    with LocalServer(ScriptedHandler([gz(OK_CSV)])) as server:
        with pytest.raises(ValueError, match=message):
            _pull(server, sites, start, end, [])
        assert server.requests == []


# --------------------------------------------------------------------------- replay


def test_replay_serves_every_catalog_station_for_a_day_and_only_the_injected_value_is_rejected():
    day = dt.date(2024, 3, 20)
    waits: list[float] = []
    with client(waits, transport=handler_transport(REPLAYS[meteostat.SPEC.name]())) as http:
        fetch = Fetcher(http, meteostat.SPEC.default_url)
        pulled = list(meteostat.pull_hourly(fetch, SERVED, day, day))
        assert http.stats.requests == len(SERVED) == 13
    frames = [in_window(meteostat.normalise_hourly(p.response.body, p.meta, p.sites), day, day) for p in pulled]
    rows = pl.concat(frames)

    assert dict(rows.group_by("site_id").len().iter_rows()) == {s.id: 24 for s in SERVED}
    outcome = split_valid(rows)
    station, when, column, value = IMPLAUSIBLE
    (bad,) = outcome.rejected.iter_rows(named=True)
    assert (bad["site_id"], bad["observed_at"], bad["failed_column"]) == ("greensboro_nc", when, "pressure_msl_hpa")
    assert float(value) == 10158.0 and station == "72317" and column == "pres"
    assert outcome.valid.height == 13 * 24 - 1
    # Plausible climates: Anchorage is near freezing in March, Singapore is tropical.
    means = dict(rows.group_by("site_id").agg(pl.col("temperature_c").mean()).iter_rows())
    assert means["anchorage_ak"] < 5 and means["singapore_sg"] > 24


def test_replay_file_layout_oddities_and_determinism():
    replay = MeteostatReplay()
    body = replay.file("03772")
    assert body == MeteostatReplay().file("03772")  # deterministic, byte for byte
    lines = gzip.decompress(body).decode().splitlines()
    assert tuple(lines[0].split(",")) == COLUMNS
    assert len(lines) - 1 == 91 * 24  # 2024-01-01T00 .. 2024-03-31T23
    raw = pl.read_csv(gzip.decompress(body), infer_schema=False)
    assert raw["snwd"].null_count() == raw.height and raw["wpgt"].null_count() > 0 and raw["coco"].null_count() > 0
    assert raw["temp"].null_count() == 11 and (raw["temp_source"] == "model").sum() == 13
    df = meteostat.normalise_hourly(body, {"station": "03772"}, [CATALOG[5]])
    assert df.height == 2184 and df["temperature_c"].null_count() == 24 and df["dew_point_c"].null_count() == 24


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/hourly/2024/72317.csv.gz", 200),
        ("GET", "/v2/hourly/2024/72317.csv.gz", 200),
        ("GET", "/hourly/2023/72317.csv.gz", 404),
        ("GET", "/hourly/2024/99999.csv.gz", 404),
        ("GET", "/daily/2024/72317.csv.gz", 404),
        ("POST", "/hourly/2024/72317.csv.gz", 405),
    ],
)
def test_replay_protocol(method, path, status):
    response = MeteostatReplay()(WireRequest.from_url(method, "https://data.meteostat.net" + path))
    assert response.status == status
    assert (response.body[:2] == b"\x1f\x8b") == (status == 200)


def test_spec():
    spec = meteostat.SPEC
    assert (spec.name, spec.source, spec.station_key, spec.secret) == ("meteostat", "meteostat", "meteostat", None)
    assert spec.default_url == "https://data.meteostat.net"
    assert spec.history is not None and spec.history.lag_days == 2 and spec.history.daily is None
    assert spec.forecast is None and spec.current is None
    assert not spec.policy.expect_json and [(w.limit, w.period_s) for w in spec.policy.rate_limits] == [(30, 60)]
    assert "S stations x Y calendar years" in spec.requests_note
    assert isinstance(REPLAYS[spec.name](), MeteostatReplay)
    assert math.isclose(meteostat._MEASURES["wspd"][1], 1 / 3.6)
