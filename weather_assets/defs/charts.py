"""Pictures of the marts' data, drawn after a dbt build into the build's metadata (defs/metrics.py): the UI shows
them on the materialization (`[Show Markdown]`) and in the asset's metadata plots.

- `marts/daily_site_weather`: each site's latest weeks, temperature band and precipitation (small multiples).
- `marts/station_completeness`: a heat map of station (site · source) x local day, the share of expected hours
  that arrived with data.
- `marts/provider_consensus`: a heat map of site x UTC day, how far apart the sources' temperatures were.
- `marts/daily_air_quality`: a map of station (site · source) x local day in the US AQI band of the day's worst
  hour, in the EPA's colours.

Each is a PNG inline in Markdown (a `data:` URI, which the UI's Markdown renderer allows for images), kept under
CHART_MAX_BYTES, with a caption that says what is drawn from the rows drawn. A chart never fails a good build: one
that cannot be drawn is logged and left out. matplotlib's object API on the Agg canvas: no pyplot, no global state.

A picture is drawn only when the rows it shows changed: each carries a fingerprint of its rows (`<key>_data`), and
a build whose rows match the previous materialization's fingerprint carries that picture over instead of drawing
it again (drawing costs seconds, mostly PNG encoding; re-running a day, or loading an old day, leaves the latest
weeks a chart shows unchanged).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io
import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb

DAILY_WEATHER_UID = "model.weather_assets.daily_site_weather"
COMPLETENESS_UID = "model.weather_assets.station_completeness"
CONSENSUS_UID = "model.weather_assets.provider_consensus"
AIR_QUALITY_UID = "model.weather_assets.daily_air_quality"
CHART_METADATA_KEY = "weather_chart"
COMPLETENESS_METADATA_KEY = "completeness_heat_map"
CONSENSUS_METADATA_KEY = "disagreement_heat_map"
AIR_QUALITY_METADATA_KEY = "aqi_band_map"
# The US AQI categories (marts.daily_air_quality `us_aqi_category`) in order, with the EPA's colours
# (AirNow "AQI Basics": green, yellow, orange, red, purple, maroon).
US_AQI_BANDS: tuple[tuple[str, str], ...] = (
    ("Good", "#00e400"),
    ("Moderate", "#ffff00"),
    ("Unhealthy for Sensitive Groups", "#ff7e00"),
    ("Unhealthy", "#ff0000"),
    ("Very Unhealthy", "#8f3f97"),
    ("Hazardous", "#7e0023"),
)
CHART_DAYS = 28  # the latest four weeks of each site
HEAT_MAP_DAYS = 60  # the latest two months
CHART_MAX_SITES = 12  # small multiples beyond this would be unreadable (and heavy) in the UI
HEAT_MAP_MAX_ROWS = 60  # rows of a heat map (stations, sites); more are named in the caption, not drawn
CHART_MAX_BYTES = 150_000
CHART_FONT_SIZE = 9  # points: 10 px at CHART_DPI (7 points, 8 px, was hard to read in the UI)
CHART_DPI, CHART_MIN_DPI = 80, 40  # the chart's resolution, lowered (not below the minimum) to fit the cap
FINGERPRINT_SUFFIX = "_data"  # `<picture key>_data`: the fingerprint of the rows the picture was drawn from
# This module's code is part of every fingerprint: a changed drawing is drawn anew even from the same rows.
_DRAWING_CODE = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()
# provider_consensus's measure and the spread (max - min of the sources, °C) the colour scale ends at.
DISAGREEMENT_MEASURE, DISAGREEMENT_MAX_C = "temperature_c", 5.0


def _png(fig: Any, dpi: int) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def fit_png(fig: Any) -> bytes:
    """`fig` as a PNG under CHART_MAX_BYTES: the resolution is lowered until it fits (not below CHART_MIN_DPI)."""
    dpi = CHART_DPI
    png = _png(fig, dpi)
    while len(png) > CHART_MAX_BYTES and dpi > CHART_MIN_DPI:
        # A PNG's bytes grow about with its pixels (dpi squared): aim 10 % under the cap, so one more
        # draw usually does. Keep the layout the first draw computed (figure fractions hold at any
        # resolution): the constrained-layout pass is about half of a draw (~0.8 s for 12 panels).
        fig.set_layout_engine("none")
        dpi = max(CHART_MIN_DPI, min(dpi - 1, int(dpi * math.sqrt(CHART_MAX_BYTES / len(png)) * 0.9)))
        png = _png(fig, dpi)
    return png


def png_markdown(png: bytes, *, alt: str, caption: str) -> str:
    return f"![{alt}](data:image/png;base64,{base64.b64encode(png).decode('ascii')})\n\n{caption}"


def _figure(width_in: float, height_in: float) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width_in, height_in), dpi=CHART_DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


# --- marts/daily_site_weather: the latest weeks of each site ------------------------------------------------


def chart_rows(con: duckdb.DuckDBPyConnection, days: int = CHART_DAYS) -> list[tuple]:
    """(site_id, source, local_date, temperature_min_c, temperature_max_c, precipitation_total_mm)
    of each site's latest `days` local days in `marts.daily_site_weather`, sorted."""
    return con.execute(
        f"""
        with latest as (
            select site_id, max(local_date) as last_date from marts.daily_site_weather group by site_id
        )
        select d.site_id, d.source, d.local_date, d.temperature_min_c, d.temperature_max_c,
               d.precipitation_total_mm
        from marts.daily_site_weather as d
        inner join latest on d.site_id = latest.site_id
        where d.local_date > latest.last_date - {int(days)}
        order by d.site_id, d.source, d.local_date
        """
    ).fetchall()


