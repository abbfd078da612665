"""Peer: the same load with dlt, the way its docs recommend for speed — a resource yielding Arrow tables.

The same requests as the floor (the plan file), one Arrow table per site (polars -> Arrow), into a DuckDB
file through dlt's `duckdb` destination: raw -> table, with dlt's own extract / normalize / load stages,
schema inference and load packages. No validation, no marts (dlt does neither). Telemetry is off.

    python -m bench.dlt_peer PLAN.json OUT_DIR
"""

import json
import os
import sys
import time
from pathlib import Path

import polars as pl

from bench.floor import fetch

os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")  # no network from a bench (and none here)

import dlt  # noqa: E402  (after the telemetry switch, which dlt reads at import)


def main(plan_path: str, out_dir: str) -> dict:
    plan = json.loads(Path(plan_path).read_text())
    out = Path(out_dir)
    t0 = time.perf_counter()

    @dlt.resource(name="observations", write_disposition="append")
    def observations():
        for _, site_frames in fetch(plan):
            for frame in site_frames:
                yield frame.with_columns(pl.col("time").str.strptime(pl.Datetime("us"), "%Y-%m-%dT%H:%M")).to_arrow()

    pipeline = dlt.pipeline(
        pipeline_name="bench_weather",
        pipelines_dir=str(out / "pipelines"),
        destination=dlt.destinations.duckdb(str(out / "dlt.duckdb")),
        dataset_name="weather",
    )
    info = pipeline.run(observations())
    t1 = time.perf_counter()
    with pipeline.sql_client() as client:
        (rows,) = client.execute_sql("SELECT count(*) FROM observations")[0]
    return {"rows": int(rows), "loads": len(info.loads_ids), "total_s": round(t1 - t0, 3)}


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], sys.argv[2])))
