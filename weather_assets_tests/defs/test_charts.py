"""The pictures a dbt build puts in its metadata (weather_assets/defs/charts.py): drawn from the rows, captioned
with what they show, small enough for the UI, and never the reason a good build fails."""

from __future__ import annotations

import datetime as dt

import duckdb

from weather_assets.defs import charts
from weather_assets_tests.support.charts import chart_png, png_size


def chart_rows(n_sites: int, days: int = 28, sources: tuple[str, ...] = ("open-meteo", "nws")) -> list[tuple]:
    first = dt.date(2024, 1, 1)
    return [
        (f"site_{s:02d}", source, first + dt.timedelta(days=d), -5.0 + d % 7, 5.0 + d % 5, None if d % 9 else 2.5)
        for s in range(n_sites)
        for source in sources
        for d in range(days)
    ]


def test_the_chart_stays_small_for_many_sites_and_says_what_it_leaves_out():
    markdown = charts.weather_chart_markdown(chart_rows(n_sites=15))

    png = chart_png(markdown)
    assert len(png) < charts.CHART_MAX_BYTES
    width, height = png_size(png)
    assert width < 1200 and height < 1200  # 3 columns x 4 rows of panels at most
    assert "12 of 15 sites (alphabetical; not shown: site_12, site_13, site_14), local days" in markdown


def test_the_caption_names_the_days_there_are_not_the_days_asked_for():
    """Nine days loaded: the caption says nine days and which, not "the latest 28"."""
    caption = charts.chart_caption(chart_rows(n_sites=2, days=9))
    assert caption == (
        "2 sites, local days 01 Jan 2024 to 09 Jan 2024: 9 days with data (each site's latest 28 at most)."
    )
    one = charts.chart_caption(chart_rows(n_sites=1, days=1, sources=("open-meteo",)))
    assert one == "1 site, local days 01 Jan 2024: 1 day with data (each site's latest 28 at most)."
    many = charts.chart_caption(chart_rows(n_sites=20, days=3))
    assert many.startswith("12 of 20 sites (alphabetical; not shown: site_12, site_13, site_14, site_15, site_16 and "
                           "3 more), local days 01 Jan 2024 to 03 Jan 2024: 3 days")


def test_a_site_without_precipitation_or_temperatures_still_charts():
    rows = [(site, "open-meteo", dt.date(2024, 1, 1) + dt.timedelta(days=d), t, t, None) for site, t in
            (("dry", 1.0), ("blank", None)) for d in range(3)]  # fmt: skip

    assert png_size(chart_png(charts.weather_chart_markdown(rows)))[0] > 0


def test_no_rows_no_chart_and_a_broken_warehouse_never_fails_the_run(tmp_path):
    assert charts.weather_chart_markdown([]) is None
    with duckdb.connect() as con:  # no marts.daily_site_weather here
        assert charts.daily_weather_chart_metadata(con) == {}


def test_chart_rows_are_each_sites_latest_weeks(tmp_path):
    with duckdb.connect() as con:
        con.execute("create schema marts")
        con.execute(
            "create table marts.daily_site_weather as select site_id, 'open-meteo' as source, d::date as local_date,"
            " 1.0 as temperature_min_c, 2.0 as temperature_max_c, 0.5 as precipitation_total_mm"
            " from (values ('a', date '2024-03-31'), ('b', date '2024-02-29')) as s(site_id, last_day),"
            " generate_series(date '2024-01-01', last_day, interval 1 day) as g(d)"
        )
        rows = charts.chart_rows(con, days=28)

    by_site = {site: [r[2] for r in rows if r[0] == site] for site in ("a", "b")}
    assert (min(by_site["a"]), max(by_site["a"]), len(by_site["a"])) == (dt.date(2024, 3, 4), dt.date(2024, 3, 31), 28)
    assert (min(by_site["b"]), max(by_site["b"]), len(by_site["b"])) == (dt.date(2024, 2, 2), dt.date(2024, 2, 29), 28)


# --- heat maps -------------------------------------------------------------------------------------------------


