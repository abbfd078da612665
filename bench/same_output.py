"""The same-output floor: what the platform's history run leaves behind, by the shortest correct script.

The bare floor (bench/floor.py) only fetches, parses and inserts. This one writes what the platform writes:
  1. the responses landed verbatim (gzip), as the raw assets land them;
  2. the validated rows as one Parquet file per UTC day, and the rows outside the schema's physical bounds
     quarantined beside them, one row each with the check, column, value and the whole row as JSON;
  3. the warehouse tables `observations`, `rejected_observations` and `sites` (the warehouse's own DDL,
     weather_assets/warehouse/sql/create_tables.sql) in one DuckDB file;
  4. the same marts: each dbt model of the history job, its SQL as dbt compiles it for a full build
     (the harness compiles before timing), run by DuckDB as CREATE VIEW / CREATE TABLE in dependency order.
No Dagster, no dbt, no lake catalog, no run history, no tests or checks: that difference is what the
platform / same-output-floor ratio prices. The harness checks every mart holds the same rows as the platform's.

    python -m bench.same_output JOB.json OUT_DIR
    (JOB: {"url", "requests": [{"params", "site_ids"}], "sites": [...], "ddl": path, "models": [...]})
"""

import datetime as dt
import gzip
import json
import sys
import time
from pathlib import Path

import duckdb
import polars as pl

from bench.floor import BOUNDS, fetch

# Open-Meteo's hourly variables -> the warehouse's columns (weather_assets/providers/open_meteo.py).
COLUMNS = {
    "temperature_2m": "temperature_c", "relative_humidity_2m": "relative_humidity_pct", "dew_point_2m": "dew_point_c",
    "pressure_msl": "pressure_msl_hpa", "wind_speed_10m": "wind_speed_ms", "wind_direction_10m": "wind_direction_deg",
    "wind_gusts_10m": "wind_gust_ms", "precipitation": "precipitation_mm", "cloud_cover": "cloud_cover_pct",
    "weather_code": "weather_code",
}
SOURCE = "open-meteo"
RUN_ID = "same-output-floor"


def fetch_and_land(job: dict, raw_dir: Path) -> tuple[list[pl.DataFrame], int]:
    frames, n_bytes = [], 0
    raw_dir.mkdir(parents=True, exist_ok=True)
    for i, (body, site_frames) in enumerate(fetch(job)):
        n_bytes += len(body)
        (raw_dir / f"response-{i}.json.gz").write_bytes(gzip.compress(body, compresslevel=6))
        frames += site_frames
    return frames, n_bytes


def validate(frames: list[pl.DataFrame], now: dt.datetime) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(valid rows in the warehouse's columns, quarantined rows with their reason)."""
    df = pl.concat(frames, how="vertical_relaxed").select(
        "site_id",
        pl.lit(SOURCE).alias("source"),
        pl.col("time").str.strptime(pl.Datetime("us"), "%Y-%m-%dT%H:%M").alias("observed_at"),
        *(pl.col(api).cast(pl.Int32 if api == "weather_code" else pl.Float64).alias(column)
          for api, column in COLUMNS.items()),
        pl.lit("wmo4677").alias("weather_code_system"),
        pl.lit(RUN_ID).alias("ingestion_run_id"),
        pl.lit(now).alias("ingested_at"),
    )
    # The first bound each row breaks (NULL: none), as the platform's quarantine names one failed check per row.
    failed = pl.coalesce(
        pl.when(~pl.col(COLUMNS[api]).is_between(lo, hi)).then(pl.lit(COLUMNS[api])) for api, (lo, hi) in BOUNDS.items()
    ).alias("failed_column")
    df = df.with_columns(failed)
    valid = df.filter(pl.col("failed_column").is_null()).drop("failed_column")
    bad = df.filter(pl.col("failed_column").is_not_null())
    bounds = {COLUMNS[api]: lohi for api, lohi in BOUNDS.items()}
    rejected = bad.select(
        pl.col("observed_at").dt.date().alias("partition_date"),
        "site_id", "source", "observed_at",
        pl.col("failed_column").map_elements(lambda c: f"in_range({bounds[c][0]}, {bounds[c][1]})",
                                             return_dtype=pl.String).alias("failed_check"),
        "failed_column",
        pl.struct(bad.columns).map_elements(lambda r: str(r[r["failed_column"]]), return_dtype=pl.String)
        .alias("failure_case"),
        pl.struct(valid.columns).map_elements(lambda r: json.dumps(r, default=str), return_dtype=pl.String)
        .alias("record"),
        "ingestion_run_id", "ingested_at",
    )
    return valid, rejected


def write_days(frame: pl.DataFrame, table_dir: Path, day: pl.Expr) -> int:
    """One Parquet file per UTC day (Hive layout, as the platform's validated partitions)."""
    frame = frame.with_columns(day.alias("date"))
    for (date,), part in frame.partition_by("date", as_dict=True).items():
        path = table_dir / f"source={SOURCE}" / f"date={date}" / "data.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        part.drop("date", "source").write_parquet(path, compression="zstd")
    return frame["date"].n_unique()


def main(job_path: str, out_dir: str) -> dict:
    job = json.loads(Path(job_path).read_text())
    out = Path(out_dir)
    now = dt.datetime.now(dt.UTC)
    t0 = time.perf_counter()
    frames, n_bytes = fetch_and_land(job, out / "raw")
    t1 = time.perf_counter()
    valid, rejected = validate(frames, now)
    days = write_days(valid, out / "validated" / "observations", pl.col("observed_at").dt.date())
    write_days(rejected, out / "validated" / "rejected_observations", pl.col("partition_date"))
    t2 = time.perf_counter()
    con = duckdb.connect()
    con.execute(f"ATTACH '{out / 'warehouse.duckdb'}' AS lake")
    con.execute("USE lake")
    con.execute(Path(job["ddl"]).read_text())
    glob = str(out / "validated" / "observations" / "*" / "*" / "*.parquet")
    con.execute(f"INSERT INTO observations BY NAME SELECT * EXCLUDE (date) FROM read_parquet('{glob}', "
                "hive_partitioning = true)")
    con.register("rejected_frame", rejected)
    con.execute("INSERT INTO rejected_observations BY NAME SELECT * FROM rejected_frame")
    con.register("catalog", pl.DataFrame(job["sites"]))
    con.execute("INSERT INTO sites BY NAME SELECT *, true AS active, now() AS updated_at FROM catalog")
    t3 = time.perf_counter()
    for model in job["models"]:
        con.execute(f'CREATE SCHEMA IF NOT EXISTS "{model["schema"]}"')
        kind = "VIEW" if model["materialized"] == "view" else "TABLE"
        con.execute(f'CREATE OR REPLACE {kind} "{model["schema"]}"."{model["name"]}" AS {model["sql"]}')
    con.close()
    t4 = time.perf_counter()
    return {
        "rows": valid.height, "rejected": rejected.height, "days": days, "requests": len(job["requests"]),
        "bytes": n_bytes, "models": len(job["models"]),
        "fetch_parse_land_s": round(t1 - t0, 3), "validate_write_days_s": round(t2 - t1, 3),
        "load_tables_s": round(t3 - t2, 3), "marts_s": round(t4 - t3, 3), "total_s": round(t4 - t0, 3),
    }


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], sys.argv[2])))