def weather_figure(rows: list[tuple], *, max_sites: int = CHART_MAX_SITES) -> Any:
    """Small multiples, one panel per site (at most `max_sites`, alphabetical): the daily
    temperature band (min to max, one band per source) on the left axis and the daily
    precipitation (mean of the sources that report it) as bars on the right axis."""
    from matplotlib.dates import AutoDateLocator, DateFormatter

    by_site: dict[str, dict[str, list[tuple]]] = {}
    for site_id, source, *values in rows:
        by_site.setdefault(site_id, {}).setdefault(source, []).append(tuple(values))
    sites = sorted(by_site)[:max_sites]
    sources = sorted({source for per_source in by_site.values() for source in per_source})
    # Blue (C0) is the precipitation's; the sources' bands take the other default colours.
    colours = {source: f"C{1 + i % 9}" for i, source in enumerate(sources)}

    ncols = min(3, max(1, len(sites)))
    nrows = max(1, math.ceil(len(sites) / ncols))
    fig = _figure(4.0 * ncols, 2.4 * nrows)
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax in axes[len(sites) :]:
        ax.set_visible(False)
    rain_axes = []
    for ax, site_id in zip(axes, sites, strict=False):
        precipitation: dict[dt.date, list[float]] = {}
        for source, values in sorted(by_site[site_id].items()):
            days = [d for d, *_ in values]
            t_min = [math.nan if v is None else v for _, v, _, _ in values]
            t_max = [math.nan if v is None else v for _, _, v, _ in values]
            ax.fill_between(days, t_min, t_max, color=colours[source], alpha=0.35, linewidth=0, label=source)
            ax.plot(days, t_max, color=colours[source], linewidth=0.8)
            ax.plot(days, t_min, color=colours[source], linewidth=0.8)
            for d, _, _, p in values:
                if p is not None:
                    precipitation.setdefault(d, []).append(p)
        rain = ax.twinx()
        rain_axes.append(rain)
        rain_days = sorted(precipitation)
        rain_mm = [sum(precipitation[d]) / len(precipitation[d]) for d in rain_days]
        rain.bar(rain_days, rain_mm, width=0.8, color="C0", alpha=0.5, label="precipitation (mm)")
        # Bars in the lower part of the panel, under the temperature band; 5 mm at least.
        rain.set_ylim(0, max([5.0, *rain_mm]) * 1.6)
        rain.set_ylabel("mm", fontsize=CHART_FONT_SIZE)
        rain.tick_params(labelsize=CHART_FONT_SIZE)
        ax.set_zorder(rain.get_zorder() + 1)
        ax.patch.set_visible(False)
        ax.set_title(site_id, fontsize=CHART_FONT_SIZE + 2)
        ax.set_ylabel("°C", fontsize=CHART_FONT_SIZE)
        ax.tick_params(labelsize=CHART_FONT_SIZE)
        ax.xaxis.set_major_locator(AutoDateLocator(minticks=3, maxticks=5))
        ax.xaxis.set_major_formatter(DateFormatter("%d %b"))
        ax.grid(alpha=0.25, linewidth=0.5)
    if sites:
        handles: list[Any] = []
        labels: list[str] = []
        for ax in [*axes[: len(sites)], *rain_axes]:  # a source may be missing from the first site
            for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
                if label not in labels:
                    handles.append(handle)
                    labels.append(label)
        fig.legend(handles, labels, loc="outside upper center", ncols=max(1, len(labels)), fontsize=CHART_FONT_SIZE,
                   frameon=False)
    return fig


