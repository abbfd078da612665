"""NOAA CDO v2 PRECIP_15 (15-minute precipitation): the period of record from `/datasets/PRECIP_15`, month-aligned
planning and chunking, paging by station-month, the dense normaliser case by case (dry, flags, units, periods,
sentinel, quality, not reported, QGAG), local standard time, the documented sample with hand-computed rows, values
that do not parse, shape errors; pulls over httpx's transport and over a real 127.0.0.1 server."""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
from pathlib import Path

import polars as pl
import pytest

from weather_assets.offline.noaa_cdo import PRECIP15_DATASET, NoaaCdoReplay
from weather_assets.offline.server import LocalServer
from weather_assets.providers import noaa_cdo
from weather_assets.providers.base import WireRequest, WireResponse
from weather_assets.providers.http import ProviderHttpClient, handler_transport
from weather_assets.providers.spec import (
    DAILY_COLUMNS,
    OBSERVATION_COLUMNS,
    PRECIPITATION_15MIN_COLUMNS,
    UNPARSED,
    UNPARSED_CHECK,
    Fetcher,
)
from weather_assets.schemas.observation import split_valid
from weather_assets.schemas.precipitation_15min import Precipitation15Min
from weather_assets.sites.catalog import Site, bundled_sites_file, load_catalog

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "providers" / "noaa-cdo"
CATALOG = load_catalog(bundled_sites_file())
NOAA_SITES = [s for s in CATALOG if s.stations.get("noaa_cdo")]
GREENSBORO, DENVER, ANCHORAGE = (
    next(s for s in CATALOG if s.id == i) for i in ("greensboro_nc", "denver_co", "anchorage_ak")
)
GSO, ANC = "COOP:313630", "COOP:500280"
LOGGER = "weather_assets.providers.noaa_cdo"
HI_MM = 0.254  # one hundredth of an inch


def _response(payload, status: int = 200) -> WireResponse:
    return WireResponse(status, json.dumps(payload).encode(), {"Content-Type": "application/json"})


def _row(date: str, value, attributes: str | None = ",,HI", station: str = GSO, datatype: str = "QPCP") -> dict:
    row = {"date": date, "datatype": datatype, "station": station, "attributes": attributes, "value": value}
    if attributes is None:
        del row["attributes"]
    return row


def _body(rows, count: int | None = None, offset: int = 1) -> bytes:
    if not rows:
        return b"{}"
    meta = {"resultset": {"offset": offset, "count": len(rows) if count is None else count, "limit": 1000}}
    return json.dumps({"metadata": meta, "results": rows}).encode()


def _meta(start: str, end: str, **extra) -> dict:
    return {"dataset": "PRECIP_15", "units": None, "offset": 1, "startdate": start, "enddate": end, **extra}


def _normalise(rows, start: str, end: str | None = None, sites=(GREENSBORO,), **extra) -> pl.DataFrame:
    return noaa_cdo.normalise_precipitation_15min(_body(rows), _meta(start, end or start, **extra), sites)


def _by_time(frame: pl.DataFrame, site_id: str = "greensboro_nc") -> dict[dt.datetime, dict]:
    return {r["observed_at"]: r for r in frame.iter_rows(named=True) if r["site_id"] == site_id}


def _utc(*args: int) -> dt.datetime:
    return dt.datetime(*args)


def _client(handler) -> ProviderHttpClient:
    return ProviderHttpClient(
        noaa_cdo.SPEC.policy, headers={"token": "t0ken"}, transport=handler_transport(handler), sleep=lambda s: None
    )


class Recording:
    """A handler that records each request before passing it on."""

    def __init__(self, handler) -> None:
        self.handler = handler
        self.requests: list[WireRequest] = []

    def __call__(self, request: WireRequest) -> WireResponse:
        self.requests.append(request)
        return self.handler(request)

    def data(self, dataset: str = "PRECIP_15") -> list[WireRequest]:
        return [r for r in self.requests if r.param("datasetid") == dataset]

    def datasets(self) -> list[str]:
        return [r.path for r in self.requests if "/datasets" in r.path]


def _pull(handler, sites, start: dt.date, end: dt.date):
    with _client(handler) as client:
        return list(noaa_cdo.pull_history(Fetcher(client, "https://cdo.test/cdo-web/api/v2"), sites, start, end))


def _frame(pulled) -> pl.DataFrame:
    frames = [noaa_cdo.normalise_precipitation_15min(p.response.body, p.meta, p.sites) for p in pulled]
    return pl.concat(frames)


# --------------------------------------------------------------------------- the spec and the request budget


def test_spec_registers_the_15_minute_normaliser_and_explains_its_requests():
    history = noaa_cdo.SPEC.history
    assert history.precipitation_15min is noaa_cdo.normalise_precipitation_15min
    assert "15-minute" in noaa_cdo.SPEC.title and "/datasets/PRECIP_15" in noaa_cdo.SPEC.requests_note
    assert "noaa_cdo_coop" in noaa_cdo.SPEC.requests_note


def test_max_requests_adds_the_datasets_request_and_the_months_inside_the_period():
    day = dt.date(2013, 7, 8)
    # GHCND 1 + PRECIP_HLY 1 for 3 stations; /datasets 1; July 2013 for 2 COOP stations: 2 x 96 x 2 x 31 rows
    assert noaa_cdo.max_requests(3, day, day) == 2
    assert noaa_cdo.max_requests(3, day, day, n_coop_stations=2) == 2 + 1 + math.ceil(2 * 96 * 2 * 31 / 1000) == 15
    late = dt.date(2024, 3, 20)
    assert noaa_cdo.max_requests(3, late, late, n_coop_stations=2) == 2 + 1  # after the period: /datasets only
    # a window on the last day of the period: December 2013 only, January 2014 is clipped away
    last = dt.date(2013, 12, 31)
    assert noaa_cdo.max_requests(3, last, last, n_coop_stations=2) == 2 + 1 + math.ceil(2 * 96 * 2 * 31 / 1000)


# --------------------------------------------------------------------------- planning