def _completeness_table(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("create schema marts")
    con.execute(
        "create table marts.station_completeness as select * from (values"
        " ('a', 'nws', date '2024-03-10', 24, 24), ('a', 'nws', date '2024-03-11', 23, 12),"
        " ('b', 'open-meteo', date '2024-03-10', 24, 0), ('a', 'nws', date '2024-01-01', 24, 24))"
        " as t(site_id, source, local_date, hours_expected, hours_with_data)"
    )


def test_completeness_rows_are_the_latest_days_as_shares_of_the_expected_hours():
    with duckdb.connect() as con:
        _completeness_table(con)
        rows = charts.completeness_rows(con, days=60)

    assert rows == [  # 2024-01-01 is more than 60 days before the newest day
        ("a · nws", dt.date(2024, 3, 10), 100.0),
        ("a · nws", dt.date(2024, 3, 11), 100.0 * 12 / 23),  # a 23-hour DST day
        ("b · open-meteo", dt.date(2024, 3, 10), 0.0),
    ]


def test_the_completeness_heat_map_says_which_stations_and_days_it_draws():
    with duckdb.connect() as con:
        _completeness_table(con)
        metadata = charts.completeness_metadata(con)

    markdown = metadata[charts.COMPLETENESS_METADATA_KEY].value
    width, height = png_size(chart_png(markdown))
    assert 400 < width < 1200 and 100 < height < 600
    assert "2 stations (site · source), local days 10 Mar 2024 to 11 Mar 2024: 2 days with data." in markdown


def test_a_heat_map_of_many_stations_draws_the_first_and_names_the_rest():
    rows = [(f"s{i:03d} · nws", dt.date(2024, 1, 1) + dt.timedelta(days=d), float(d)) for i in range(70)
            for d in range(60)]  # fmt: skip

    markdown = charts.completeness_heat_map_markdown(rows)

    assert len(chart_png(markdown)) < charts.CHART_MAX_BYTES
    assert "60 of 70 stations (site · source) (alphabetical; not shown: s060 · nws, s061 · nws" in markdown
    assert "local days 01 Jan 2024 to 29 Feb 2024: 60 days with data" in markdown


def test_disagreement_rows_average_the_spread_of_hours_two_sources_reported():
    with duckdb.connect() as con:
        con.execute("create schema marts")
        con.execute(
            "create table marts.provider_consensus as select * from (values"
            " ('a', timestamp '2024-03-10 00:00', 'temperature_c', 2, 1.0),"
            " ('a', timestamp '2024-03-10 01:00', 'temperature_c', 3, 3.0),"
            " ('a', timestamp '2024-03-10 02:00', 'temperature_c', 1, 0.0),"  # one source: no disagreement to show
            " ('a', timestamp '2024-03-10 03:00', 'pressure_msl_hpa', 2, 9.0),"  # another measure
            " ('b', timestamp '2024-03-11 23:00', 'temperature_c', 2, 0.5))"
            " as t(site_id, observed_at, measure, n_sources, spread)"
        )
        rows = charts.disagreement_rows(con)
        metadata = charts.disagreement_metadata(con)

    assert rows == [("a", dt.date(2024, 3, 10), 2.0), ("b", dt.date(2024, 3, 11), 0.5)]
    markdown = metadata[charts.CONSENSUS_METADATA_KEY].value
    assert png_size(chart_png(markdown))[0] > 0
    assert "2 sites, UTC days 10 Mar 2024 to 11 Mar 2024: 2 days with data." in markdown


def test_no_consensus_of_two_sources_no_heat_map_and_a_missing_mart_never_fails():
    with duckdb.connect() as con:
        assert charts.completeness_metadata(con) == {}  # no marts schema at all: logged, not raised
        assert charts.disagreement_metadata(con) == {}
        con.execute("create schema marts")
        con.execute(
            "create table marts.provider_consensus as select 'a' as site_id, timestamp '2024-03-10' as observed_at,"
            " 'temperature_c' as measure, 1 as n_sources, 0.0 as spread"
        )
        assert charts.disagreement_metadata(con) == {}


def test_the_aqi_band_map_draws_each_stations_us_category_in_the_epa_colours():
    with duckdb.connect() as con:
        con.execute("create schema marts")
        con.execute(
            "create table marts.daily_air_quality (site_id varchar, source varchar, local_date date, "
            "us_aqi_category varchar)"
        )
        con.execute(
            "insert into marts.daily_air_quality values "
            "('berlin_de', 'open-meteo-air-quality', date '2024-03-09', 'Good'), "
            "('berlin_de', 'open-meteo-air-quality', date '2024-03-10', 'Unhealthy'), "
            "('delhi_in', 'open-meteo-air-quality', date '2024-03-10', 'Hazardous'), "
            "('delhi_in', 'open-meteo-air-quality', date '2024-03-11', null), "
            "('old_site', 'open-meteo-air-quality', date '2023-12-01', 'Moderate')"
        )
        rows = charts.aqi_band_rows(con, days=60)
        metadata = charts.aqi_band_metadata(con)

    assert rows == [  # band indices in US_AQI_BANDS; 2023-12-01 is more than 60 days before the newest day
        ("berlin_de · open-meteo-air-quality", dt.date(2024, 3, 9), 0),
        ("berlin_de · open-meteo-air-quality", dt.date(2024, 3, 10), 3),
        ("delhi_in · open-meteo-air-quality", dt.date(2024, 3, 10), 5),
        ("delhi_in · open-meteo-air-quality", dt.date(2024, 3, 11), None),
    ]
    markdown = metadata[charts.AIR_QUALITY_METADATA_KEY].value
    png = chart_png(markdown)
    width, height = png_size(png)
    assert len(png) < charts.CHART_MAX_BYTES and 400 < width < 1200 and 100 < height < 600
    assert "2 stations (site · source), local days 09 Mar 2024 to 10 Mar 2024: 2 days with data." in markdown
    assert "the EPA category of the day's highest hourly US AQI" in markdown


def test_no_air_quality_mart_no_band_map_and_the_build_does_not_fail():
    with duckdb.connect() as con:
        assert charts.aqi_band_metadata(con) == {}  # the mart is not built: logged, nothing drawn


def test_a_picture_is_drawn_again_only_when_its_rows_changed(monkeypatch):
    key, fingerprint = charts.COMPLETENESS_METADATA_KEY, charts.COMPLETENESS_METADATA_KEY + charts.FINGERPRINT_SUFFIX
    with duckdb.connect() as con:
        _completeness_table(con)
        first = charts.completeness_metadata(con)
        # The same rows: the previous picture, not drawn (drawing would fail and leave it out).
        monkeypatch.setattr(charts, "completeness_heat_map_markdown", _no_drawing)
        assert charts.completeness_metadata(con, first) == first
        monkeypatch.undo()
        # One value changed: drawn again, with a new fingerprint and the changed share in the picture.
        con.execute("update marts.station_completeness set hours_with_data = 6 where local_date = '2024-03-11'")
        changed = charts.completeness_metadata(con, first)
        # No previous picture, or one without a fingerprint (before fingerprints): drawn.
        assert charts.completeness_metadata(con, {key: first[key]})[fingerprint] == changed[fingerprint]
    assert changed[fingerprint] != first[fingerprint] and changed[key] != first[key]
    assert set(first) == {key, fingerprint}


def _no_drawing(rows):
    raise AssertionError("drew a picture whose rows had not changed")