def weather_chart_markdown(rows: list[tuple], *, days: int = CHART_DAYS) -> str | None:
    """The chart as Markdown with the PNG inline, plus a caption; None when there is nothing to draw."""
    if not rows:
        return None
    return png_markdown(
        fit_png(weather_figure(rows)),
        alt="Daily temperature band and precipitation per site",
        caption=f"{chart_caption(rows, days=days)} Band: daily min–max temperature per source (°C, left axis); "
        "bars: daily precipitation, mean of the sources (mm, right axis).",
    )


def _which(labels: list[str], limit: int, one: str, many: str) -> tuple[list[str], str]:
    """The first `limit` of the sorted `labels` (what a picture draws) and how a caption names them: a count, and
    the ones left out by name (the first five)."""
    shown = labels[:limit]
    if len(shown) == len(labels):
        return shown, f"{len(labels)} {one if len(labels) == 1 else many}"
    left_out = labels[limit:]
    names = ", ".join(left_out[:5]) + (f" and {len(left_out) - 5} more" if len(left_out) > 5 else "")
    return shown, f"{len(shown)} of {len(labels)} {many} (alphabetical; not shown: {names})"


def _days_with_data(dates: list[dt.date]) -> str:
    """`dates` (sorted, not empty) as a caption's span: "01 Jan 2024 to 09 Jan 2024: 9 days with data"."""
    span = f"{dates[0]:%d %b %Y}" if len(dates) == 1 else f"{dates[0]:%d %b %Y} to {dates[-1]:%d %b %Y}"
    return f"{span}: {len(dates)} day{'s' if len(dates) != 1 else ''} with data"


def chart_caption(rows: list[tuple], *, days: int = CHART_DAYS) -> str:
    """What the chart shows, from the rows it draws: the sites (and those left out) and the local days that have
    data, never more than exist."""
    shown, which = _which(sorted({row[0] for row in rows}), CHART_MAX_SITES, "site", "sites")
    dates = sorted({row[2] for row in rows if row[0] in shown})
    return f"{which}, local days {_days_with_data(dates)} (each site's latest {days} at most)."


def daily_weather_chart_metadata(
    con: duckdb.DuckDBPyConnection, previous: Previous = None
) -> dict[str, dg.MetadataValue]:
    return _drawn(CHART_METADATA_KEY, "the daily weather chart", lambda: chart_rows(con), weather_chart_markdown,
                  previous)


# --- heat maps: marts/station_completeness and marts/provider_consensus -------------------------------------


HeatRow = tuple[str, dt.date, float | None]  # (row label, day, value)


def heat_map_figure(
    rows: list[HeatRow],
    *,
    vmin: float,
    vmax: float,
    cmap: str | Any,
    colour_label: str,
    colour_ticks: list[str] | None = None,
) -> Any:
    """One row per label (alphabetical, at most HEAT_MAP_MAX_ROWS), one column per day from the first to the last
    day of `rows`; a day without a value is left blank (light grey), never drawn as 0. `cmap` is a colormap or its
    name; with `colour_ticks`, values are the indices 0..n-1 of those categories, named on the colour bar."""
    import numpy as np
    from matplotlib import colormaps

    labels = sorted({label for label, _, _ in rows})[:HEAT_MAP_MAX_ROWS]
    first, last = min(day for _, day, _ in rows), max(day for _, day, _ in rows)
    days = [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]
    grid = np.full((len(labels), len(days)), np.nan)
    index = {label: i for i, label in enumerate(labels)}
    for label, day, value in rows:
        if label in index and value is not None:
            grid[index[label], (day - first).days] = value
    fig = _figure(max(6.0, 2.5 + 0.14 * len(days)), max(3.0, 1.4 + 0.22 * len(labels)))
    ax = fig.subplots()
    palette = (colormaps[cmap] if isinstance(cmap, str) else cmap).with_extremes(bad="#e6e6e6")
    image = ax.imshow(grid, aspect="auto", interpolation="nearest", cmap=palette, vmin=vmin, vmax=vmax)
    ax.set_yticks(range(len(labels)), labels, fontsize=CHART_FONT_SIZE)
    step = max(1, math.ceil(len(days) / 12))
    ax.set_xticks(range(0, len(days), step), [f"{d:%d %b}" for d in days[::step]], fontsize=CHART_FONT_SIZE,
                  rotation=45, ha="right")
    colour_bar = fig.colorbar(image, ax=ax, shrink=0.9)
    if colour_ticks is not None:
        colour_bar.set_ticks(range(len(colour_ticks)), labels=colour_ticks)
    colour_bar.set_label(colour_label, fontsize=CHART_FONT_SIZE)
    colour_bar.ax.tick_params(labelsize=CHART_FONT_SIZE)
    return fig