def test_requests_cover_whole_local_months_around_the_window():
    assert noaa_cdo.precip15_months(dt.date(2013, 3, 1), dt.date(2013, 3, 1)) == (
        dt.date(2013, 2, 1),
        dt.date(2013, 3, 31),
    )  # the day before 1 March is in February
    assert noaa_cdo.precip15_months(dt.date(2013, 1, 15), dt.date(2013, 1, 20)) == (
        dt.date(2013, 1, 1),
        dt.date(2013, 1, 31),
    )
    assert noaa_cdo.precip15_months(dt.date(2012, 2, 10), dt.date(2012, 2, 28)) == (
        dt.date(2012, 2, 1),
        dt.date(2012, 2, 29),
    )  # 28 Feb + 1 day is 29 Feb in a leap year
    assert noaa_cdo.months_between(dt.date(2012, 12, 15), dt.date(2013, 2, 1)) == ["2012-12", "2013-01", "2013-02"]


def test_month_chunks_are_whole_months_and_under_a_year():
    assert noaa_cdo.split_months(dt.date(2012, 12, 1), dt.date(2013, 12, 31)) == [
        (dt.date(2012, 12, 1), dt.date(2013, 11, 30)),
        (dt.date(2013, 12, 1), dt.date(2013, 12, 31)),
    ]
    # a period of record that starts mid-month: the first chunk starts there and still ends on a month end
    chunks = noaa_cdo.split_months(dt.date(1971, 5, 15), dt.date(1973, 1, 31))
    assert chunks == [
        (dt.date(1971, 5, 15), dt.date(1972, 4, 30)),
        (dt.date(1972, 5, 1), dt.date(1973, 1, 31)),
    ]
    assert all(e < noaa_cdo.add_years(s, 1) for s, e in chunks)
    with pytest.raises(ValueError, match="before start"):
        noaa_cdo.split_months(dt.date(2013, 2, 1), dt.date(2013, 1, 31))


def test_plan_clips_to_the_period_of_record_and_asks_only_coop_stations():
    period = (dt.date(1971, 5, 1), dt.date(2013, 12, 31))
    sites = [GREENSBORO, DENVER, ANCHORAGE]
    (december,) = noaa_cdo.plan_precip15_requests(sites, dt.date(2013, 12, 30), dt.date(2014, 2, 10), period)
    assert (december.start, december.end) == (dt.date(2013, 12, 1), dt.date(2013, 12, 31))
    assert december.sites == (GREENSBORO, ANCHORAGE) and december.stations == (GSO, ANC)  # Denver has no COOP
    params = december.params(1001)
    assert params == [
        ("datasetid", "PRECIP_15"),
        ("stationid", GSO),
        ("stationid", ANC),
        ("datatypeid", "QPCP"),
        ("datatypeid", "QGAG"),
        ("startdate", "2013-12-01"),
        ("enddate", "2013-12-31"),
        ("limit", "1000"),
        ("offset", "1001"),
    ]  # raw: no `units`
    (first,) = noaa_cdo.plan_precip15_requests(sites, dt.date(1971, 5, 1), dt.date(1971, 5, 3), period)
    assert (first.start, first.end) == (dt.date(1971, 5, 1), dt.date(1971, 5, 31))  # April is before mindate
    assert noaa_cdo.plan_precip15_requests(sites, dt.date(2024, 3, 20), dt.date(2024, 3, 20), period) == []
    assert noaa_cdo.plan_precip15_requests([DENVER], dt.date(2013, 3, 20), dt.date(2013, 3, 20), period) == []

    many = [
        Site(f"c{i}", f"C{i}", 35.0, -80.0, "America/New_York", stations={"noaa_cdo_coop": f"COOP:{i:06d}"})
        for i in range(30)
    ]
    requests = noaa_cdo.plan_precip15_requests(many, dt.date(2012, 12, 15), dt.date(2013, 12, 20), period)
    assert [(len(r.stations), r.start, r.end) for r in requests] == [
        (25, dt.date(2012, 12, 1), dt.date(2013, 11, 30)),  # 12 whole months
        (25, dt.date(2013, 12, 1), dt.date(2013, 12, 31)),  # January 2014 is after maxdate
        (5, dt.date(2012, 12, 1), dt.date(2013, 11, 30)),
        (5, dt.date(2013, 12, 1), dt.date(2013, 12, 31)),
    ]


def test_period_of_record_reads_the_documented_single_item():
    where = "noaa_cdo: /datasets/PRECIP_15 (for site(s) [greensboro_nc])"
    assert noaa_cdo.period_of_record(PRECIP15_DATASET, where) == (dt.date(1971, 5, 1), dt.date(2013, 12, 31))
    with_time = {**PRECIP15_DATASET, "maxdate": "2013-12-31T00:00:00"}
    assert noaa_cdo.period_of_record(with_time, where)[1] == dt.date(2013, 12, 31)


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({}, "an empty object"),
        ([PRECIP15_DATASET], "got a list"),
        (json.loads((FIXTURES / "datasets_collection_doc_example.json").read_text()), "got a collection"),
        ({**PRECIP15_DATASET, "id": "PRECIP_HLY"}, "'id' is 'PRECIP_HLY', expected 'PRECIP_15'"),
        ({k: v for k, v in PRECIP15_DATASET.items() if k != "maxdate"}, "'maxdate' is None, expected a date"),
        ({**PRECIP15_DATASET, "mindate": "May 1971"}, "'mindate' is 'May 1971'"),
        ({**PRECIP15_DATASET, "maxdate": "2013-13-45"}, "'maxdate' is '2013-13-45'"),
        ({**PRECIP15_DATASET, "maxdate": "1970-01-01"}, "maxdate 1970-01-01 is before mindate 1971-05-01"),
    ],
)
def test_a_malformed_period_of_record_fails_naming_the_endpoint(payload, message):
    with pytest.raises(noaa_cdo.NoaaCdoResponseError, match=message) as info:
        noaa_cdo.period_of_record(payload, "noaa_cdo: /datasets/PRECIP_15 (for site(s) [greensboro_nc])")
    assert str(info.value).startswith("noaa_cdo: /datasets/PRECIP_15 (for site(s) [greensboro_nc]): ")


# --------------------------------------------------------------------------- the pull (httpx transport)


