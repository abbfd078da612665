"""Which UTC days of the history changed since a mart was last built: what its next build recomputes.

Every commit to the lake is a snapshot, and DuckLake lists the rows each snapshot inserted or deleted
(`table_changes`, its data change feed; compaction keeps it). A build of the incremental marts records the
snapshot it saw the history through (`Seen`, in the materialization's metadata); the next build asks the
feed which UTC days of the history tables changed after it and recomputes those days, as one window from the
first to the last. A build with nothing to compare against recomputes every day:

- no recorded snapshot (the first build, or one recorded before marts recorded it);
- a snapshot the lake no longer has (expired by maintenance), or one whose commit time differs (the lake
  was recreated, so the same id is another commit);
- a change feed that cannot be read.

No Dagster here: defs/metrics.py reads and writes the recorded snapshot.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Mapping

import duckdb

from weather_assets.warehouse.ducklake import LAKE, redact
from weather_assets.window import Window

# The history tables the incremental marts read, by the dbt source they are read through, each with the
# expression giving a row's UTC day (a quarantined row may have no time: its partition's day).
HISTORY_TABLES: Mapping[str, Mapping[str, str]] = {
    "observations": {"observations": "observed_at", "rejected_observations": "partition_date"},
    "air_quality": {"air_quality": "observed_at"},
    "precipitation_15min": {"precipitation_15min": "observed_at"},
}


@dataclasses.dataclass(frozen=True)
class Seen:
    """A lake snapshot, by id and commit time: the point a build saw the history through."""

    snapshot_id: int
    committed_at: str  # ISO 8601, as the catalog gives it

    def as_metadata(self) -> dict[str, object]:
        return {"snapshot_id": self.snapshot_id, "committed_at": self.committed_at}

    @classmethod
    def from_metadata(cls, value: object) -> Seen | None:
        """From `as_metadata()`'s dict; None for anything else (absent, or written by another version)."""
        if not isinstance(value, Mapping):
            return None
        snapshot_id, committed_at = value.get("snapshot_id"), value.get("committed_at")
        if not isinstance(snapshot_id, int) or not isinstance(committed_at, str):
            return None
        return cls(snapshot_id, committed_at)


@dataclasses.dataclass(frozen=True)
class Recompute:
    """What a build of the incremental marts recomputes: every day (`window` None and `everything`), the
    days in `window`, or nothing; `reason` says why, for the run's log and the materialization."""

    window: Window | None
    everything: bool
    reason: str

    @property
    def nothing(self) -> bool:
        return self.window is None and not self.everything


def current(con: duckdb.DuckDBPyConnection) -> Seen:
    """The snapshot this session sees."""
    snapshot_id, committed_at = con.execute(
        f"SELECT snapshot_id, snapshot_time FROM {LAKE}.snapshots() "
        f"WHERE snapshot_id = (SELECT id FROM {LAKE}.current_snapshot())"
    ).fetchall()[0]
    return Seen(int(snapshot_id), committed_at.isoformat())


def still_in_lake(con: duckdb.DuckDBPyConnection, seen: Seen) -> bool:
    """Whether the lake still has `seen`: the same id committed at the same time."""
    rows = con.execute(
        f"SELECT snapshot_time FROM {LAKE}.snapshots() WHERE snapshot_id = ?", [seen.snapshot_id]
    ).fetchall()
    return bool(rows) and rows[0][0].isoformat() == seen.committed_at


def _existing(con: duckdb.DuckDBPyConnection, tables: Iterable[str]) -> list[str]:
    wanted = list(tables)
    rows = con.execute(
        "SELECT table_name FROM information_schema.tables "
        "WHERE table_catalog = ? AND table_schema = 'main' AND table_name IN (SELECT unnest(?))",
        [LAKE, wanted],
    ).fetchall()
    found = {name for (name,) in rows}
    return [table for table in wanted if table in found]


def changed_days(
    con: duckdb.DuckDBPyConnection, tables: Mapping[str, str], after: Seen, through: Seen
) -> tuple[dt.date, dt.date] | None:
    """The first and last UTC day of any row of `tables` (name -> day expression) inserted or deleted by a
    snapshot after `after` up to `through`; None when no row changed."""
    if through.snapshot_id <= after.snapshot_id:
        return None
    selects = [
        f"SELECT min(CAST({day} AS DATE)) AS first, max(CAST({day} AS DATE)) AS last "
        f"FROM {LAKE}.table_changes('{table}', {after.snapshot_id + 1}, {through.snapshot_id})"
        for table, day in ((t, tables[t]) for t in _existing(con, tables))
    ]
    if not selects:
        return None
    first, last = con.execute(
        f"SELECT min(first), max(last) FROM ({' UNION ALL '.join(selects)})"
    ).fetchall()[0]
    return None if first is None else (first, last)


def plan(
    con: duckdb.DuckDBPyConnection, sources: Iterable[str], previous: Seen | None, through: Seen
) -> Recompute:
    """What to recompute for marts reading `sources` (keys of HISTORY_TABLES; others are ignored) that last saw
    the history through `previous` (None: never), given the lake at `through`."""
    if previous is None:
        return Recompute(None, True, "no previous build recorded the lake snapshot it saw: every day")
    if not still_in_lake(con, previous):
        return Recompute(
            None, True,
            f"the previous build's lake snapshot {previous.snapshot_id} ({previous.committed_at}) is no longer "
            "in the lake (expired by maintenance, or another lake): every day",
        )
    tables = {table: day for source in sources for table, day in HISTORY_TABLES.get(source, {}).items()}
    try:
        changed = changed_days(con, tables, previous, through)
    except duckdb.Error as exc:  # never a wrong window: recomputing everything is slower, not wrong
        # The reason goes into the run's log and the materialization: never a catalog password.
        return Recompute(None, True, f"the lake's change feed could not be read ({redact(str(exc))}): every day")
    since = f"lake snapshots {previous.snapshot_id + 1}..{through.snapshot_id}"
    if changed is None:
        return Recompute(None, False, f"no history row changed in {since}: nothing to recompute")
    window = Window(*changed)
    return Recompute(window, False, f"history rows of UTC days {window} changed in {since}")
