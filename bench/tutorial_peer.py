"""Peer: a Dagster project written the way Dagster's tutorials write one, for the bench only.

Two daily-partitioned assets and a DuckDB resource (dagster-duckdb), every default left alone: the
multiprocess executor, no backfill policy, so a backfill is one run per day. `observations` asks Open-Meteo's
archive for one day of every site (one request), parses it with polars and replaces that day in a DuckDB
table; `daily_site_weather` replaces the day's per-site aggregates. No validation, no quarantine, no lake,
no dbt. The bench times `dagster asset materialize --partition DAY` for a sample of days and extrapolates
to the year: what a tutorial-style project pays per day it loads.

    dagster asset materialize -m bench.tutorial_peer --select '*' --partition 2024-06-01
    (env: BENCH_ARCHIVE_URL, BENCH_SITES_FILE, BENCH_TUTORIAL_DB)
"""

import dagster as dg
import httpx
import polars as pl
import yaml
from dagster_duckdb import DuckDBResource

HOURLY = (
    "temperature_2m,relative_humidity_2m,dew_point_2m,pressure_msl,wind_speed_10m,wind_direction_10m,"
    "wind_gusts_10m,precipitation,cloud_cover,weather_code"
)
daily_partitions = dg.DailyPartitionsDefinition(start_date="2024-01-01", end_date="2024-12-31")


class OpenMeteoArchive(dg.ConfigurableResource):
    url: str
    sites_file: str

    def day(self, day: str) -> pl.DataFrame:
        sites = yaml.safe_load(open(self.sites_file))["sites"]
        params = {
            "latitude": ",".join(str(s["latitude"]) for s in sites),
            "longitude": ",".join(str(s["longitude"]) for s in sites),
            "start_date": day, "end_date": day, "hourly": HOURLY, "wind_speed_unit": "ms", "timezone": "GMT",
        }
        response = httpx.get(self.url, params=params, timeout=60)
        response.raise_for_status()
        frames = [
            pl.DataFrame(element["hourly"], infer_schema_length=None, strict=False).with_columns(
                pl.lit(site["id"]).alias("site_id")
            )
            for site, element in zip(sites, response.json(), strict=True)
        ]
        return pl.concat(frames, how="vertical_relaxed").with_columns(
            pl.col("time").str.strptime(pl.Datetime("us"), "%Y-%m-%dT%H:%M").alias("observed_at")
        ).drop("time")


@dg.asset(partitions_def=daily_partitions)
def observations(context: dg.AssetExecutionContext, open_meteo: OpenMeteoArchive, duckdb: DuckDBResource):
    df = open_meteo.day(context.partition_key)
    with duckdb.get_connection() as con:
        con.execute("CREATE TABLE IF NOT EXISTS observations AS SELECT * FROM df LIMIT 0")
        con.execute("DELETE FROM observations WHERE observed_at::DATE = ?", [context.partition_key])
        con.execute("INSERT INTO observations BY NAME SELECT * FROM df")
    return dg.MaterializeResult(metadata={"rows": df.height})


@dg.asset(partitions_def=daily_partitions, deps=[observations])
def daily_site_weather(context: dg.AssetExecutionContext, duckdb: DuckDBResource):
    day = context.partition_key
    with duckdb.get_connection() as con:
        con.execute(
            "CREATE TABLE IF NOT EXISTS daily_site_weather (site_id VARCHAR, day DATE, temperature_min DOUBLE, "
            "temperature_max DOUBLE, temperature_mean DOUBLE, precipitation_total DOUBLE)"
        )
        con.execute("DELETE FROM daily_site_weather WHERE day = ?", [day])
        con.execute(
            "INSERT INTO daily_site_weather SELECT site_id, observed_at::DATE, min(temperature_2m), "
            "max(temperature_2m), avg(temperature_2m), sum(precipitation) FROM observations "
            "WHERE observed_at::DATE = ? GROUP BY ALL",
            [day],
        )
        (rows,) = con.execute("SELECT count(*) FROM daily_site_weather WHERE day = ?", [day]).fetchone()
    return dg.MaterializeResult(metadata={"rows": rows})


defs = dg.Definitions(
    assets=[observations, daily_site_weather],
    resources={
        "open_meteo": OpenMeteoArchive(url=dg.EnvVar("BENCH_ARCHIVE_URL"), sites_file=dg.EnvVar("BENCH_SITES_FILE")),
        "duckdb": DuckDBResource(database=dg.EnvVar("BENCH_TUTORIAL_DB")),
    },
)
