"""`weather-assets-dbt`: the `dbt` next to this interpreter, on the lake the settings name, ended together with
the process that started it.

The lake: dbt's sessions attach the lake WEATHER_ASSETS_LAKE_CATALOG and WEATHER_ASSETS_LAKE_DATA_PATH name (the
dbt plugin); the platform's dbt step passes both resolved (absolute paths), and this wrapper resolves them from
the settings when they are not given, so dbt writes the lake the platform writes whatever its working directory, and a
PostgreSQL password stays out of dbt's command line.

dagster-dbt runs dbt as a child process. When the run's process dies without cleaning up (SIGKILL, the
OOM killer), dbt went on writing the warehouse for seconds after it. On Linux the kernel can send the
child a signal when its parent dies (PR_SET_PDEATHSIG); the setting survives `exec`, so this wrapper
sets it and becomes dbt. Elsewhere it simply becomes dbt.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
# Who started us, read before anything slow: if it dies while this module still imports, binding must notice.
STARTED_BY = os.getppid()


def bind_to_parent(parent: int) -> None:
    """From now on this process (and what it execs) receives SIGTERM when `parent` dies; exit at once if
    `parent` is already gone."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
        if os.getppid() != parent:  # the parent died before the setting took effect
            sys.exit(128 + signal.SIGTERM)


def exec_bound_to_parent(argv: Sequence[str]) -> None:
    """Replace this process with `argv`, which receives SIGTERM when this process's parent dies."""
    bind_to_parent(os.getppid())
    os.execv(argv[0], list(argv))


def main() -> None:
    bind_to_parent(STARTED_BY)
    # Imported only once bound: reading the settings takes a moment, and a parent killed meanwhile must end us.
    from weather_assets.settings import Settings, lake_environment

    # Where the lake is, resolved to absolute paths. The platform's dbt step passes both, resolved in the run's own
    # working directory: dbt starts in dbt_project/, where a relative WEATHER_ASSETS_DATA_DIR (the default `data`)
    # names another directory. By hand, they are resolved here, in the caller's directory.
    for name, value in lake_environment(Settings.from_env().lake).items():
        os.environ.setdefault(name, value)
    dbt = Path(sys.executable).parent / "dbt"
    os.execv(str(dbt), [str(dbt), *sys.argv[1:]])


if __name__ == "__main__":
    main()