def test_a_window_after_the_period_costs_one_datasets_request_and_one_info_line(caplog):
    caplog.set_level(logging.INFO, logger=LOGGER)
    recording = Recording(NoaaCdoReplay())
    pulled = _pull(recording, NOAA_SITES, dt.date(2024, 3, 20), dt.date(2024, 3, 20))
    assert [r.param("datasetid") or r.path for r in recording.requests] == [
        "GHCND",
        "PRECIP_HLY",
        "/cdo-web/api/v2/datasets/PRECIP_15",
    ]  # no PRECIP_15 /data request
    assert {p.meta["dataset"] for p in pulled} == {"GHCND", "PRECIP_HLY"}
    infos = [r for r in caplog.records if r.name == LOGGER and r.levelno == logging.INFO]
    assert len(infos) == 1
    assert infos[0].getMessage() == (
        "noaa_cdo: PRECIP_15's period of record is 1971-05-01..2013-12-31 (/datasets/PRECIP_15); the run window "
        "2024-03-20..2024-03-20 (local standard days 2024-03-01..2024-03-31) is outside it: no 15-minute "
        "precipitation requested"
    )


def test_no_datasets_request_without_a_coop_station():
    recording = Recording(NoaaCdoReplay())
    _pull(recording, [DENVER], dt.date(2013, 7, 8), dt.date(2013, 7, 8))
    assert recording.datasets() == [] and recording.data() == []
    assert [r.param("datasetid") for r in recording.requests] == ["GHCND", "PRECIP_HLY"]


def test_a_malformed_datasets_answer_fails_the_pull_naming_endpoint_and_sites():
    def handler(request: WireRequest) -> WireResponse:
        return _response({"mindate": "1971-05-01"} if "/datasets" in request.path else {})

    with pytest.raises(noaa_cdo.NoaaCdoResponseError) as info:
        _pull(handler, NOAA_SITES, dt.date(2013, 7, 8), dt.date(2013, 7, 8))
    assert str(info.value) == (
        "noaa_cdo: /datasets/PRECIP_15 (for site(s) [greensboro_nc, anchorage_ak]): 'id' is None, expected 'PRECIP_15'"
    )


def test_a_year_is_asked_in_whole_months_in_two_chunks_and_each_station_month_is_normalised_once():
    recording = Recording(NoaaCdoReplay())
    pulled = _pull(recording, NOAA_SITES, dt.date(2013, 1, 1), dt.date(2013, 12, 31))
    asked = [(r.param("startdate"), r.param("enddate"), r.param("offset")) for r in recording.data()]
    assert asked == [
        ("2012-12-01", "2013-11-30", "1"),
        ("2012-12-01", "2013-11-30", "1001"),  # more than 1000 wet or flagged intervals in 12 months
        ("2013-12-01", "2013-12-31", "1"),
    ]  # December 2012 (the day before the window) .. December 2013; January 2014 is after maxdate
    assert all(r.param("units") is None for r in recording.data())
    assert recording.datasets() == ["/cdo-web/api/v2/datasets/PRECIP_15"]

    pages = [p for p in pulled if p.meta["dataset"] == "PRECIP_15"]
    assert [(p.meta["page"], p.meta["pages"], p.start, p.end) for p in pages] == [
        (1, 2, dt.date(2013, 1, 1), dt.date(2013, 12, 1)),  # Nov 30 24:00 LST = Dec 1 05:00/09:00 UTC
        (2, 2, dt.date(2013, 1, 1), dt.date(2013, 12, 1)),
        (1, 1, dt.date(2013, 12, 1), dt.date(2013, 12, 31)),  # clipped to the run window
    ]
    assert all(p.meta["period_of_record"] == {"mindate": "1971-05-01", "maxdate": "2013-12-31"} for p in pages)
    owned = [tuple(m) for p in pages for m in p.meta["months"]]
    expected = [
        (s, m) for s in (GSO, ANC) for m in noaa_cdo.months_between(dt.date(2012, 12, 1), dt.date(2013, 12, 31))
    ]
    assert sorted(owned) == sorted(expected)  # every station-month exactly once
    assert pages[0].meta["unlisted"] == [[ANC, "2013-02"]]  # lists nothing: owned by the first page
    assert pages[1].meta["foreign"], "a station-month straddles the two pages"
    assert all(tuple(k) in {tuple(m) for m in pages[0].meta["months"]} for k in pages[1].meta["foreign"])

    frame = _frame(pulled)
    days = (dt.date(2013, 12, 31) - dt.date(2012, 12, 1)).days + 1
    assert frame.height == 2 * days * 96 and frame.select("site_id", "observed_at").is_duplicated().sum() == 0
    assert set(frame["site_id"]) == {"greensboro_nc", "anchorage_ak"}  # Denver has no COOP station
    counts = dict(frame.group_by("missing_reason").len().iter_rows())
    assert counts == {
        None: 2 * days * 96 - 2688 - 13 - 11 - 1 - 1,
        "not_reported": 28 * 96,  # Anchorage, February 2013
        "accumulation": 13,  # Anchorage: the intervals ending 14 Nov 23:00 .. 15 Nov 02:00 LST
        "missing_period": 11,  # Greensboro: the intervals ending 8 Jul 09:00 .. 11:30 LST
        "quality_flag": 1,
        "sentinel": 1,
    }
    outcome = split_valid(frame, Precipitation15Min, "observed_at")
    assert outcome.rejected.height == 0 and outcome.valid.height == frame.height

    # the same as the two pages' bodies merged into one body and normalised at once
    whole = json.loads(pages[0].response.body)
    whole["results"] += json.loads(pages[1].response.body)["results"]
    chunk_months = [[s, m] for s, m in expected if m != "2013-12"]
    one_body = {**pages[0].meta, "months": chunk_months, "tail": [], "foreign": []}
    merged = noaa_cdo.normalise_precipitation_15min(json.dumps(whole).encode(), one_body, pages[0].sites)
    paged = _frame(pages[:2]).sort("site_id", "observed_at")
    assert merged.height == 2 * 365 * 96 and merged.equals(paged)


