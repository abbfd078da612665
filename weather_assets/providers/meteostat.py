"""Meteostat bulk data: keyless hourly station time series, one gzip CSV per station and year.

Pure client code: which files a window needs, the HTTP calls through the shared policy, and the
normaliser from the bulk CSV to the canonical hourly schema. This provider lands station observations:
cells Meteostat filled with model output are NULLed (MODEL_SOURCES). No Dagster, no httpx here.
Formats, units and quirks: docs/providers/meteostat.md; the decisions the doc leaves open are tested in
weather_assets_tests/providers/test_meteostat.py.
"""

from __future__ import annotations

import datetime as dt
import gzip
import io
import logging
import re
import zlib
from collections.abc import Iterator, Mapping, Sequence
from typing import Any
from urllib.parse import quote

import polars as pl

from weather_assets.providers import spec
from weather_assets.providers.base import WireResponse
from weather_assets.providers.http import HttpPolicy, ProviderHttpError, RateWindow, RetryDecision
from weather_assets.providers.parsing import DECIMAL_PATTERN
from weather_assets.providers.spec import Fetcher, History, ProviderSpec, Pulled
from weather_assets.sites.catalog import Site

log = logging.getLogger(__name__)

NAME = "meteostat"  # registry / asset-key name
SOURCE = "meteostat"  # value of the `source` column (docs/providers/README.md)
STATION_KEY = "meteostat"  # Site.stations key
WEATHER_CODE_SYSTEM = "meteostat_coco"  # Meteostat weather condition codes 1-27
# The host the current docs recommend; the legacy `bulk.meteostat.net/v2` files "will no longer receive updates
# starting January 2026". They live at the same relative path under `.../v2`, so pointing
# WEATHER_ASSETS_METEOSTAT_URL there works too: the normaliser reads both layouts (`_read_table`).
DEFAULT_URL = "https://data.meteostat.net"
HOURLY_PATH = "/hourly/{year}/{station}.csv.gz"

# Sources whose values are model output, not observations (meteostat-python 1.7 `_source_mappings`
# entries flagged "E"): such cells are NULLed. Compared case-insensitively, per space-separated token.
# Bulk files fill gaps with model output and carry future-dated forecast rows (doc quirk 1); a row left
# with no observed value is dropped. Legacy files have no source columns: their model rows are kept.
MODEL_SOURCES = frozenset({"model", "dwd_mosmix", "metno_forecast"})

# Legacy bulk.meteostat.net/v2 hourly files: no header, this fixed column order (doc table [M2]).
LEGACY_HOURLY_COLUMNS = tuple("date hour temp dwpt rhum prcp snow wdir wspd wpgt pres tsun coco".split())
LEGACY_DAILY_COLUMN_COUNT = 11  # date, tavg, tmin, tmax, prcp, snow, wdir, wspd, wpgt, pres, tsun
DATE_PARTS = ("year", "month", "day", "hour")

# Meteostat column -> (canonical column, factor). Units per the doc: °C, %, mm, degrees, hPa; wind km/h.
_MEASURES: dict[str, tuple[str, float]] = {
    "temp": ("temperature_c", 1.0),
    "rhum": ("relative_humidity_pct", 1.0),
    "dwpt": ("dew_point_c", 1.0),
    "pres": ("pressure_msl_hpa", 1.0),
    "wspd": ("wind_speed_ms", 1 / 3.6),
    "wdir": ("wind_direction_deg", 1.0),
    "wpgt": ("wind_gust_ms", 1 / 3.6),
    "prcp": ("precipitation_mm", 1.0),  # the one-hour total at that (UTC) hour: the preceding hour's
    "cldc": ("cloud_cover_pct", 12.5),  # okta 0-8 -> %
    "coco": ("weather_code", 1.0),
}
# Dew point: `dwpt` as reported where the file has it (legacy files); the new layout has none, so it is
# derived from `temp` and `rhum` with the Magnus formula (Alduchov & Eskridge 1996), rounded to 0.1 °C like
# the inputs; NULL when an input is NULL (or model data) or `rhum` <= 0.
MAGNUS_A = 17.625
MAGNUS_B = 243.04  # °C

_GZIP_MAGIC = b"\x1f\x8b"
_STATION_RE = re.compile(r"[A-Za-z0-9]{1,16}")
_LEGACY_DATE_RE = re.compile(rb"\d{4}-\d{2}-\d{2}")

# No published rate limit for the bulk host, only "make sure to cache data if possible" [M1]. 30 files
# a minute (one every 2 s on average, bursts of at most 30) fetches the bundled catalog's 13 stations
# for a year at once, a 20-year backfill of it in ~9 minutes, and stays far below what one sequential
# downloader would take from a file host.
RATE_LIMITS = (RateWindow(30, 60),)


