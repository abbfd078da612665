"""7Timer!: the CIVIL normaliser on every sample, `ERR:` handling, the pull over a local server, the replay."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import polars as pl
import pytest

from weather_assets.offline.server import LocalServer, ScriptedHandler, json_response
from weather_assets.offline.seven_timer import (
    NO_PRODUCT,
    ODD_TIMEPOINT,
    TIMEPOINTS,
    SevenTimerReplay,
    last_run_before,
)
from weather_assets.providers import seven_timer
from weather_assets.providers.base import RECORDED_CLOCK, WireRequest, WireResponse
from weather_assets.providers.http import (
    ProviderHttpClient,
    ProviderHttpError,
    ProviderResponseError,
    handler_transport,
)
from weather_assets.providers.registry import REPLAYS
from weather_assets.providers.seven_timer import SPEC, SevenTimerResponseError, normalise_civil
from weather_assets.providers.spec import ESTIMATED_FIELDS, OBSERVATION_COLUMNS, UNPARSED, Fetcher
from weather_assets.schemas.observation import ForecastObservation, split_valid
from weather_assets.sites.catalog import Site, bundled_sites_file, load_catalog
from weather_assets_tests.providers.unparsed import assert_unparsed_rows

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "providers" / "7timer"
CATALOG = load_catalog(bundled_sites_file())
# The point of the recorded CIVIL sample (7timer.md [T4]).
DUESSELDORF = Site(id="duesseldorf_de", name="Düsseldorf", latitude=51.2277, longitude=6.7735, timezone="Europe/Berlin")
ALL_ESTIMATED = "cloud_cover_pct,precipitation_mm,wind_direction_deg,wind_speed_ms"
META = {"product": "civil", "site_id": DUESSELDORF.id}


def sample(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def civil(mutate=None) -> bytes:
    """The recorded CIVIL sample, optionally changed by `mutate(payload)`, as a body."""
    payload = json.loads(sample("civil.json"))
    if mutate is not None:
        mutate(payload)
    return json.dumps(payload).encode()


def normalise(body: bytes, site: Site = DUESSELDORF) -> pl.DataFrame:
    return normalise_civil(body, {"product": "civil", "site_id": site.id}, [site])


def no_sleep(_seconds: float) -> None:
    """Injected into clients: the 1-per-second rate limit and backoffs must not cost test time."""


# --------------------------------------------------------------------------- normaliser: samples


def test_civil_sample_lands_every_value_at_init_plus_timepoint():
    df = normalise(sample("civil.json"))  # verbatim: the server's spacing and " , " separators

    assert dict(df.schema) == {**OBSERVATION_COLUMNS, ESTIMATED_FIELDS: pl.String()}
    assert df["observed_at"].to_list() == [dt.datetime(2022, 10, 11, h) for h in (3, 6, 9)]  # init 2022101100
    assert df["site_id"].to_list() == ["duesseldorf_de"] * 3
    assert df["source"].to_list() == ["7timer"] * 3
    # Real values: temp2m in °C, rh2m "83%" -> 83.
    assert df["temperature_c"].to_list() == [9.0, 8.0, 11.0]
    assert df["relative_humidity_pct"].to_list() == [83.0, 89.0, 69.0]
    # Class midpoints: cloudcover 1, 2, 8 -> 0-6 %, 6-19 %, 81-94 %; wind class 2 (0.3-3.4), 1 (< 0.3).
    assert df["cloud_cover_pct"].to_list() == [3.0, 12.5, 87.5]
    assert df["wind_speed_ms"].to_list() == [1.85, 1.85, 0.15]
    assert df["wind_direction_deg"].to_list() == [315.0, 315.0, 270.0]  # NW, NW, W
    assert df["precipitation_mm"].to_list() == [0.0, 0.0, 0.0]  # prec_amount 0
    # clearnight, clearday, cloudyday: type n by day, 50 + n by night.
    assert df["weather_code"].to_list() == [51, 1, 4]
    assert df["weather_code_system"].to_list() == ["7timer_weather"] * 3
    assert df[ESTIMATED_FIELDS].to_list() == [ALL_ESTIMATED] * 3
    # Not in CIVIL: unknown, not zero.
    assert df.select("dew_point_c", "pressure_msl_hpa", "wind_gust_ms").null_count().row(0) == (3, 3, 3)
    assert split_valid(df.drop(ESTIMATED_FIELDS)).valid.height == 3


@pytest.mark.parametrize(
    ("name", "product", "because"),
    [
        ("civillight.json", "civillight", "daily summary"),
        ("astro.json", "astro", "RH as a code"),
    ],
)
def test_other_product_samples_are_refused_with_the_reason(name, product, because):
    """Only CIVIL is pulled; a CIVIL Light or ASTRO body reaching the normaliser is a clear error."""
    with pytest.raises(SevenTimerResponseError, match=f"product '{product}' is not normalised") as info:
        normalise(sample(name))
    assert "only CIVIL" in str(info.value) and because in str(info.value) and "duesseldorf_de" in str(info.value)


def test_other_product_shapes_do_not_pass_as_civil_either():
    """Relabelled as civil, each sample still fails on the field that differs from CIVIL."""
    astro = json.loads(sample("astro.json"))
    astro["product"] = "civil"
    with pytest.raises(SevenTimerResponseError, match=r"'rh2m' must be a percent string .* got 13"):
        normalise(json.dumps(astro).encode())  # ASTRO rh2m is the code 13 (85-90 %), not "13%"

    light = json.loads(sample("civillight.json"))
    light["product"] = "civil"
    with pytest.raises(SevenTimerResponseError, match=r"dataseries\[0\]: 'timepoint' must be an integer"):
        normalise(json.dumps(light).encode())  # CIVIL Light items carry a `date`, no timepoint


def test_err_sample_is_an_error_not_a_forecast():
    body = sample("error_no_product.txt")
    assert body.startswith(b"ERR: no product specified")
    with pytest.raises(SevenTimerResponseError, match="ERR: no product specified") as info:
        normalise(body)
    assert "duesseldorf_de" in str(info.value)


# --------------------------------------------------------------------------- normaliser: rules


def _set(index: int, **fields):
    def mutate(payload):
        payload["dataseries"][index].update(fields)

    return mutate


@pytest.mark.parametrize(
    ("fields", "column", "expected"),
    [
        ({"prec_amount": 1}, "precipitation_mm", 0.125),  # 0-0.25 mm/h over the preceding hour
        ({"prec_amount": 3}, "precipitation_mm", 2.5),  # 1-4 mm/h: x 1 h, not x 3 h
        ({"prec_amount": 9}, "precipitation_mm", 75.0),  # "over 75": the lower bound
        ({"wind10m": {"direction": "SE", "speed": 8}}, "wind_speed_ms", 32.6),  # "over 32.6": the lower bound
        ({"wind10m": {"direction": "SE", "speed": 5}}, "wind_speed_ms", 14.0),  # 10.8-17.2
        ({"wind10m": {"direction": "SE", "speed": 5}}, "wind_direction_deg", 135.0),
        ({"cloudcover": 9}, "cloud_cover_pct", 97.0),  # 94-100
        ({"cloudcover": 5}, "cloud_cover_pct", 50.0),  # 44-56
        ({"weather": "tsrainnight"}, "weather_code", 64),
        ({"weather": "humidday"}, "weather_code", 5),
        ({"rh2m": "100%"}, "relative_humidity_pct", 100.0),
        ({"temp2m": -12}, "temperature_c", -12.0),
    ],
)
def test_code_tables(fields, column, expected):
    row = normalise(civil(_set(0, **fields))).row(0, named=True)
    assert row[column] == expected


def test_weather_codes_are_stable_distinct_and_inside_the_schema_range():
    codes = seven_timer.WEATHER_CODES
    assert len(codes) == 28 and len(set(codes.values())) == 28
    assert all(0 <= code <= 99 for code in codes.values())
    for n, name in enumerate(seven_timer.WEATHER_TYPES, start=1):
        assert (codes[name + "day"], codes[name + "night"]) == (n, 50 + n)
    assert codes["clearday"] == 1 and codes["tsrainday"] == 14  # the doc's order; never renumber


def test_out_of_table_codes_are_null_and_not_flagged():
    df = normalise(civil(_set(0, cloudcover=10, prec_amount=-9999, wind10m={"speed": 10})))
    first = df.row(0, named=True)
    assert (first["cloud_cover_pct"], first["precipitation_mm"], first["wind_speed_ms"]) == (None, None, None)
    assert first["wind_direction_deg"] is None and first[UNPARSED] is None  # absent, and codes are no text
    assert first[ESTIMATED_FIELDS] is None  # nothing estimated in that row: every class value is unknown
    assert (first["temperature_c"], first["relative_humidity_pct"]) == (9.0, 83.0)  # real values stay
    assert df[ESTIMATED_FIELDS].to_list()[1:] == [ALL_ESTIMATED] * 2
    assert split_valid(df.drop(ESTIMATED_FIELDS)).valid.height == 3  # unknown is valid, not a reject


def test_partly_unknown_row_flags_only_the_estimated_values():
    df = normalise(civil(_set(1, cloudcover=0, wind10m={"direction": "E", "speed": 13})))
    assert df[ESTIMATED_FIELDS][1] == "precipitation_mm,wind_direction_deg"


def test_absent_keys_are_null():
    body = json.dumps({"product": "civil", "init": "2024032400", "dataseries": [{"timepoint": 3}]}).encode()
    row = normalise(body).row(0, named=True)
    assert row["observed_at"] == dt.datetime(2024, 3, 24, 3)
    measures = [c for c in OBSERVATION_COLUMNS if c not in ("site_id", "source", "observed_at", "weather_code_system")]
    assert all(row[c] is None for c in measures)
    assert row[ESTIMATED_FIELDS] is None


def test_valid_time_crosses_midnight_in_utc():
    body = civil(lambda p: p.update(init="2023121318"))  # an 18Z run: +9 h is the next day
    assert normalise(body)["observed_at"].to_list() == [
        dt.datetime(2023, 12, 13, 21),
        *[dt.datetime(2023, 12, 14, h) for h in (0, 3)],
    ]


def test_empty_dataseries_is_an_empty_frame():
    df = normalise(b'{ "product" : "civil" , "init" : "2024032400" , "dataseries" : [ ] }')
    assert df.height == 0 and list(df.columns) == [*OBSERVATION_COLUMNS, ESTIMATED_FIELDS]


def test_impossible_values_are_kept_for_the_schema_to_quarantine():
    df = normalise(civil(_set(2, temp2m=75, rh2m="104%")))
    assert df["temperature_c"][2] == 75.0 and df["relative_humidity_pct"][2] == 104.0
    outcome = split_valid(df.drop(ESTIMATED_FIELDS))
    assert outcome.valid.height == 2 and outcome.rejected.height == 1
    assert "temperature_c" in outcome.rejected["failed_column"][0]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"<html>Service Unavailable</html>", "not JSON"),
        (b"[]", "expected a JSON object"),
        (civil(lambda p: p.pop("dataseries")), "'dataseries' is missing"),
        (civil(lambda p: p.update(init=2022101100)), "'init' must be a 'YYYYMMDDHH' string"),
        (civil(lambda p: p.update(init="2022133100")), "not a valid date"),
        (civil(lambda p: p.pop("product")), "product None is not normalised"),
        (civil(_set(0, timepoint="3")), "'timepoint' must be an integer"),
        (civil(_set(1, rh2m=83)), "'rh2m' must be a percent string"),
        (civil(_set(1, cloudcover=True)), "'cloudcover' must be an integer class code"),
        (civil(_set(1, prec_amount=1.5)), "'prec_amount' must be an integer class code"),
        (civil(_set(1, temp2m=[9])), "'temp2m' is \\[9\\], expected a number"),
        (civil(_set(1, wind10m=["NW", 2])), "'wind10m' must be an object"),
        (civil(_set(1, weather=4)), "'weather' must be a string"),
    ],
)
def test_malformed_bodies_raise_naming_provider_and_site(body, message):
    with pytest.raises(SevenTimerResponseError, match=message) as info:
        normalise(body)
    assert str(info.value).startswith("seven_timer site duesseldorf_de")


def test_text_that_does_not_parse_is_null_with_its_raw_text():
    good = normalise(civil())
    bad = normalise(
        civil(
            lambda p: (
                _set(0, temp2m="abc", rh2m="warm%")(p),
                _set(1, cloudcover="5", weather="sunnyday")(p),  # a code as text; a label outside the table
                p["dataseries"][2]["wind10m"].update(direction="NNE"),  # 16-point: not CIVIL's 8-point table
            )
        )
    )
    marked = {
        0: {"temperature_c": "abc", "relative_humidity_pct": "warm%"},
        1: {"cloud_cover_pct": "5", "weather_code": "sunnyday"},
        2: {"wind_direction_deg": "NNE"},
    }
    assert bad[ESTIMATED_FIELDS][1] == "precipitation_mm,wind_direction_deg,wind_speed_ms"  # no cloud estimate
    assert_unparsed_rows(good, bad, marked, ForecastObservation)


def test_a_body_is_for_exactly_its_one_site():
    with pytest.raises(SevenTimerResponseError, match="exactly one site"):
        normalise_civil(sample("civil.json"), META, [DUESSELDORF, CATALOG[0]])
    with pytest.raises(SevenTimerResponseError, match="pulled for site 'duesseldorf_de'"):
        normalise_civil(sample("civil.json"), META, [CATALOG[0]])


# --------------------------------------------------------------------------- HTTP: documented errors


@pytest.mark.parametrize("status", [200, 400, 429, 500])
def test_err_body_is_final_whatever_the_status(status):
    err = WireResponse(status, sample("error_no_product.txt"), {"Content-Type": "text/plain"})
    with LocalServer(ScriptedHandler([err, json_response({"ok": True})])) as server:
        with ProviderHttpClient(SPEC.policy, headers={"User-Agent": "t"}, sleep=no_sleep) as client:
            with pytest.raises(ProviderHttpError) as info:
                Fetcher(client, server.url("/bin")).get("/api.pl", [("lon", "1")], what="site x (CIVIL forecast)")
        assert len(server.requests) == 1  # not retried
    error = info.value
    assert error.status == status and not error.retryable
    message = str(error)
    assert message.startswith("seven_timer: HTTP ") and f"HTTP {status}" in message
    assert "ERR: no product specified" in message and "site x" in message and "not retried" in message


def test_5xx_is_retried_then_succeeds():
    ok = WireResponse(200, sample("civil.json"), {"Content-Type": "text/plain"})  # JSON sent as text/plain
    waits: list[float] = []
    with LocalServer(ScriptedHandler([WireResponse(502, b"<html>Bad Gateway</html>"), ok])) as server:
        with ProviderHttpClient(SPEC.policy, sleep=waits.append, jitter=lambda: 0.5) as client:
            response = client.get(server.url("/bin/api.pl"))
        assert len(server.requests) == 2
    assert response.attempts == 2 and response.json()["init"] == "2022101100"
    assert 1.5 in waits  # equal-jitter backoff: 2 s x (0.5 + 0.5 x 0.5)


def test_a_200_body_that_is_neither_json_nor_err_fails_without_a_retry():
    page = WireResponse(200, b"<html><body>7Timer is under maintenance</body></html>", {"Content-Type": "text/html"})
    with LocalServer(ScriptedHandler([page])) as server:
        with ProviderHttpClient(SPEC.policy, sleep=no_sleep) as client:
            with pytest.raises(ProviderResponseError, match="malformed JSON") as info:
                client.get(server.url("/bin/api.pl"), what="site x")
        assert len(server.requests) == 1
    assert "seven_timer" in str(info.value) and "maintenance" in str(info.value) and info.value.status == 200


# --------------------------------------------------------------------------- the pull over a local server


def flaky_replay() -> ScriptedHandler:
    """The replay, except one 429 with Retry-After: 1 (first request) and one 503 (third request)."""
    replay = SevenTimerReplay()
    return ScriptedHandler([
        WireResponse(429, b"Too Many Requests", {"Retry-After": "1", "Content-Type": "text/plain"}),
        replay,
        WireResponse(503, b"<html>Service Temporarily Unavailable</html>", {"Content-Type": "text/html"}),
        replay,
    ])


def test_pull_over_a_local_server_costs_one_request_per_site_plus_retries():
    sites = CATALOG
    waits: list[float] = []
    with LocalServer(flaky_replay()) as server:
        client = ProviderHttpClient(
            SPEC.policy, headers={"User-Agent": "t", **SPEC.headers}, sleep=waits.append, jitter=lambda: 0.5
        )
        with client:
            pulled = list(SPEC.forecast.pull(Fetcher(client, server.url("/bin")), sites, RECORDED_CLOCK))
        received = server.requests
        assert not server.errors

    # requests_note: exactly S requests, plus the two retries.
    assert len(pulled) == len(sites) and len(received) == len(sites) + 2
    assert client.stats.retries == 2 and 1.0 in waits  # the Retry-After: 1
    assert {r.path for r in received} == {"/bin/api.pl"}
    first = dict(received[0].params)
    assert first == {"lon": "-79.9436", "lat": "36.0978", "product": "civil", "output": "json", "unit": "metric"}
    assert received[0].headers["user-agent"] == "t"
    assert [p.sites for p in pulled] == [(s,) for s in sites]
    assert pulled[0].response.attempts == 2 and pulled[1].response.attempts == 2  # the 429, then the 503
    assert pulled[0].meta == {"product": "civil", "site_id": "greensboro_nc", "lon": "-79.9436", "lat": "36.0978"}
    assert (pulled[0].start, pulled[0].end) == (dt.date(2024, 3, 23), dt.date(2024, 4, 1))
    assert pulled[0].response.headers["content-type"].startswith("text/html")  # JSON parsed regardless
    assert all("product=civil" in p.response.url and "output=json" in p.response.url for p in pulled)

    df = pl.concat([SPEC.forecast.normalise(p.response.body, p.meta, p.sites) for p in pulled])
    assert df.height == len(sites) * 64
    assert df.group_by("site_id").len()["len"].to_list() == [64] * len(sites)


# --------------------------------------------------------------------------- the replay


def test_spec_is_forecast_only_and_keyless():
    assert (SPEC.name, SPEC.source, SPEC.default_url) == ("seven_timer", "7timer", "https://www.7timer.info/bin")
    assert SPEC.history is None and SPEC.current is None and SPEC.forecast is not None
    assert SPEC.secret is None and SPEC.station_key is None
    assert [(w.limit, w.period_s) for w in SPEC.policy.rate_limits] == [(1, 1.0)]
    assert "S requests" in SPEC.requests_note


def test_replay_snapshot_covers_every_catalog_site_and_passes_the_schema():
    with ProviderHttpClient(SPEC.policy, transport=handler_transport(REPLAYS[SPEC.name]()), sleep=no_sleep) as client:
        fetch = Fetcher(client, SPEC.default_url)
        pulled = list(SPEC.forecast.pull(fetch, CATALOG, RECORDED_CLOCK))
    df = pl.concat([SPEC.forecast.normalise(p.response.body, p.meta, p.sites) for p in pulled])

    assert sorted(df["site_id"].unique()) == sorted(s.id for s in CATALOG)
    assert df.height == len(CATALOG) * len(TIMEPOINTS) == len(CATALOG) * 64
    # The run before the pinned clock (06:00Z) is 00Z: valid times +3 h .. +192 h.
    assert df["observed_at"].min() == dt.datetime(2024, 3, 24, 3)
    assert df["observed_at"].max() == dt.datetime(2024, 4, 1, 0)
    outcome = split_valid(df.drop(ESTIMATED_FIELDS))
    assert outcome.rejected.height == 0 and outcome.valid.height == df.height
    # The injected oddity: wind class 10 (outside the 1-8 table) -> NULL, and not flagged as an estimate.
    odd = df.filter(pl.col("wind_speed_ms").is_null())
    assert odd.height == 1
    assert odd["site_id"][0] == CATALOG[0].id
    assert odd["observed_at"][0] == dt.datetime(2024, 3, 24) + dt.timedelta(hours=ODD_TIMEPOINT)
    assert odd[ESTIMATED_FIELDS][0] == "cloud_cover_pct,precipitation_mm,wind_direction_deg"
    assert df.filter(pl.col("wind_speed_ms").is_not_null())[ESTIMATED_FIELDS].unique().to_list() == [ALL_ESTIMATED]
    # Plausible, not constant: temperatures in range and both day and night weather codes present.
    assert -40 < df["temperature_c"].min() < df["temperature_c"].max() < 50
    assert df["weather_code"].null_count() == 0
    assert (df["weather_code"] < 50).any() and (df["weather_code"] > 50).any()


def test_replay_speaks_the_documented_layout_deterministically():
    site = CATALOG[5]
    url = "https://www.7timer.info/bin/api.pl?" + "&".join(f"{k}={v}" for k, v in seven_timer.request_params(site))
    first, again = (
        SevenTimerReplay()(WireRequest.from_url("GET", url)),
        SevenTimerReplay()(WireRequest.from_url("GET", url)),
    )
    assert first.status == 200 and first.body == again.body
    text = first.body.decode()
    assert text.startswith('{\n\t"product" : "civil" ,\n\t"init" : "2024032400" ,\n\t"dataseries" : [')
    payload = json.loads(text)
    recorded = json.loads(sample("civil.json"))
    assert list(payload) == list(recorded)
    assert [list(item) for item in payload["dataseries"]] == [list(recorded["dataseries"][0])] * 64
    assert [item["timepoint"] for item in payload["dataseries"]] == list(range(3, 193, 3))
    assert all(item["rh2m"].endswith("%") for item in payload["dataseries"])


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("lon=-79.9436&lat=36.0978&output=json", NO_PRODUCT),
        ("lon=-79.9436&lat=36.0978&product=weather&output=json", NO_PRODUCT),
        ("lon=-79.9436&lat=36.0978&product=astro&output=json", "ERR: offline replay serves product=civil only"),
        ("lon=-79.9436&lat=36.0978&product=civil&output=xml", "ERR: offline replay serves output=json only"),
        ("lon=-79.9436&lat=36.0978&product=civil&output=json&unit=british", "ERR: offline replay serves unit=metric"),
        ("lat=36.0978&product=civil&output=json", "ERR: offline replay needs numeric lon and lat"),
        ("lon=0&lat=0&product=civil&output=json", "ERR: offline replay has no site at lon=0, lat=0"),
    ],
)
def test_replay_answers_bad_requests_with_err_text(query, expected):
    response = SevenTimerReplay()(WireRequest.from_url("GET", f"http://any/bin/api.pl?{query}"))
    assert response.status == 200 and response.body.decode().startswith(expected)
    assert response.headers["Content-Type"] == "text/plain"


def test_replay_err_reaches_the_caller_unretried():
    replay = SevenTimerReplay()
    calls: list[WireRequest] = []

    def counting(request: WireRequest) -> WireResponse:
        calls.append(request)
        return replay(request)

    with ProviderHttpClient(SPEC.policy, transport=handler_transport(counting), sleep=no_sleep) as client:
        with pytest.raises(ProviderHttpError, match="ERR: no product specified"):
            client.get("https://www.7timer.info/bin/api.pl", [("lon", "13.4050"), ("lat", "52.5200")])
    assert len(calls) == 1
    assert replay(WireRequest.from_url("GET", "http://any/bin/other.pl")).status == 404


@pytest.mark.parametrize(
    ("clock", "run"),
    [
        (RECORDED_CLOCK, dt.datetime(2024, 3, 24, 0, tzinfo=dt.UTC)),
        (dt.datetime(2024, 3, 24, 12, tzinfo=dt.UTC), dt.datetime(2024, 3, 24, 0, tzinfo=dt.UTC)),
        (dt.datetime(2024, 3, 24, 12, 1, tzinfo=dt.UTC), dt.datetime(2024, 3, 24, 12, tzinfo=dt.UTC)),
        (dt.datetime(2024, 3, 24, 0, tzinfo=dt.UTC), dt.datetime(2024, 3, 23, 12, tzinfo=dt.UTC)),
    ],
)
def test_replay_run_is_the_last_00_or_12z_before_the_clock(clock, run):
    assert last_run_before(clock) == run