def heat_map_caption(rows: list[HeatRow], *, what: tuple[str, str], days_of: str) -> str:
    """The rows drawn (and any left out) and the days the data spans, from `rows` themselves; `what` names one row
    and several."""
    shown, which = _which(sorted({label for label, _, _ in rows}), HEAT_MAP_MAX_ROWS, *what)
    dates = sorted({day for label, day, value in rows if value is not None and label in shown})
    if not dates:
        return f"{which}: no values to draw."
    return f"{which}, {days_of} {_days_with_data(dates)}."


def completeness_rows(con: duckdb.DuckDBPyConnection, days: int = HEAT_MAP_DAYS) -> list[HeatRow]:
    """(site · source, local_date, % of the expected hours received with data) over the latest `days` local days
    of `marts.station_completeness`."""
    return con.execute(
        """
        select site_id || ' · ' || source, local_date, 100.0 * hours_with_data / hours_expected
        from marts.station_completeness
        where local_date > (select max(local_date) from marts.station_completeness) - cast(? as integer)
        order by all
        """,
        [days],
    ).fetchall()


def completeness_heat_map_markdown(rows: list[HeatRow]) -> str | None:
    if not rows:
        return None
    fig = heat_map_figure(rows, vmin=0.0, vmax=100.0, cmap="RdYlGn", colour_label="hours with data, % of expected")
    caption = heat_map_caption(rows, what=("station (site · source)", "stations (site · source)"), days_of="local days")
    return png_markdown(
        fit_png(fig),
        alt="Station completeness: share of expected hours received with data, per station and local day",
        caption=f"{caption} Colour: hours received with at least one measurement as a share of the day's expected "
        "hours (23-25 on DST days); green is complete, red empty; grey: no row for that station and day.",
    )


def disagreement_rows(con: duckdb.DuckDBPyConnection, days: int = HEAT_MAP_DAYS) -> list[HeatRow]:
    """(site, UTC day, mean spread of DISAGREEMENT_MEASURE over the day's hours that two sources or more reported)
    over the latest `days` UTC days of `marts.provider_consensus`."""
    return con.execute(
        """
        select site_id, cast(observed_at as date) as day, avg(spread)
        from marts.provider_consensus
        where measure = ? and n_sources >= 2
          and cast(observed_at as date) > (select max(cast(observed_at as date)) from marts.provider_consensus
                                           where measure = ? and n_sources >= 2) - cast(? as integer)
        group by all
        order by all
        """,
        [DISAGREEMENT_MEASURE, DISAGREEMENT_MEASURE, days],
    ).fetchall()


def disagreement_heat_map_markdown(rows: list[HeatRow]) -> str | None:
    if not rows:
        return None
    fig = heat_map_figure(rows, vmin=0.0, vmax=DISAGREEMENT_MAX_C, cmap="magma_r",
                          colour_label="spread between sources, °C")
    caption = heat_map_caption(rows, what=("site", "sites"), days_of="UTC days")
    return png_markdown(
        fit_png(fig),
        alt="Source disagreement: mean spread of the sources' hourly temperatures, per site and UTC day",
        caption=f"{caption} Colour: mean over the day's hours of max − min of the sources' temperatures, for hours "
        f"that two sources or more reported (scale ends at {DISAGREEMENT_MAX_C:g} °C); grey: no such hour.",
    )