class MeteostatResponseError(ValueError):
    """A body that is not a Meteostat hourly bulk file we can read."""


# --------------------------------------------------------------------------- HTTP policy


def _gunzip(body: bytes) -> bytes:
    """The body, decompressed if it is gzip (by magic bytes; Content-Encoding is not trusted)."""
    return gzip.decompress(body) if body[:2] == _GZIP_MAGIC else body


def _describe_error(response: WireResponse) -> str | None:
    """The reason in a non-CSV error body: an HTML <title>, an S3-style XML <Code>/<Message>."""
    body = response.body
    if body[:2] == _GZIP_MAGIC:
        return f"gzip body of {len(body)} bytes"
    text = body[:4000].decode("utf-8", "replace")
    parts = [
        m.group(1).strip()
        for tag in ("title", "Code", "Message")
        for m in [re.search(rf"<{tag}>(.*?)</{tag}>", text, re.IGNORECASE | re.DOTALL)]
        if m
    ]
    return " - ".join(p for p in parts if p) or None


def _classify(response: WireResponse) -> RetryDecision | None:
    """2xx answers must be a bulk file; everything else follows the shared rules (429/5xx retried).

    A complete 2xx body that is not a bulk file (empty, an HTML/XML page, JSON) is the server's answer and
    fails at once. A gzip body that ends early may be a cut-off transfer: one retry, not more (a file
    stored truncated would come back the same).
    """
    if not 200 <= response.status < 300:
        return None
    body = response.body
    if not body:
        return RetryDecision(retry=False, reason="empty 2xx body, expected a gzip CSV; not retried")
    if body[:2] == _GZIP_MAGIC:
        try:
            gzip.decompress(body)
        except (EOFError, OSError, zlib.error) as exc:
            return RetryDecision(retry=True, once=True, reason=f"truncated or corrupt gzip body ({exc}); retried once")
        return None
    head = body.lstrip()[:1]
    if head == b"<":
        return RetryDecision(
            retry=False, reason="an HTML/XML page instead of a gzip CSV (CDN error page?); not retried"
        )
    if head in (b"{", b"["):
        return RetryDecision(
            retry=False,
            reason=f"a JSON body, not a bulk CSV file: is {NAME.upper()} pointed at the RapidAPI JSON API?",
        )
    return None  # a plain CSV (a server that applied Content-Encoding: gzip, decoded by the client)


POLICY = HttpPolicy(
    provider=NAME,
    connect_timeout_s=10.0,
    read_timeout_s=60.0,  # a station-year is well under a few MB
    rate_limits=RATE_LIMITS,
    expect_json=False,
    classify=_classify,
    describe_error=_describe_error,
)


# --------------------------------------------------------------------------- pulling


def station_groups(sites: Sequence[Site]) -> dict[str, tuple[Site, ...]]:
    """Distinct Meteostat station ids in first-seen order, each with the sites it serves."""
    groups: dict[str, list[Site]] = {}
    for site in sites:
        station = site.stations.get(STATION_KEY)
        if not station:
            raise ValueError(f"{NAME}: site {site.id} has no stations.{STATION_KEY} id")
        if not _STATION_RE.fullmatch(station):
            raise ValueError(f"{NAME}: site {site.id}: {station!r} is not a Meteostat station id ([A-Za-z0-9]+)")
        groups.setdefault(station, []).append(site)
    return {station: tuple(group) for station, group in groups.items()}


def years_touched(start: dt.date, end: dt.date) -> range:
    if end < start:
        raise ValueError(f"{NAME}: end date {end} is before start date {start}")
    return range(start.year, end.year + 1)


def hourly_path(station: str, year: int) -> str:
    return HOURLY_PATH.format(year=year, station=quote(station, safe=""))


def pull_hourly(fetch: Fetcher, sites: Sequence[Site], start: dt.date, end: dt.date) -> Iterator[Pulled]:
    """One GET per distinct station per calendar year of [start, end]; a 404 year yields nothing.

    404 is documented as "this station has no hourly data for that year", not a failure. The shared client
    cannot turn a non-2xx answer into a success from `classify`, and catching it here keeps every other
    status on the shared rules (429/5xx retried, 403/other 4xx final).
    """
    years = years_touched(start, end)
    for station, group in station_groups(sites).items():
        ids = ", ".join(s.id for s in group)
        for year in years:
            what = f"station {station} ({ids}) hourly {year}"
            try:
                response = fetch.get(hourly_path(station, year), cost=1.0, what=what)
            except ProviderHttpError as exc:
                if exc.status != 404:
                    raise
                log.info("%s: no hourly file for %s (HTTP 404): no rows for that station-year", NAME, what)
                continue
            yield Pulled(
                response,
                group,
                max(start, dt.date(year, 1, 1)),
                min(end, dt.date(year, 12, 31)),
                1.0,
                {"station": station, "year": year, "granularity": "hourly"},
            )


