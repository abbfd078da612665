"""Validated partitions as Hive-style Parquet: `<table>/source=<source>/date=<YYYY-MM-DD>/data.parquet`.

This is the lake layout other engines (DuckDB, Trino, Spark) read directly. Every UTC day a
provider validated gets a file, even an empty one, so "validated, nothing valid" is different from
"never validated". Files are replaced atomically; re-validating a day overwrites it.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterable
from pathlib import Path

import polars as pl

OBSERVATIONS = "observations"
REJECTED = "rejected_observations"
DAILY = "daily_observations"  # daily-grain sources; `date` is the station's observation day
REJECTED_DAILY = "rejected_daily_observations"


def day_path(lake_dir: Path, table: str, source: str, day: dt.date) -> Path:
    return lake_dir / table / f"source={source}" / f"date={day.isoformat()}" / "data.parquet"


def write_day(lake_dir: Path, table: str, source: str, day: dt.date, df: pl.DataFrame) -> Path:
    """Write one source's rows for one UTC day (without the Hive columns, which live in the path)."""
    path = day_path(lake_dir, table, source, day)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".data.{os.getpid()}.tmp")
    df.drop([c for c in ("source", "date") if c in df.columns]).write_parquet(tmp, compression="zstd")
    os.replace(tmp, path)
    return path


def files_for_days(lake_dir: Path, table: str, sources: Iterable[str], days: Iterable[dt.date]) -> list[Path]:
    """The existing files of `sources` for `days`, by source then day."""
    days = sorted(days)
    return [path for source in sources for day in days if (path := day_path(lake_dir, table, source, day)).exists()]


def missing_days(lake_dir: Path, table: str, source: str, days: Iterable[dt.date]) -> list[dt.date]:
    return [d for d in days if not day_path(lake_dir, table, source, d).exists()]
