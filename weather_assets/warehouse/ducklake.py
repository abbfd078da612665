"""The warehouse is a DuckLake: Parquet data files plus a catalog database, opened through DuckDB.

Every connection the platform opens to the warehouse (its writers, its checks, dbt, `weather-assets sql`,
a notebook) is an in-memory DuckDB session that attaches the lake as `lake` and makes it the default
database, so `observations` and `marts.daily_site_weather` name the lake's tables. Each commit is a
snapshot: a reader sees the last committed snapshot and never waits for a writer, and an older snapshot
stays queryable (`AT (VERSION => n)`) until maintenance expires it.

- **Embedded (default):** the catalog is a SQLite file and the data files a directory, both under
  `WEATHER_ASSETS_DATA_DIR/warehouse/`. No service.
- **Shared:** the catalog is a PostgreSQL database (`postgres:` + a libpq connection string or a
  `postgresql://` URI) and the data files live in S3-compatible object storage (`s3://bucket/prefix/`),
  reached with a DuckDB secret made from the `WEATHER_ASSETS_S3_*` variables.

Extensions (ducklake, sqlite/postgres scanners, httpfs) come from the `duckdb-extension-*` wheels
installed with the project; DuckDB is told where they are and never downloads one.

Writers are serialized by the Dagster pool `duckdb_warehouse`: DuckLake's concurrent-writer path has
open upstream problems (docs/design.md §7). Readers are not limited.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import importlib.util
import os
import re
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

import duckdb

LAKE = "lake"  # the alias every session gives the lake; also the default database of the session
DEFAULT_MEMORY_LIMIT = "1GB"

# The extensions the platform loads, by the name DuckDB looks for -> the wheel module that ships it.
EXTENSION_WHEELS = {
    "ducklake": "duckdb_extension_ducklake",
    "sqlite_scanner": "duckdb_extension_sqlite",
    "postgres_scanner": "duckdb_extension_postgres",
    "httpfs": "duckdb_extension_httpfs",
}
# A PostgreSQL catalog that does not answer fails the connect after this many seconds (libpq's own option).
CATALOG_CONNECT_TIMEOUT_S = 10
# The SQLite catalog: writers wait this long for a reader's lock instead of failing ("database is locked").
SQLITE_BUSY_TIMEOUT_MS = 30_000


class LakeError(RuntimeError):
    """The lake cannot be opened or written; the message names the setting, never a secret."""


@dataclasses.dataclass(frozen=True)
class S3Storage:
    """Object storage for the data files. Credentials are held here only for the moment of connecting."""

    endpoint: str | None = None  # host[:port] of an S3-compatible service; None: AWS
    region: str = "us-east-1"
    url_style: str = "vhost"  # "path" for most self-hosted services
    use_ssl: bool = True
    access_key_id: str | None = dataclasses.field(default=None, repr=False)
    secret_access_key: str | None = dataclasses.field(default=None, repr=False)


@dataclasses.dataclass(frozen=True)
class LakeConfig:
    """Where the lake is: `catalog` is a SQLite file path or `postgres:<connection string>`;
    `data_path` a directory or an `s3://bucket/prefix/` URL."""

    catalog: str
    data_path: str
    s3: S3Storage | None = None
    memory_limit: str = DEFAULT_MEMORY_LIMIT

    @property
    def on_postgres(self) -> bool:
        return self.catalog.startswith("postgres:")

    @property
    def on_object_storage(self) -> bool:
        return "://" in self.data_path

    @property
    def attach_path(self) -> str:
        """The ATTACH target: `ducklake:sqlite:<file>` or `ducklake:postgres:<connection string>`."""
        if self.on_postgres:
            return "ducklake:postgres:" + _with_connect_timeout(self.catalog.removeprefix("postgres:"))
        return "ducklake:sqlite:" + self.catalog

    def describe(self) -> str:
        """The lake for messages and metadata: catalog and data path, with any password removed."""
        return f"catalog {redact(self.catalog)}, data files {self.data_path}"


def redact(text: str) -> str:
    """`text` with passwords of connection strings and URLs replaced by ***."""
    text = re.sub(r"(password\s*=\s*)('[^']*'|\S+)", r"\1***", text, flags=re.IGNORECASE)
    return re.sub(r"(://[^:/@\s]+:)[^@\s]+@", r"\1***@", text)


def _with_connect_timeout(conninfo: str) -> str:
    if "connect_timeout" in conninfo:
        return conninfo
    if conninfo.startswith(("postgresql://", "postgres://")):
        return conninfo + ("&" if "?" in conninfo else "?") + f"connect_timeout={CATALOG_CONNECT_TIMEOUT_S}"
    return f"{conninfo} connect_timeout={CATALOG_CONNECT_TIMEOUT_S}".strip()


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


@functools.cache
def extension_directory() -> Path:
    """A DuckDB extension directory (`<version>/<platform>/<name>.duckdb_extension`) linking the files the
    installed `duckdb-extension-*` wheels ship. DuckDB does not look inside the wheels by itself, and the
    sqlite and postgres files must carry the names DuckDB loads them by."""
    version = "v" + duckdb.__version__
    with duckdb.connect() as con:
        platform = con.execute("PRAGMA platform").fetchall()[0][0]
    root = Path(tempfile.gettempdir()) / f"weather_assets-duckdb-extensions-{os.getuid()}"
    target = root / version / platform
    target.mkdir(parents=True, exist_ok=True)
    for name, module in EXTENSION_WHEELS.items():
        spec = importlib.util.find_spec(module)
        if spec is None or not spec.submodule_search_locations:
            raise LakeError(f"DuckDB extension {name} is not installed (Python package {module}); run `make install`")
        shipped = list((Path(spec.submodule_search_locations[0]) / "extensions" / version).glob("*.duckdb_extension"))
        if len(shipped) != 1:
            raise LakeError(f"{module} does not ship one extension for DuckDB {duckdb.__version__}: {shipped}")
        link = target / f"{name}.duckdb_extension"
        if not link.exists() or link.resolve() != shipped[0].resolve():
            tmp = target / f".{name}.{os.getpid()}"
            tmp.unlink(missing_ok=True)
            tmp.symlink_to(shipped[0])
            tmp.replace(link)  # atomic: a concurrent process sees the old link or the new one
    return root


def extension_settings() -> dict[str, object]:
    """DuckDB settings that load the lake's extensions from the installed wheels and never download one."""
    return {
        "extension_directory": str(extension_directory()),
        "autoinstall_known_extensions": False,
        "autoload_known_extensions": True,
    }