def test_pulled_days_are_clipped_to_the_run_window_and_rows_cover_the_whole_month():
    recording = Recording(NoaaCdoReplay())
    pulled = _pull(recording, NOAA_SITES, dt.date(2013, 7, 8), dt.date(2013, 7, 8))
    assert len(recording.requests) == 4  # GHCND, PRECIP_HLY, /datasets, PRECIP_15 (REQUESTS_NOTE's one day)
    assert len(recording.requests) <= noaa_cdo.max_requests(3, dt.date(2013, 7, 8), dt.date(2013, 7, 8), 2)
    (page,) = [p for p in pulled if p.meta["dataset"] == "PRECIP_15"]
    assert (page.meta["startdate"], page.meta["enddate"]) == ("2013-07-01", "2013-07-31")
    assert (page.start, page.end) == (dt.date(2013, 7, 8), dt.date(2013, 7, 8))
    frame = _frame(pulled)
    assert frame.height == 2 * 31 * 96  # the platform keeps the run window's UTC day
    gso = _by_time(frame)
    assert gso[_utc(2013, 7, 8, 19, 15)]["precipitation_mm"] == pytest.approx(6 * HI_MM)  # 14:15 EST
    assert gso[_utc(2013, 7, 9, 5)]["precipitation_mm"] == pytest.approx(2 * HI_MM)  # "2013-07-08T24:00:00"


# --------------------------------------------------------------------------- the dense normaliser, case by case


def test_a_single_day_is_96_dense_rows_with_every_flag_case():
    rows = [
        _row("2013-06-12T08:15:00", 5),  # 13:15 UTC
        _row("2013-06-12T08:30:00", 0, "T,,HI"),  # trace
        _row("2013-06-12T08:45:00", 7, "E,,HI"),  # evaporation may have occurred: the value stands
        _row("2013-06-12T09:00:00", 2, ",,HT"),  # tenths of an inch
        _row("2013-06-12T09:00:00", 345, ",,HI", datatype="QGAG"),
        _row("2013-06-12T10:00:00", 40, ",Q,HI"),  # quality flag
        _row("2013-06-12T10:00:00", 99999, ",,HI", datatype="QGAG"),
        _row("2013-06-12T11:00:00", 99999),  # the sentinel, no flag says why
        _row("2013-06-12T12:00:00", 99999, "M,,HI"),  # one missing interval
        _row("2013-06-12T13:00:00", 99999, "{,,HI"),  # deleted: the intervals ending 13:00 .. 13:45
        _row("2013-06-12T13:30:00", 8),  # listed inside the deleted period: the period wins
        _row("2013-06-12T13:45:00", 99999, "},,HI"),
        _row("2013-06-12T14:45:00", 99999, "[,,HI"),  # missing: the intervals ending 14:45 .. 15:15
        _row("2013-06-12T15:00:00", 12, ",X,HI"),  # quality-flagged inside it: the period wins
        _row("2013-06-12T15:15:00", 99999, "],,HI"),
    ]
    frame = _normalise(rows, "2013-06-12")
    assert frame.columns == list(PRECIPITATION_15MIN_COLUMNS) and frame.schema == pl.Schema(PRECIPITATION_15MIN_COLUMNS)
    assert frame.height == 96
    assert frame["observed_at"].to_list() == [_utc(2013, 6, 12, 5) + dt.timedelta(minutes=15 * i) for i in range(1, 97)]
    gso = _by_time(frame)

    def at(hour: int, minute: int) -> tuple:
        r = gso[_utc(2013, 6, 12, hour + 5, minute)]  # EST: +5 h, in June too
        return (
            r["precipitation_mm"], r["gauge_mm"], r["listed"], r["sentinel"],
            r["measurement_flag"], r["quality_flag"], r["missing_reason"],
        )  # fmt: skip

    assert at(8, 0) == (0.0, None, False, False, None, None, None)  # not listed: dry
    assert at(8, 15) == (pytest.approx(1.27), None, True, False, None, None, None)
    assert at(8, 30) == (0.0, None, True, False, "T", None, None)
    assert at(8, 45) == (pytest.approx(1.778), None, True, False, "E", None, None)
    assert at(9, 0) == (pytest.approx(5.08), pytest.approx(87.63), True, False, None, None, None)
    assert at(10, 0) == (None, None, True, False, None, "Q", "quality_flag")
    assert at(11, 0) == (None, None, True, True, None, None, "sentinel")
    assert at(12, 0) == (None, None, True, True, "M", None, "missing_period")
    assert at(12, 45) == (0.0, None, False, False, None, None, None)  # before the deleted period
    assert at(13, 0) == (None, None, True, True, "{", None, "deleted_period")
    assert at(13, 15) == (None, None, False, False, None, None, "deleted_period")
    assert at(13, 30) == (None, None, True, False, None, None, "deleted_period")
    assert at(13, 45) == (None, None, True, True, "}", None, "deleted_period")
    assert at(14, 0) == (0.0, None, False, False, None, None, None)
    assert at(14, 45) == (None, None, True, True, "[", None, "missing_period")
    assert at(15, 0) == (None, None, True, False, None, "X", "missing_period")
    assert at(15, 15) == (None, None, True, True, "]", None, "missing_period")
    assert at(15, 30) == (0.0, None, False, False, None, None, None)
    reasons = frame["missing_reason"].value_counts().sort("missing_reason").rows()
    assert reasons == [(None, 86), ("deleted_period", 4), ("missing_period", 4), ("quality_flag", 1), ("sentinel", 1)]
    assert frame["accumulated_mm"].null_count() == 96 and frame[UNPARSED].null_count() == 96
    assert set(frame["station_id"]) == {GSO} and set(frame["source"]) == {"noaa-cdo"}
    assert split_valid(frame, Precipitation15Min, "observed_at").rejected.height == 0


def test_an_accumulation_across_local_midnight_has_its_total_on_the_closing_interval():
    rows = [
        _row("2013-11-14T20:00:00", 3, station=ANC),
        _row("2013-11-14T23:00:00", 99999, "a,,HI", station=ANC),
        _row("2013-11-15T02:00:00", 35, "A,,HI", station=ANC),
    ]
    frame = _normalise(rows, "2013-11-14", "2013-11-15", sites=(ANCHORAGE,))
    assert frame.height == 192
    anc = _by_time(frame, "anchorage_ak")
    inside = [t for t, r in anc.items() if r["missing_reason"] == "accumulation"]
    # AKST is UTC-9 all year: 14 Nov 23:00 LST -> 15 Nov 08:00 UTC; 15 Nov 02:00 LST -> 11:00 UTC
    assert inside == [_utc(2013, 11, 15, 8) + dt.timedelta(minutes=15 * i) for i in range(13)]
    assert all(anc[t]["precipitation_mm"] is None for t in inside)
    closing = anc[_utc(2013, 11, 15, 11)]
    assert (closing["accumulated_mm"], closing["measurement_flag"], closing["listed"]) == (
        pytest.approx(35 * HI_MM),
        "A",
        True,
    )
    assert anc[_utc(2013, 11, 15, 11, 15)]["precipitation_mm"] == 0.0
    assert anc[_utc(2013, 11, 15, 5)]["precipitation_mm"] == pytest.approx(3 * HI_MM)
    assert frame["accumulated_mm"].drop_nulls().to_list() == [pytest.approx(8.89)]