# --------------------------------------------------------------------------- normaliser


def normalise_hourly(
    body: bytes, meta: Mapping[str, Any], sites: Sequence[Site], *, include_model: bool = False
) -> pl.DataFrame:
    """A Meteostat hourly bulk file (gzip or plain; current or legacy layout) -> canonical rows per site."""
    station = meta.get("station", "?")
    where = f"{NAME}: station {station} ({', '.join(s.id for s in sites) or 'no site'})"
    if not sites:
        raise MeteostatResponseError(f"{where}: no site to attribute the rows to")
    try:
        text = _gunzip(body)
    except (EOFError, OSError, zlib.error) as exc:
        raise MeteostatResponseError(f"{where}: body is not readable gzip ({exc})") from None
    text = text.removeprefix(b"\xef\xbb\xbf")
    first_line = text.lstrip().split(b"\n", 1)[0].strip()
    if not first_line:
        return spec.empty_frame(spec.OBSERVATION_COLUMNS)
    raw = _read_table(text, first_line, where)
    if raw.height == 0:
        return spec.empty_frame(spec.OBSERVATION_COLUMNS)

    frame = _measures(raw, where, include_model).with_columns(
        pl.lit(SOURCE, pl.String).alias("source"), pl.lit(WEATHER_CODE_SYSTEM, pl.String).alias("weather_code_system")
    )
    frames = [frame.with_columns(pl.lit(site.id, pl.String).alias("site_id")) for site in sites]
    return spec.conform(pl.concat(frames, how="vertical"), spec.OBSERVATION_COLUMNS)


def _read_table(text: bytes, first_line: bytes, where: str) -> pl.DataFrame:
    """The CSV as strings with an `observed_at` column, whichever layout it has: told apart by content, a
    header row `year,month,day,hour,...` or a headerless 13-column legacy row. Daily files (either layout)
    and RapidAPI JSON bodies are rejected with an error naming the format."""
    first_field = first_line.split(b",", 1)[0].strip().strip(b'"').lower()
    if first_line[:1] in (b"{", b"["):
        raise MeteostatResponseError(
            f"{where}: body is JSON (the RapidAPI JSON API's {{meta, data}} shape?), not a bulk CSV file"
        )
    if first_line[:1] == b"<":
        raise MeteostatResponseError(f"{where}: body is an HTML/XML page, not a bulk CSV file")
    try:
        if first_field == b"year":
            return _read_current(text, where)
        if _LEGACY_DATE_RE.fullmatch(first_field):
            return _read_legacy(text, first_line, where)
    except pl.exceptions.PolarsError as exc:
        raise MeteostatResponseError(f"{where}: unreadable CSV: {_first_line_of(exc)}") from None
    raise MeteostatResponseError(
        f"{where}: unrecognised layout: the first line {first_line[:80].decode('utf-8', 'replace')!r} is "
        "neither a data.meteostat.net header (year,month,day,hour,...) nor a legacy v2 row (YYYY-MM-DD,hour,...)"
    )


def _read_current(text: bytes, where: str) -> pl.DataFrame:
    """data.meteostat.net: header row; parse by name, never by position (doc quirk 2)."""
    raw = pl.read_csv(io.BytesIO(text), infer_schema=False)
    raw = raw.rename({c: c.strip().lower() for c in raw.columns})
    missing = [c for c in DATE_PARTS if c not in raw.columns]
    if missing == ["hour"]:
        raise MeteostatResponseError(
            f"{where}: a data.meteostat.net daily file (no 'hour' column); this provider reads hourly files"
        )
    if missing:
        raise MeteostatResponseError(f"{where}: the header lacks date column(s) {missing}: {raw.columns}")
    parts = {}
    for name in DATE_PARTS:
        parts[name] = _numbers(raw[name], pl.Int32, where, name)
        if parts[name].null_count():
            raise MeteostatResponseError(f"{where}: empty '{name}' in {parts[name].null_count()} row(s)")
    observed_at = _datetimes(parts["year"], parts["month"], parts["day"], parts["hour"], where)
    return raw.drop(list(DATE_PARTS)).with_columns(observed_at)


