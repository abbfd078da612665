"""The offline 7Timer! replay against the documented CIVIL format (docs/providers/7timer.md): the sample's
structure and code tables, the `ERR:` answers, the injected out-of-table wind class, and the client's own
normaliser on its answers."""

from __future__ import annotations

import datetime as dt
import json

from weather_assets.offline.seven_timer import ODD_TIMEPOINT, ODD_WIND_CLASS, SevenTimerReplay
from weather_assets.providers import seven_timer
from weather_assets.providers.base import RECORDED_CLOCK, WireRequest, WireResponse
from weather_assets.providers.spec import ESTIMATED_FIELDS
from weather_assets_tests.conftest import FIXTURES
from weather_assets_tests.offline.shape import assert_shaped_like, sample

REPLAY = SevenTimerReplay()
FIRST, OTHER = REPLAY.sites[0], REPLAY.sites[5]
URL = seven_timer.DEFAULT_URL + seven_timer.API_PATH


def _get(params, replay: SevenTimerReplay = REPLAY) -> WireResponse:
    return replay(WireRequest("GET", URL, tuple(params)))


def _civil(site) -> WireResponse:
    """The request exactly as the client sends it for one site."""
    return _get(seven_timer.request_params(site))


def _normalise(site, body: bytes):
    return seven_timer.normalise_civil(body, {"product": "civil", "site_id": site.id}, [site])


def test_a_civil_answer_has_the_documented_structure_and_code_tables():
    response = _civil(OTHER)
    assert response.status == 200 and response.headers["Content-Type"].startswith("text/html")  # CGI-style
    assert response.body.startswith(b'{\n\t"product" : "civil" ,\n\t"init" : "')  # the server's own layout
    body = json.loads(response.body)
    assert_shaped_like(body, sample("7timer", "civil.json"), ordered=True)
    assert body["init"] == "2024032400"  # the last 00/12Z run before the recorded clock
    series = body["dataseries"]
    assert [item["timepoint"] for item in series] == list(range(3, 193, 3))
    for item in series:
        assert item["cloudcover"] in seven_timer.CLOUD_COVER_PCT
        assert item["prec_amount"] in seven_timer.PRECIPITATION_RATE_MM_H
        assert item["wind10m"]["speed"] in seven_timer.WIND_SPEED_MS
        assert item["wind10m"]["direction"] in seven_timer.WIND_DIRECTION_DEG
        assert item["weather"] in seven_timer.WEATHER_CODES
        assert item["rh2m"].endswith("%") and 0 < int(item["rh2m"][:-1]) <= 100
        assert item["prec_type"] in ("none", "rain", "snow", "frzr") and (item["prec_type"] == "none") == (
            item["prec_amount"] == 0
        )


def test_the_normaliser_turns_classes_into_flagged_midpoints():
    response = _civil(OTHER)
    series = json.loads(response.body)["dataseries"]
    frame = _normalise(OTHER, response.body)
    init = RECORDED_CLOCK.replace(hour=0, tzinfo=None)
    assert frame["observed_at"].to_list() == [init + dt.timedelta(hours=h) for h in range(3, 193, 3)]
    for item, row in zip(series, frame.iter_rows(named=True), strict=True):
        assert row["temperature_c"] == item["temp2m"] and row["relative_humidity_pct"] == int(item["rh2m"][:-1])
        assert row["cloud_cover_pct"] == seven_timer.CLOUD_COVER_PCT[item["cloudcover"]]
        assert row["wind_speed_ms"] == seven_timer.WIND_SPEED_MS[item["wind10m"]["speed"]]
        assert row["precipitation_mm"] == seven_timer.PRECIPITATION_RATE_MM_H[item["prec_amount"]]
        assert row["weather_code"] == seven_timer.WEATHER_CODES[item["weather"]]
        assert row[ESTIMATED_FIELDS] == "cloud_cover_pct,precipitation_mm,wind_direction_deg,wind_speed_ms"
    assert set(frame["site_id"]) == {OTHER.id} and set(frame["source"]) == {"7timer"}


def test_the_injected_out_of_table_wind_class_is_null_and_not_an_estimate():
    response = _civil(FIRST)
    series = json.loads(response.body)["dataseries"]
    odd = [item for item in series if item["wind10m"]["speed"] not in seven_timer.WIND_SPEED_MS]
    assert [(item["timepoint"], item["wind10m"]["speed"]) for item in odd] == [(ODD_TIMEPOINT, ODD_WIND_CLASS)]
    row = _normalise(FIRST, response.body).row(ODD_TIMEPOINT // 3 - 1, named=True)
    assert row["wind_speed_ms"] is None
    assert row[ESTIMATED_FIELDS] == "cloud_cover_pct,precipitation_mm,wind_direction_deg"
    assert _normalise(OTHER, _civil(OTHER).body)["wind_speed_ms"].null_count() == 0


def test_err_answers():
    documented = (FIXTURES / "7timer" / "error_no_product.txt").read_bytes()
    no_product = _get([(k, v) for k, v in seven_timer.request_params(FIRST) if k != "product"])
    assert (no_product.status, no_product.body.strip()) == (200, documented.strip())
    assert seven_timer._classify(no_product).retry is False  # refused: asking again cannot help
    astro = _get([*seven_timer.request_params(FIRST)[:2], ("product", "astro"), ("output", "json")])
    assert astro.body.startswith(b"ERR: offline replay serves product=civil only")
    nowhere = _get([("lon", "0.0000"), ("lat", "0.0000"), ("product", "civil"), ("output", "json")])
    assert nowhere.body.startswith(b"ERR: offline replay has no site at lon=0, lat=0")


def test_the_same_request_gives_the_same_bytes():
    assert _civil(OTHER).body == _get(seven_timer.request_params(OTHER), SevenTimerReplay()).body
    assert _civil(FIRST).body != _civil(OTHER).body


def test_a_replay_with_an_earlier_clock_serves_the_model_run_before_it():
    earlier = RECORDED_CLOCK - dt.timedelta(days=2)
    body = json.loads(_get(seven_timer.request_params(OTHER), SevenTimerReplay(clock=earlier)).body)
    assert body["init"] == (earlier - dt.timedelta(hours=6)).strftime("%Y%m%d%H")  # 06Z clock: the 00Z run