def test_periods_open_before_or_run_past_the_month():
    rows = [
        _row("2013-05-01T03:00:00", 99999, "],,HI"),  # a missing period that began in April
        _row("2013-05-01T09:00:00", 4),
        _row("2013-05-31T22:00:00", 99999, "a,,HI"),  # an accumulation that goes on into June
        _row("2013-05-31T24:00:00", 99999, "A,,HI"),  # "A" with 99999: continues next month
    ]
    frame = _normalise(rows, "2013-05-01", "2013-05-31")
    assert frame.height == 31 * 96
    gso = _by_time(frame)
    first_day = [gso[_utc(2013, 5, 1, 5) + dt.timedelta(minutes=15 * i)] for i in range(1, 97)]
    assert [r["missing_reason"] for r in first_day[:12]] == ["missing_period"] * 12  # 00:15 .. 03:00 LST
    assert first_day[12]["precipitation_mm"] == 0.0 and first_day[35]["precipitation_mm"] == pytest.approx(1.016)
    last = [gso[_utc(2013, 5, 31, 5) + dt.timedelta(minutes=15 * i)] for i in range(1, 97)]
    assert [r["missing_reason"] for r in last[-9:]] == ["accumulation"] * 9  # the intervals ending 22:00 .. 24:00
    assert last[-10]["precipitation_mm"] == 0.0
    assert (last[-1]["accumulated_mm"], last[-1]["sentinel"], last[-1]["measurement_flag"]) == (None, True, "A")

    continued = [
        _row("2013-06-01T00:15:00", 99999, ",,,HI"),  # measurement flag ',' (an accumulation from May)
        _row("2013-06-01T06:00:00", 61, "A,,HI"),
    ]
    june = _by_time(_normalise(continued, "2013-06-01"))
    reasons = [june[_utc(2013, 6, 1, 5) + dt.timedelta(minutes=15 * i)]["missing_reason"] for i in range(1, 97)]
    assert reasons == ["accumulation"] * 24 + [None] * 72
    assert june[_utc(2013, 6, 1, 11)]["accumulated_mm"] == pytest.approx(61 * HI_MM)
    assert june[_utc(2013, 6, 1, 5, 15)]["measurement_flag"] == ","

    unopened = _by_time(_normalise([_row("2013-06-02T01:00:00", 99999, "},,HI")], "2013-06-02"))
    assert [r["missing_reason"] for r in list(unopened.values())[:5]] == ["deleted_period"] * 4 + [None]


def test_a_month_that_lists_nothing_is_not_reported_and_gauge_rows_do_not_change_that():
    meta = {"months": [[ANC, "2013-02"]], "unlisted": [[ANC, "2013-02"]]}
    frame = _normalise([], "2013-02-01", "2013-02-28", sites=(ANCHORAGE,), **meta)
    assert frame.height == 28 * 96
    assert frame["missing_reason"].unique().to_list() == ["not_reported"]
    assert frame["precipitation_mm"].null_count() == frame.height and not frame["listed"].any()
    assert frame["observed_at"][0] == _utc(2013, 2, 1, 9, 15)  # 00:15 AKST

    gauge_only = [_row("2013-02-10T12:00:00", 412, ",,HI", station=ANC, datatype="QGAG")]
    frame = _normalise(gauge_only, "2013-02-10", sites=(ANCHORAGE,))
    assert frame["missing_reason"].unique().to_list() == ["not_reported"]  # QGAG never decides
    assert frame["gauge_mm"].drop_nulls().to_list() == [pytest.approx(104.648)]
    assert not frame["listed"].any()


def test_a_month_of_the_request_that_no_page_lists_is_densified_by_the_first_page_only():
    rows = [_row("2013-03-05T10:00:00", 3, station=ANC)]
    meta = {"months": [[GSO, "2013-03"], [ANC, "2013-03"]], "unlisted": [[GSO, "2013-03"]]}
    frame = _normalise(rows, "2013-03-01", "2013-03-31", sites=(GREENSBORO, ANCHORAGE), **meta)
    assert frame.height == 2 * 31 * 96
    assert {(r[0], r[1]): r[2] for r in frame.group_by("site_id", "missing_reason").len().iter_rows()} == {
        ("greensboro_nc", "not_reported"): 31 * 96,
        ("anchorage_ak", None): 31 * 96,
    }
    second_page = {"months": [], "foreign": [[ANC, "2013-03"]], "unlisted": []}
    assert _normalise(rows, "2013-03-01", "2013-03-31", sites=(GREENSBORO, ANCHORAGE), **second_page).height == 0


def test_local_standard_time_ignores_daylight_saving_in_january_july_and_on_the_change_day():
    rows = [_row("2013-01-10T14:15:00", 3), _row("2013-07-10T14:15:00", 4), _row("2013-03-10T02:15:00", 5)]
    for day, utc, value in (
        ("2013-01-10", _utc(2013, 1, 10, 19, 15), 3),
        ("2013-07-10", _utc(2013, 7, 10, 19, 15), 4),  # EST, not EDT: not 18:15
        ("2013-03-10", _utc(2013, 3, 10, 7, 15), 5),  # 02:15 LST exists (the clock skips 02:00 EST in EDT)
    ):
        gso = _by_time(_normalise(rows, day))
        assert gso[utc]["precipitation_mm"] == pytest.approx(value * HI_MM) and gso[utc]["listed"]
        assert len(gso) == 96  # the change day is 96 intervals in standard time, not 92
    anc = _by_time(
        _normalise([_row("2013-07-10T14:15:00", 4, station=ANC)], "2013-07-10", sites=(ANCHORAGE,)), "anchorage_ak"
    )
    assert anc[_utc(2013, 7, 10, 23, 15)]["precipitation_mm"] == pytest.approx(4 * HI_MM)  # AKST -9 in July