def _read_legacy(text: bytes, first_line: bytes, where: str) -> pl.DataFrame:
    """bulk.meteostat.net/v2: no header, fixed columns; validate the column count (doc quirk 2)."""
    n = len(first_line.split(b","))
    if n == LEGACY_DAILY_COLUMN_COUNT:
        raise MeteostatResponseError(
            f"{where}: a legacy bulk.meteostat.net/v2 daily file ({n} columns: date, tavg, tmin, ...); "
            "this provider reads hourly files"
        )
    if n != len(LEGACY_HOURLY_COLUMNS):
        raise MeteostatResponseError(
            f"{where}: a legacy bulk.meteostat.net/v2 row has {n} columns, expected "
            f"{len(LEGACY_HOURLY_COLUMNS)} ({', '.join(LEGACY_HOURLY_COLUMNS)})"
        )
    raw = pl.read_csv(io.BytesIO(text), has_header=False, new_columns=list(LEGACY_HOURLY_COLUMNS), infer_schema=False)
    if raw["date"].null_count() or raw["hour"].null_count():
        raise MeteostatResponseError(f"{where}: a legacy row without date or hour")
    try:
        day = raw["date"].str.strip_chars().str.strptime(pl.Date, "%Y-%m-%d", strict=True)
    except pl.exceptions.PolarsError as exc:
        raise MeteostatResponseError(f"{where}: bad legacy 'date': {_first_line_of(exc)}") from None
    hour = _numbers(raw["hour"], pl.Int32, where, "hour")
    observed_at = _datetimes(day.dt.year(), day.dt.month(), day.dt.day(), hour, where)
    return raw.drop(["date", "hour"]).with_columns(observed_at)


def _datetimes(year: pl.Series, month: pl.Series, day: pl.Series, hour: pl.Series, where: str) -> pl.Series:
    bad = int(((hour < 0) | (hour > 23)).sum())
    if bad:
        raise MeteostatResponseError(f"{where}: {bad} row(s) with an hour outside 0..23")
    parts = pl.DataFrame({"y": year, "m": month, "d": day, "h": hour})
    try:
        return parts.select(
            pl.datetime(pl.col("y"), pl.col("m"), pl.col("d"), pl.col("h"), time_unit="us").alias("observed_at")
        ).to_series()
    except pl.exceptions.PolarsError as exc:
        raise MeteostatResponseError(f"{where}: invalid date: {_first_line_of(exc)}") from None


def _numbers(column: pl.Series, dtype: pl.DataType, where: str, name: str) -> pl.Series:
    """Strings -> numbers; an empty cell is NULL, anything non-numeric is a shape error."""
    stripped = column.str.strip_chars().replace("", None)
    try:
        values = stripped.cast(pl.Float64, strict=True)
    except pl.exceptions.PolarsError:
        bad = stripped.filter(stripped.cast(pl.Float64, strict=False).is_null() & stripped.is_not_null())
        raise MeteostatResponseError(
            f"{where}: column '{name}' has non-numeric value(s) {bad.head(3).to_list()}"
        ) from None
    if dtype == pl.Float64:
        return values.rename(name)
    fractional = values.filter(values.is_not_null() & (values != values.round(0)))
    if fractional.len():
        raise MeteostatResponseError(f"{where}: column '{name}' must hold integers, got {fractional.head(3).to_list()}")
    return values.cast(dtype).rename(name)


def _measure_cells(cells: pl.Series, integer: bool) -> tuple[pl.Series, pl.Series]:
    """A measure column's text cells -> (Float64 values, the raw text of the cells that do not parse, else
    null). An empty cell is NULL; a cell that is not a decimal number ("abc", "12,5"), or for `coco` not a
    whole number, does not parse (spec.py UNPARSED): NULL, its text kept for the row's `unparsed`."""
    text = pl.col("cell").str.strip_chars().replace("", None)
    number = pl.when(text.str.contains(DECIMAL_PATTERN)).then(text.cast(pl.Float64, strict=False))
    bad = text.is_not_null() & (number.is_null() | number.is_infinite())
    if integer:
        bad = bad | (number.is_not_null() & (number != number.round(0)))
    read = pl.DataFrame({"cell": cells}).select(
        pl.when(~bad).then(number).alias("value"), pl.when(bad).then(pl.col("cell")).alias("raw")
    )
    return read["value"], read["raw"]


