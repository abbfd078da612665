"""`weather-assets-dbt`: the `dbt` next to this interpreter, ended together with the process that started it.

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


def exec_bound_to_parent(argv: Sequence[str]) -> None:
    """Replace this process with `argv`, which receives SIGTERM when this process's parent dies."""
    if sys.platform.startswith("linux"):
        parent = os.getppid()
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
        if os.getppid() != parent:  # the parent died before the setting took effect
            sys.exit(128 + signal.SIGTERM)
    os.execv(argv[0], list(argv))


def main() -> None:
    dbt = Path(sys.executable).parent / "dbt"
    exec_bound_to_parent([str(dbt), *sys.argv[1:]])


if __name__ == "__main__":
    main()