def test_t24_is_the_end_of_the_day_and_midnight_belongs_to_the_day_before():
    rows = [_row("2013-07-08T24:00:00", 2), _row("2013-07-31T24:00:00", 3), _row("2013-08-01T00:00:00", 9, station=ANC)]
    frame = _normalise(rows, "2013-07-01", "2013-07-31", sites=(GREENSBORO, ANCHORAGE))
    gso, anc = _by_time(frame), _by_time(frame, "anchorage_ak")
    assert gso[_utc(2013, 7, 9, 5)]["precipitation_mm"] == pytest.approx(2 * HI_MM)  # 8 Jul 23:45-24:00 EST
    assert gso[_utc(2013, 8, 1, 5)]["precipitation_mm"] == pytest.approx(3 * HI_MM)  # July's last interval
    assert anc[_utc(2013, 8, 1, 9)]["precipitation_mm"] == pytest.approx(9 * HI_MM)  # "08-01T00:00" is July's too
    assert frame.height == 2 * 31 * 96 and max(frame["observed_at"]) == _utc(2013, 8, 1, 9)
    assert noaa_cdo.interval_end("2013-12-31T24:00:00", "t") == dt.datetime(2014, 1, 1)


def test_units_tenths_and_hundredths_convert_exactly():
    frame = _normalise([_row("2013-06-12T10:00:00", 3, ",,HI"), _row("2013-06-12T10:15:00", 3, ",,HT")], "2013-06-12")
    gso = _by_time(frame)
    assert gso[_utc(2013, 6, 12, 15)]["precipitation_mm"] == 0.762  # exactly, not 0.7620000000000001
    assert gso[_utc(2013, 6, 12, 15, 15)]["precipitation_mm"] == 7.62


def test_the_documented_sample_gives_the_hand_computed_rows(payload):
    """data_precip15_raw.json: COOP:010008 (Alabama, Central: CST is UTC-6), 2010-05-01, no units."""
    site = Site("coop_al", "Coop AL", 33.0, -87.0, "America/Chicago", stations={"noaa_cdo_coop": "COOP:010008"})
    body = (FIXTURES / "data_precip15_raw.json").read_bytes()
    assert len(payload("noaa-cdo", "data_precip15_raw.json")["results"]) == 5
    frame = noaa_cdo.normalise_precipitation_15min(body, _meta("2010-05-01", "2010-05-01"), [site])

    def expected(slot: int) -> dict:  # slot 1..96: the interval ending at slot x 15 min LST
        row = {
            "site_id": "coop_al",
            "source": "noaa-cdo",
            "observed_at": dt.datetime(2010, 5, 1, 6) + dt.timedelta(minutes=15 * slot),
            "station_id": "COOP:010008",
            "precipitation_mm": 0.0,
            "gauge_mm": None,
            "accumulated_mm": None,
            "listed": False,
            "sentinel": False,
            "measurement_flag": None,
            "quality_flag": None,
            "missing_reason": None,
            UNPARSED: None,
        }
        if slot == 1:  # 00:15 "g,,HI" 0: day 1 of a month, zero
            row.update(listed=True, measurement_flag="g")
        elif slot == 57:  # 14:15 ",,HI" 3 -> 3 x 0.254
            row.update(listed=True, precipitation_mm=0.762)
        elif slot == 58:  # 14:30 ",,HI" 12
            row.update(listed=True, precipitation_mm=3.048)
        elif 64 <= slot <= 79:  # 16:00 "[" 99999 .. 19:45 "]" 99999: a missing period, both ends included
            row.update(precipitation_mm=None, missing_reason="missing_period")
            if slot in (64, 79):
                row.update(listed=True, sentinel=True, measurement_flag="[" if slot == 64 else "]")
        return row

    assert frame.to_dicts() == [expected(slot) for slot in range(1, 97)]
    assert frame["observed_at"][-1] == dt.datetime(2010, 5, 2, 6)


# --------------------------------------------------------------------------- unparsed values and shape errors


def test_a_text_value_is_null_with_its_raw_text_and_the_row_is_quarantined():
    rows = [
        _row("2013-06-12T10:00:00", 5),
        _row("2013-06-12T10:15:00", 7),
        _row("2013-06-12T10:15:00", 300, datatype="QGAG"),
        _row("2013-06-12T10:45:00", 99999, "a,,HI"),
        _row("2013-06-12T11:00:00", 40, "A,,HI"),
    ]
    good = _normalise(rows, "2013-06-12")
    bad_rows = [dict(r) for r in rows]
    bad_rows[1]["value"] = "7,5"
    bad_rows[2]["value"] = "NaN"
    bad_rows[4]["value"] = "abc"
    bad = _normalise(bad_rows, "2013-06-12")
    assert bad.schema == good.schema and bad.height == good.height == 96
    changed = {
        _utc(2013, 6, 12, 15, 15): {"precipitation_mm": None, "gauge_mm": None,
                                    UNPARSED: {"precipitation_mm": "7,5", "gauge_mm": "NaN"}},
        _utc(2013, 6, 12, 16): {"accumulated_mm": None, UNPARSED: {"accumulated_mm": "abc"}},
    }  # fmt: skip
    assert good[UNPARSED].null_count() == 96
    for before, after in zip(good.to_dicts(), bad.to_dicts(), strict=True):
        expected = {**before, **changed.get(before["observed_at"], {})}
        got = {**after, UNPARSED: json.loads(after[UNPARSED]) if after[UNPARSED] else None}
        assert got == expected
    assert good.filter(pl.col("observed_at") == _utc(2013, 6, 12, 16))["accumulated_mm"][0] == pytest.approx(10.16)

    outcome = split_valid(bad, Precipitation15Min, "observed_at")
    assert sorted(outcome.rejected["observed_at"].to_list()) == sorted(changed)
    assert all(UNPARSED_CHECK in check for check in outcome.rejected["failed_check"])
    assert outcome.valid.height == 94 and UNPARSED not in outcome.valid.columns


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (
            _row("2013-06-12T10:00:00", 3, ",,HX"),
            "station COOP:313630 2013-06-12T10:00:00 QPCP: unknown units flag 'HX'",
        ),
        (_row("2013-06-12T10:00:00", 3, "Z,,HI"), "2013-06-12T10:00:00 QPCP: unknown measurement flag 'Z'"),
        (
            _row("2013-06-12T10:00:00", 3, ",,"),
            "station COOP:313630 2013-06-12T10:00:00 QPCP: value 3 has no units flag",
        ),
        (_row("2013-06-12T10:00:00", 3, "T,,HI,7"), "'attributes' 'T,,HI,7' has 4 positions"),
        (
            _row("2013-06-12T10:00:00", 3, datatype="HPCP"),
            "station COOP:313630 2013-06-12T10:00:00 HPCP: datatype 'HPCP'",
        ),
        (
            _row("2013-06-12T10:10:00", 3),
            "station COOP:313630 2013-06-12T10:10:00 QPCP: 'date' '2013-06-12T10:10:00' does not end a 15-minute",
        ),
        (
            _row("12/06/2013 10:00", 3),
            "station COOP:313630 12/06/2013 10:00 QPCP: 'date' '12/06/2013 10:00' is not YYYY-MM-DDTHH:MM:SS",
        ),
        (_row("2013-06-12T10:00:00", 3, station="COOP:999999"), "station COOP:999999 is not among the requested"),
        (_row("2013-06-12T10:00:00", True), "station COOP:313630 2013-06-12T10:00:00 QPCP: 'value' is True"),
        (_row("2013-06-12T10:00:00", 3, ["HI"]), "2013-06-12T10:00:00 QPCP: 'attributes' is \\['HI'\\]"),
        (
            {"date": "2013-06-12T10:00:00", "station": GSO, "value": 3},
            "a result \\(station 'COOP:313630', date '2013-06-12T10:00:00'\\) lacks \\['datatype'\\]",
        ),
    ],
)
def test_bodies_without_the_documented_shape_raise_naming_the_station(row, message):
    with pytest.raises(noaa_cdo.NoaaCdoResponseError, match=message) as info:
        _normalise([row], "2013-06-12")
    assert str(info.value).startswith("noaa_cdo: PRECIP_15 offset 1 for site(s) [greensboro_nc]: ")