def _unparsed_column(raws: dict[str, pl.Series], n: int) -> pl.Series:
    """The rows' `unparsed` JSON from each canonical column's raw text of the cells that did not parse."""
    marks: list[str | None] = [None] * n
    if raws:
        table = pl.DataFrame(raws)
        for i in table.select(pl.any_horizontal(pl.all().is_not_null())).to_series().arg_true():
            marks[i] = spec.unparsed_json({c: raw for c, raw in table.row(i, named=True).items() if raw is not None})
    return pl.Series(spec.UNPARSED, marks, dtype=pl.String)


def _is_model(source: pl.Expr) -> pl.Expr:
    tokens = source.str.to_lowercase().str.strip_chars().str.split(" ")
    return tokens.list.eval(pl.element().is_in(sorted(MODEL_SOURCES))).list.any().fill_null(False)


def _measures(raw: pl.DataFrame, where: str, include_model: bool) -> pl.DataFrame:
    """`observed_at` and the canonical measures (SI units), model cells NULLed and model-only rows dropped;
    `unparsed` lists the kept cells that do not parse (`_measure_cells`)."""
    n = raw.height
    values: list[pl.Series] = [raw["observed_at"]]
    raws: dict[str, pl.Series] = {}
    model_cells = pl.Series("model", [False] * n, dtype=pl.Boolean)
    for column in _MEASURES:
        if column not in raw.columns:
            continue
        series, unreadable = _measure_cells(raw[column], integer=column == "coco")
        source = f"{column}_source"
        if not include_model and source in raw.columns:
            is_model = raw.select(_is_model(pl.col(source))).to_series()
            model_cells = model_cells | (is_model & (series.is_not_null() | unreadable.is_not_null()))
            series = series.zip_with(~is_model, pl.Series([None] * n, dtype=series.dtype))
            unreadable = unreadable.zip_with(~is_model, pl.Series([None] * n, dtype=pl.String))
        values.append((series.cast(pl.Int32) if column == "coco" else series).rename(column))
        if unreadable.null_count() < n:
            raws[_MEASURES[column][0]] = unreadable
    frame = pl.DataFrame(values)

    exprs = [pl.col("observed_at")]
    for column, (canonical, factor) in _MEASURES.items():
        if column in frame.columns:
            exprs.append((pl.col(column) * factor if factor != 1.0 else pl.col(column)).alias(canonical))
    if "dwpt" not in frame.columns and {"temp", "rhum"} <= set(frame.columns):
        exprs.append(magnus_dew_point(pl.col("temp"), pl.col("rhum")).alias("dew_point_c"))
    out = frame.select(exprs)
    measures = [c for c in out.columns if c != "observed_at"]
    observed = pl.any_horizontal([pl.col(c).is_not_null() for c in measures]) if measures else pl.lit(False)
    out = out.with_columns(_unparsed_column(raws, n))
    # Keep every row that still holds an observation or a value that did not parse, and the file's own
    # all-empty rows; drop only rows that held nothing but model data (gap fill, future-dated forecasts).
    return out.filter(observed | pl.col(spec.UNPARSED).is_not_null() | ~model_cells)


def magnus_dew_point(temp_c: pl.Expr, rhum_pct: pl.Expr) -> pl.Expr:
    """Dew point (°C, 0.1 precision) from temperature and relative humidity; NULL where undefined."""
    gamma = (rhum_pct / 100).log() + MAGNUS_A * temp_c / (MAGNUS_B + temp_c)
    dew = (MAGNUS_B * gamma / (MAGNUS_A - gamma)).round(1)
    return pl.when((rhum_pct > 0) & (temp_c > -MAGNUS_B)).then(dew).otherwise(None)


def _first_line_of(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


# --------------------------------------------------------------------------- the platform's contract


SPEC = ProviderSpec(
    name=NAME,
    source=SOURCE,
    title="Meteostat bulk hourly station data (data.meteostat.net, keyless)",
    default_url=DEFAULT_URL,
    policy=POLICY,
    history=History(
        pull=pull_hourly,
        # "Recent hourly data should be available after a maximum of 24 hours" [M1]: day D's last hour
        # (23:00) is in the file by 23:00 on D+1 at the latest, so D is complete from D+2 on.
        lag_days=2,
        hourly=normalise_hourly,
    ),
    station_key=STATION_KEY,
    requests_note=(
        "One GET per distinct Meteostat station per calendar year the window touches (the bulk file is "
        "one gzip CSV per station-year): requests = S stations x Y calendar years, e.g. one day = S, "
        "2023-12-31..2024-01-01 = 2 x S, a year = S. A station-year without data answers HTTP 404 and "
        "yields no rows (the request still counts). Each run downloads whole year files even for a "
        "one-day partition, and re-downloads them on every run: backfill in single-run ranges so each "
        "station-year is fetched once."
    ),
)
