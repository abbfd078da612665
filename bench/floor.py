"""The floor: the shortest correct script for the same load — httpx + polars + one INSERT ... SELECT.

It sends the platform's own requests (the plan file lists them: the same URLs, hence the same
responses), parses each multi-location JSON body into one polars frame per site, and bulk-inserts
the whole year into a DuckDB `observations` table with the warehouse's columns in one statement,
dropping the rows outside the schema's physical bounds (the platform quarantines them) so the table
holds the same rows as the platform's. No landing, no lake, no validation report, no run history, no
marts: that difference is what the platform/floor ratio prices.

    python -m bench.floor PLAN.json DB.duckdb    (PLAN: {"url": ..., "requests": [{"params", "site_ids"}]})
"""

import json
import sys
import time
from collections.abc import Iterator

import duckdb
import httpx
import polars as pl

# Physical bounds of the canonical schema (weather_assets/schemas/observation.py BOUNDS).
BOUNDS = {
    "temperature_2m": (-90, 60), "relative_humidity_2m": (0, 100), "dew_point_2m": (-100, 40),
    "pressure_msl": (850, 1090), "wind_speed_10m": (0, 120), "wind_direction_10m": (0, 360),
    "wind_gusts_10m": (0, 150), "precipitation": (0, 400), "cloud_cover": (0, 100), "weather_code": (0, 99),
}


def fetch(plan: dict) -> Iterator[tuple[bytes, list[pl.DataFrame]]]:
    """Each planned response, in order: its body and one frame per site (the API's hourly columns + site_id).
    The floors and the dlt peer read the responses through this one loop."""
    with httpx.Client(timeout=httpx.Timeout(120, connect=10)) as client:
        for request in plan["requests"]:
            response = client.get(plan["url"], params=[tuple(p) for p in request["params"]])
            response.raise_for_status()
            yield response.content, [
                pl.DataFrame(element["hourly"], infer_schema_length=None, strict=False).with_columns(
                    pl.lit(site_id).alias("site_id")
                )
                for site_id, element in zip(request["site_ids"], response.json(), strict=True)
            ]


def main(plan_path: str, db_path: str) -> dict:
    plan = json.loads(open(plan_path).read())
    t0 = time.perf_counter()
    frames, n_bytes = [], 0
    for body, site_frames in fetch(plan):
        n_bytes += len(body)
        frames += site_frames
    t1 = time.perf_counter()
    df = pl.concat(frames, how="vertical_relaxed").with_columns(
        pl.col("time").str.strptime(pl.Datetime("us"), "%Y-%m-%dT%H:%M")
    )
    t2 = time.perf_counter()
    in_bounds = " AND ".join(f"coalesce({c} BETWEEN {lo} AND {hi}, true)" for c, (lo, hi) in BOUNDS.items())
    con = duckdb.connect(db_path)
    con.register("df", df)
    con.execute(
        "CREATE OR REPLACE TABLE observations (site_id VARCHAR, source VARCHAR, observed_at TIMESTAMP, "
        "temperature_c DOUBLE, relative_humidity_pct DOUBLE, dew_point_c DOUBLE, pressure_msl_hpa DOUBLE, "
        "wind_speed_ms DOUBLE, wind_direction_deg DOUBLE, wind_gust_ms DOUBLE, precipitation_mm DOUBLE, "
        "cloud_cover_pct DOUBLE, weather_code INTEGER, weather_code_system VARCHAR)"
    )
    inserted = con.execute(
        "INSERT INTO observations SELECT site_id, 'open-meteo', time, temperature_2m, relative_humidity_2m, "
        "dew_point_2m, pressure_msl, wind_speed_10m, wind_direction_10m, wind_gusts_10m, precipitation, "
        f"cloud_cover, weather_code, 'wmo4677' FROM df WHERE {in_bounds}"
    ).fetchall()[0][0]
    con.close()
    t3 = time.perf_counter()
    return {
        "rows": int(inserted), "requests": len(plan["requests"]), "bytes": n_bytes,
        "fetch_parse_s": round(t1 - t0, 3), "frame_s": round(t2 - t1, 3), "insert_s": round(t3 - t2, 3),
        "total_s": round(t3 - t0, 3),
    }


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], sys.argv[2])))