def test_conflicting_copies_and_a_meta_without_the_request_fail_clearly():
    twice = [_row("2013-06-12T24:00:00", 3), _row("2013-06-13T00:00:00", 4)]
    with pytest.raises(noaa_cdo.NoaaCdoResponseError, match="2013-06-13T00:00:00 QPCP: the interval is listed twice"):
        _normalise(twice, "2013-06-12")
    same = [_row("2013-06-12T24:00:00", 3), _row("2013-06-13T00:00:00", 3)]  # the same listing twice: one row
    assert _by_time(_normalise(same, "2013-06-12"))[_utc(2013, 6, 13, 5)]["precipitation_mm"] == 0.762
    body = _body([_row("2013-06-12T10:00:00", 3)])
    with pytest.raises(noaa_cdo.NoaaCdoResponseError, match="the landed meta's 'startdate' is None"):
        noaa_cdo.normalise_precipitation_15min(body, {"dataset": "PRECIP_15"}, [GREENSBORO])
    with pytest.raises(noaa_cdo.NoaaCdoResponseError, match="the landed meta's 'months' has \\['COOP:313630'\\]"):
        noaa_cdo.normalise_precipitation_15min(body, _meta("2013-06-12", "2013-06-12", months=[[GSO]]), [GREENSBORO])
    with pytest.raises(noaa_cdo.NoaaCdoResponseError, match="read raw only, got units='metric'"):
        noaa_cdo.normalise_precipitation_15min(
            body, {**_meta("2013-06-12", "2013-06-12"), "units": "metric"}, [GREENSBORO]
        )


def test_each_normaliser_skips_the_other_datasets_bodies(payload):
    precip15 = (FIXTURES / "data_precip15_raw.json").read_bytes()
    site = Site(
        "c", "C", 33.0, -87.0, "America/Chicago", stations={"noaa_cdo": "GHCND:X", "noaa_cdo_coop": "COOP:010008"}
    )
    meta = _meta("2010-05-01", "2010-05-01")
    assert noaa_cdo.normalise_daily(precip15, meta, [site]).schema == pl.Schema(DAILY_COLUMNS)
    assert noaa_cdo.normalise_daily(precip15, meta, [site]).height == 0
    assert noaa_cdo.normalise_hourly(precip15, meta, [site]).height == 0
    assert noaa_cdo.normalise_hourly(precip15, meta, [site]).schema == pl.Schema(OBSERVATION_COLUMNS)
    assert noaa_cdo.normalise_precipitation_15min(precip15, meta, [site]).height == 96
    ghcnd = (FIXTURES / "data_ghcnd_metric.json").read_bytes()
    for dataset in ("GHCND", "PRECIP_HLY", None):
        other = {"dataset": dataset, "units": "metric"} if dataset else {}
        empty = noaa_cdo.normalise_precipitation_15min(ghcnd, other, [site])
        assert empty.height == 0 and empty.schema == pl.Schema(PRECIPITATION_15MIN_COLUMNS)
    empty = noaa_cdo.normalise_precipitation_15min(b"{}", _meta("2010-05-01", "2010-05-01"), [site])
    assert empty.height == 0  # `{}` and no `months`: nothing this body can vouch for


# --------------------------------------------------------------------------- over a real 127.0.0.1 server


def _paged_server_handler(pages: dict[int, list[dict]], count: int):
    """GHCND and PRECIP_HLY: `{}`; /datasets/PRECIP_15: the documented item; PRECIP_15: `pages` by offset."""

    def handler(request: WireRequest) -> WireResponse:
        if request.path.endswith("/datasets/PRECIP_15"):
            return _response(PRECIP15_DATASET)
        if request.param("datasetid") != "PRECIP_15":
            return _response({})
        offset = int(request.param("offset") or 1)
        meta = {"resultset": {"offset": offset, "count": count, "limit": 1000}}
        return _response({"metadata": meta, "results": pages[offset]})

    return handler