def aqi_band_rows(con: duckdb.DuckDBPyConnection, days: int = HEAT_MAP_DAYS) -> list[HeatRow]:
    """(site · source, local_date, index of the day's US AQI category in US_AQI_BANDS) over the latest `days` local
    days of `marts.daily_air_quality`; a day without an index has None."""
    index = {name: i for i, (name, _) in enumerate(US_AQI_BANDS)}
    rows = con.execute(
        """
        select site_id || ' · ' || source, local_date, us_aqi_category
        from marts.daily_air_quality
        where local_date > (select max(local_date) from marts.daily_air_quality) - cast(? as integer)
        order by all
        """,
        [days],
    ).fetchall()
    return [(label, day, None if category is None else index[category]) for label, day, category in rows]


def aqi_band_map_markdown(rows: list[HeatRow]) -> str | None:
    if not rows:
        return None
    from matplotlib.colors import ListedColormap

    names = [name for name, _ in US_AQI_BANDS]
    fig = heat_map_figure(
        rows,
        vmin=-0.5,
        vmax=len(names) - 0.5,
        cmap=ListedColormap([colour for _, colour in US_AQI_BANDS]),
        colour_label="US AQI of the day's worst hour",
        colour_ticks=names,
    )
    caption = heat_map_caption(rows, what=("station (site · source)", "stations (site · source)"), days_of="local days")
    return png_markdown(
        fit_png(fig),
        alt="Air quality: the US AQI band of each station's worst hour, per local day",
        caption=f"{caption} Colour: the EPA category of the day's highest hourly US AQI (the EPA's colours); "
        "grey: no index that day. The European index, pollutant means and the WHO flags are in the table.",
    )


Previous = Mapping[str, dg.MetadataValue] | None  # the metadata of the model's previous materialization, if any


def data_fingerprint(rows: list[tuple]) -> str:
    """What a picture is drawn from: its rows and this module's code."""
    return hashlib.sha256(repr((_DRAWING_CODE, rows)).encode()).hexdigest()[:16]


def _drawn(
    key: str,
    what: str,
    rows: Callable[[], list[tuple]],
    draw: Callable[[list[tuple]], str | None],
    previous: Previous,
) -> dict[str, dg.MetadataValue]:
    """`{key: md, key_data: fingerprint}`: the picture of `rows()`, or `previous`'s picture when that was drawn from
    the same rows; {} (logged) when it cannot be drawn: a chart must never fail a good dbt run."""
    fingerprint_key = key + FINGERPRINT_SUFFIX
    try:
        drawn_from = rows()
        fingerprint = data_fingerprint(drawn_from)
        before = previous or {}
        if key in before and getattr(before.get(fingerprint_key), "value", None) == fingerprint:
            return {key: before[key], fingerprint_key: dg.MetadataValue.text(fingerprint)}
        markdown = draw(drawn_from)
    except Exception as exc:  # matplotlib missing, the mart not built, ...
        dg.get_dagster_logger().warning(f"Could not draw {what}: {exc!r}")
        return {}
    return {key: dg.MetadataValue.md(markdown), fingerprint_key: dg.MetadataValue.text(fingerprint)} if markdown else {}


def completeness_metadata(con: duckdb.DuckDBPyConnection, previous: Previous = None) -> dict[str, dg.MetadataValue]:
    return _drawn(COMPLETENESS_METADATA_KEY, "the station completeness heat map", lambda: completeness_rows(con),
                  completeness_heat_map_markdown, previous)


def disagreement_metadata(con: duckdb.DuckDBPyConnection, previous: Previous = None) -> dict[str, dg.MetadataValue]:
    return _drawn(CONSENSUS_METADATA_KEY, "the source disagreement heat map", lambda: disagreement_rows(con),
                  disagreement_heat_map_markdown, previous)


def aqi_band_metadata(con: duckdb.DuckDBPyConnection, previous: Previous = None) -> dict[str, dg.MetadataValue]:
    return _drawn(AIR_QUALITY_METADATA_KEY, "the air-quality band map", lambda: aqi_band_rows(con),
                  aqi_band_map_markdown, previous)


# The picture each model's build carries, by dbt unique id (called with the model's previous metadata).
BY_MODEL: dict[str, Callable[[duckdb.DuckDBPyConnection, Previous], dict[str, dg.MetadataValue]]] = {
    DAILY_WEATHER_UID: daily_weather_chart_metadata,
    COMPLETENESS_UID: completeness_metadata,
    CONSENSUS_UID: disagreement_metadata,
    AIR_QUALITY_UID: aqi_band_metadata,
}
