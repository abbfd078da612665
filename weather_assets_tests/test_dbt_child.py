"""`weather-assets-dbt` ends dbt when the process that started it dies (a SIGKILLed run)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from weather_assets.defs import metrics

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux-only")

PARENT = """
import subprocess, sys
child = subprocess.Popen([sys.executable, "-c", sys.argv[1]])
print(child.pid, flush=True)
child.wait()
"""
BOUND = "from weather_assets.dbt_child import exec_bound_to_parent; exec_bound_to_parent(['/bin/sleep', '60'])"
UNBOUND = "import os; os.execv('/bin/sleep', ['/bin/sleep', '60'])"


def alive(pid: int) -> bool:
    """Running (a zombie waiting for a reaper counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def child_after_parent_is_killed(code: str) -> tuple[int, bool]:
    """Start a parent whose child runs `code` (which execs `sleep 60`), SIGKILL the parent, and say
    whether the child is still running 3 s later."""
    parent = subprocess.Popen([sys.executable, "-c", PARENT, code], stdout=subprocess.PIPE, text=True)
    child = int(parent.stdout.readline())
    deadline = time.monotonic() + 10
    while not Path(f"/proc/{child}/cmdline").read_bytes().startswith(b"/bin/sleep\0"):  # exec'd
        assert time.monotonic() < deadline, "the child never became sleep"
        time.sleep(0.02)
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 3
    while alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    return child, alive(child)


def test_the_wrapped_child_ends_with_its_parent():
    _, survived = child_after_parent_is_killed(BOUND)
    assert not survived


def test_an_unwrapped_child_outlives_its_parent():
    """The control: what dbt did before the wrapper (so the test above can fail)."""
    child, survived = child_after_parent_is_killed(UNBOUND)
    try:
        assert survived
    finally:
        if alive(child):
            os.kill(child, signal.SIGKILL)


def test_the_platform_starts_dbt_through_the_wrapper_and_knows_its_version_without_a_subprocess(monkeypatch):
    executable = metrics.dbt_executable()
    assert Path(executable) == Path(sys.executable).parent / metrics.DBT_WRAPPER
    monkeypatch.setattr("dagster_dbt.core.resource.check_output", lambda *a, **k: pytest.fail("dbt --version ran"))
    resource = metrics.WarehouseDbtCliResource(
        project_dir=str(metrics.dbt_project.project_dir), dbt_executable=executable
    )
    assert resource._cli_version.major >= 1