def test_an_accumulation_straddling_two_pages_is_normalised_once_over_a_real_server():
    """The 'a' of Anchorage's accumulation on page 1, its 'A' on page 2 (count 1002 as the server reports it)."""
    page1 = [_row("2013-11-14T20:00:00", 3, station=ANC), _row("2013-11-14T23:00:00", 99999, "a,,HI", station=ANC)]
    page2 = [
        _row("2013-11-14T23:00:00", 99999, "a,,HI", station=ANC),  # a page may repeat a row
        _row("2013-11-15T02:00:00", 35, "A,,HI", station=ANC),
        _row("2013-11-20T11:00:00", 8),  # Greensboro's November starts on page 2
    ]
    handler = _paged_server_handler({1: page1, 1001: page2}, count=1002)
    with LocalServer(handler) as server:
        with ProviderHttpClient(noaa_cdo.SPEC.policy, headers={"token": "t0ken"}, sleep=lambda s: None) as client:
            fetch = Fetcher(client, server.url("/cdo-web/api/v2"))
            pulled = list(noaa_cdo.pull_history(fetch, NOAA_SITES, dt.date(2013, 11, 15), dt.date(2013, 11, 15)))
        received = list(server.requests)
        assert not server.errors
    assert [r.param("datasetid") or r.path for r in received] == [
        "GHCND", "PRECIP_HLY", "/cdo-web/api/v2/datasets/PRECIP_15", "PRECIP_15", "PRECIP_15",
    ]  # fmt: skip
    assert all(r.headers.get("token") == "t0ken" for r in received)
    first, second = [p for p in pulled if p.meta["dataset"] == "PRECIP_15"]
    assert (first.meta["startdate"], first.meta["enddate"]) == ("2013-11-01", "2013-11-30")
    assert first.meta["months"] == [[ANC, "2013-11"]] and first.meta["tail"] == page2[:2]  # the repeat too
    assert second.meta["months"] == [[GSO, "2013-11"]] and second.meta["foreign"] == [[ANC, "2013-11"]]
    assert first.meta["unlisted"] == [] and (first.start, first.end) == (dt.date(2013, 11, 15), dt.date(2013, 11, 15))

    frame = _frame(pulled)
    assert frame.height == 2 * 30 * 96 and frame.select("site_id", "observed_at").is_duplicated().sum() == 0
    anc = _by_time(frame, "anchorage_ak")
    assert [t for t, r in anc.items() if r["missing_reason"] == "accumulation"] == [
        _utc(2013, 11, 15, 8) + dt.timedelta(minutes=15 * i) for i in range(13)
    ]
    assert anc[_utc(2013, 11, 15, 11)]["accumulated_mm"] == pytest.approx(8.89)
    assert _by_time(frame)[_utc(2013, 11, 20, 16)]["precipitation_mm"] == pytest.approx(8 * HI_MM)


def test_the_replay_over_a_real_server_gives_the_injected_2013_days():
    with LocalServer(NoaaCdoReplay()) as server:
        with ProviderHttpClient(noaa_cdo.SPEC.policy, headers={"token": "t0ken"}, sleep=lambda s: None) as client:
            fetch = Fetcher(client, server.url("/cdo-web/api/v2"))
            pulled = list(noaa_cdo.pull_history(fetch, NOAA_SITES, dt.date(2013, 3, 10), dt.date(2013, 3, 10)))
        assert not server.errors
        asked = [
            (r.param("startdate"), r.param("enddate")) for r in server.requests if r.param("datasetid") == "PRECIP_15"
        ]
    assert asked == [("2013-03-01", "2013-03-31")]
    frame = _frame(pulled)
    gso = _by_time(frame)
    # the DST change day: 02:15 .. 03:00 EST -> 07:15 .. 08:00 UTC, no shift
    times = [_utc(2013, 3, 10, 7, 15), _utc(2013, 3, 10, 7, 30), _utc(2013, 3, 10, 7, 45), _utc(2013, 3, 10, 8)]
    assert [gso[t]["precipitation_mm"] for t in times] == [pytest.approx(v * HI_MM) for v in (5, 12, 8, 3)]
    assert all(gso[t]["listed"] for t in times)
    assert gso[_utc(2013, 3, 10, 7)]["precipitation_mm"] == 0.0
    assert split_valid(frame, Precipitation15Min, "observed_at").rejected.height == 0


def test_a_busy_datasets_endpoint_and_a_rate_limited_page_are_retried_over_a_real_server(caplog):
    """The 15-minute path goes through the same HTTP policy: a 503 proxy page on /datasets/PRECIP_15 and the
    documented 5-per-second 429 on the second page are retried (Retry-After honoured), and the rows are those
    of a clean pull."""
    page1 = [_row("2013-11-14T23:00:00", 99999, "a,,HI", station=ANC)]
    page2 = [_row("2013-11-15T02:00:00", 35, "A,,HI", station=ANC)]
    clean = _paged_server_handler({1: page1, 1001: page2}, count=1001)
    failed: set[str] = set()

    def flaky(request: WireRequest) -> WireResponse:
        if request.path.endswith("/datasets/PRECIP_15") and "datasets" not in failed:
            failed.add("datasets")
            return WireResponse(503, b"<html><body>Service Temporarily Unavailable</body></html>", {})
        if request.param("offset") == "1001" and request.param("datasetid") == "PRECIP_15" and "page" not in failed:
            failed.add("page")
            body = {"status": "429", "message": "This token has reached its temporary request limit of 5 per second."}
            return WireResponse(429, json.dumps(body).encode(), {"Retry-After": "1"})
        return clean(request)

    waits: list[float] = []
    window = (dt.date(2013, 11, 15), dt.date(2013, 11, 15))
    caplog.set_level(logging.WARNING)
    with LocalServer(flaky) as server:
        with ProviderHttpClient(noaa_cdo.SPEC.policy, headers={"token": "t0ken"}, sleep=waits.append) as client:
            pulled = list(noaa_cdo.pull_history(Fetcher(client, server.url("/cdo-web/api/v2")), NOAA_SITES, *window))
        received = [r.param("datasetid") or r.path.rsplit("/", 2)[-2] for r in server.requests]
        assert not server.errors
    assert failed == {"datasets", "page"}
    assert received == ["GHCND", "PRECIP_HLY", "datasets", "datasets", "PRECIP_15", "PRECIP_15", "PRECIP_15"]
    assert 1.0 in waits and "retrying" in caplog.text
    with LocalServer(clean) as server:
        with ProviderHttpClient(noaa_cdo.SPEC.policy, headers={"token": "t0ken"}, sleep=lambda s: None) as client:
            reference = list(noaa_cdo.pull_history(Fetcher(client, server.url("/cdo-web/api/v2")), NOAA_SITES, *window))
    assert _frame(pulled).equals(_frame(reference))
    assert _frame(pulled).filter(pl.col("missing_reason") == "accumulation").height == 13