def session_config(memory_limit: str) -> dict[str, object]:
    """DuckDB settings of every session the platform opens on the lake (dbt's: dbt_plugin.py, profiles.yml)."""
    return {"memory_limit": memory_limit, **extension_settings()}


def s3_secret_sql(s3: S3Storage, scope: str) -> str:
    """CREATE SECRET for the data path's bucket. Holds credentials: never log it."""
    options = {"TYPE": "s3", "REGION": _quote(s3.region), "URL_STYLE": _quote(s3.url_style),
               "USE_SSL": "true" if s3.use_ssl else "false", "SCOPE": _quote(scope)}
    if s3.endpoint:
        options["ENDPOINT"] = _quote(s3.endpoint)
    if s3.access_key_id:
        options["KEY_ID"] = _quote(s3.access_key_id)
    if s3.secret_access_key:
        options["SECRET"] = _quote(s3.secret_access_key)
    return "CREATE OR REPLACE SECRET weather_assets_lake (" + ", ".join(f"{k} {v}" for k, v in options.items()) + ")"


def bucket_of(data_path: str) -> str:
    parts = urlsplit(data_path)
    return f"{parts.scheme}://{parts.netloc}"


def connect(config: LakeConfig, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """A DuckDB session with the lake attached as `lake` (the default database). A writer creates the lake
    on first use; a reader of a lake that does not exist yet gets a clear error."""
    con = duckdb.connect(config=session_config(config.memory_limit))
    try:
        attach(con, config, read_only=read_only)
    except BaseException:
        con.close()
        raise
    return con


def attach(con: duckdb.DuckDBPyConnection, config: LakeConfig, *, read_only: bool) -> None:
    """Attach the lake to `con` as `lake`, its default database: the platform's sessions (`connect`) and dbt's
    (dbt_plugin.py) alike. A failure is a LakeError naming the setting, without any password."""
    if config.on_object_storage:
        if config.s3 is None:
            raise LakeError(f"WEATHER_ASSETS_LAKE_DATA_PATH={config.data_path} is object storage, but no S3 settings")
        con.execute(s3_secret_sql(config.s3, bucket_of(config.data_path)))
    if not config.on_postgres:
        catalog = Path(config.catalog)
        if read_only and not catalog.exists():
            raise LakeError(
                f"no warehouse yet at {catalog} (WEATHER_ASSETS_LAKE_CATALOG): load some data first, e.g. `make run`"
            )
        catalog.parent.mkdir(parents=True, exist_ok=True)
        if not config.on_object_storage:
            Path(config.data_path).mkdir(parents=True, exist_ok=True)
    options = [f"DATA_PATH {_quote(config.data_path)}"]
    if read_only:
        options.append("READ_ONLY")
    if not config.on_postgres:
        # An embedded lake moves with its data directory (copied, restored from a backup, mounted elsewhere):
        # the catalog lists files relative to the data path, and the settings say where that is now.
        options.append("OVERRIDE_DATA_PATH true")
        # WAL: a reader of the SQLite catalog never blocks a writer's commit (nor the reverse).
        options.append(f"META_BUSY_TIMEOUT {SQLITE_BUSY_TIMEOUT_MS}")
        if not read_only:
            options.append("META_JOURNAL_MODE 'WAL'")
    try:
        con.execute(f"ATTACH {_quote(config.attach_path)} AS {LAKE} ({', '.join(options)})")
    except duckdb.Error as exc:
        setting = "WEATHER_ASSETS_LAKE_CATALOG" if _about_catalog(exc) else "WEATHER_ASSETS_LAKE_DATA_PATH"
        reason = redact(str(exc))
        raise LakeError(f"cannot open the warehouse lake ({setting}; {config.describe()}): {reason}") from None
    con.execute(f"USE {LAKE}")
    if not read_only and config.on_object_storage:
        probe_storage(con, config)


def _about_catalog(exc: duckdb.Error) -> bool:
    text = str(exc).lower()
    return not any(word in text for word in ("s3", "http", "bucket", "data_path", "data path"))


def probe_storage(con: duckdb.DuckDBPyConnection, config: LakeConfig) -> None:
    """Fail in seconds, naming the setting, when the bucket is missing or the credentials are wrong, instead of
    at the first file a long load writes."""
    probe = config.data_path.rstrip("/") + "/_weather_assets_probe/*"
    try:
        con.execute("SELECT count(*) FROM glob(?)", [probe]).fetchall()
    except duckdb.Error as exc:
        raise LakeError(
            f"cannot reach the lake's object storage {config.data_path} (WEATHER_ASSETS_LAKE_DATA_PATH, "
            f"WEATHER_ASSETS_S3_* credentials and endpoint): {redact(str(exc))}"
        ) from None


def current_snapshot(con: duckdb.DuckDBPyConnection) -> int:
    """The id of the lake snapshot this session sees: after a commit, the snapshot it committed."""
    return int(con.execute(f"SELECT id FROM {LAKE}.current_snapshot()").fetchall()[0][0])


@dataclasses.dataclass(frozen=True)
class StorageStats:
    """What the lake keeps: data and delete files the catalog lists (of any retained snapshot), and the
    files present under the data path (the difference is files no snapshot needs)."""

    catalog_files: int
    catalog_bytes: int
    stored_files: int
    stored_bytes: int
    snapshots: int


def storage_stats(con: duckdb.DuckDBPyConnection, config: LakeConfig) -> StorageStats:
    meta = f"__ducklake_metadata_{LAKE}"
    files, size = con.execute(
        f"""SELECT count(*), coalesce(sum(file_size_bytes), 0) FROM (
              SELECT file_size_bytes FROM {meta}.ducklake_data_file
              UNION ALL SELECT file_size_bytes FROM {meta}.ducklake_delete_file)"""
    ).fetchall()[0]
    snapshots = con.execute(f"SELECT count(*) FROM {meta}.ducklake_snapshot").fetchall()[0][0]
    pattern = config.data_path.rstrip("/") + "/**/*.parquet"
    stored, stored_size = con.execute(
        "SELECT count(*), coalesce(sum(size), 0) FROM read_blob(?)", [pattern]
    ).fetchall()[0]
    return StorageStats(int(files), int(size), int(stored), int(stored_size), int(snapshots))


# Files under the data path that no catalog entry names are deleted only once they are this old: a write in
# progress (outside Dagster's pool, e.g. a migration) has not committed its new files yet.
ORPHAN_MIN_AGE = dt.timedelta(hours=1)


def maintain(
    con: duckdb.DuckDBPyConnection, retention: dt.timedelta, orphan_min_age: dt.timedelta = ORPHAN_MIN_AGE
) -> None:
    """Compact and clean the lake, in DuckLake's order: flush inlined rows to files, merge small adjacent
    files, expire snapshots older than `retention`, delete the files no remaining snapshot needs, and delete
    orphaned files (written by a commit that never happened, e.g. a killed run). Each step commits on its
    own; readers keep reading throughout."""
    now = dt.datetime.now(dt.UTC)
    con.execute(f"CALL ducklake_flush_inlined_data('{LAKE}')")
    con.execute(f"CALL ducklake_merge_adjacent_files('{LAKE}')")
    con.execute(f"CALL ducklake_expire_snapshots('{LAKE}', older_than => ?)", [now - retention])
    con.execute(f"CALL ducklake_cleanup_old_files('{LAKE}', cleanup_all => true)")
    con.execute(f"CALL ducklake_delete_orphaned_files('{LAKE}', older_than => ?)", [now - orphan_min_age])
