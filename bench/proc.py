"""Run a command as a whole process and measure it: wall time, CPU time, peak memory.

Peak memory is reported two ways: the largest single process (the kernel's `ru_maxrss` of the child
and the descendants it waited for, from `wait4`) and the largest sum over the whole process tree,
sampled from /proc every 100 ms (the platform runs dbt as a child process).
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

_PAGE = os.sysconf("SC_PAGE_SIZE")


@dataclasses.dataclass
class Measured:
    cmd: list[str]
    exit_code: int
    wall_s: float
    user_s: float
    sys_s: float
    peak_rss_mb: float  # largest single process
    peak_tree_rss_mb: float  # largest sampled sum over the process tree
    output_tail: str = ""
    # (unix time, RSS MB of the command's own process) every ~0.5 s, to see which phase holds the peak
    timeline: list[tuple[float, float]] = dataclasses.field(default_factory=list, repr=False)

    def as_dict(self) -> dict:
        return {
            k: (round(v, 3) if isinstance(v, float) else v)
            for k, v in dataclasses.asdict(self).items()
            if k != "timeline"
        }

    def peak_between(self, start: float, end: float) -> float | None:
        """The command process's largest sampled RSS (MB) between two unix times."""
        inside = [rss for t, rss in self.timeline if start <= t <= end]
        return max(inside) if inside else None


def _children(pid: int) -> list[int]:
    kids = []
    task_dir = Path(f"/proc/{pid}/task")
    try:
        for task in task_dir.iterdir():
            text = (task / "children").read_text()
            kids += [int(p) for p in text.split()]
    except OSError:
        pass
    return kids


def _rss_bytes(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * _PAGE
    except (OSError, IndexError, ValueError):
        return 0


def tree_rss(pid: int) -> int:
    total, stack, seen = 0, [pid], set()
    while stack:
        p = stack.pop()
        if p in seen:
            continue
        seen.add(p)
        total += _rss_bytes(p)
        stack += _children(p)
    return total


def run(
    cmd: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout_s: float = 600.0,
    log_file: Path | None = None,
) -> Measured:
    """Run `cmd` to completion (killed after `timeout_s`) and measure it."""
    out = open(log_file, "wb") if log_file else subprocess.DEVNULL  # noqa: SIM115 - closed below
    started = time.perf_counter()
    proc = subprocess.Popen(list(cmd), env=dict(env) if env else None, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
    peak_tree = 0
    timeline: list[tuple[float, float]] = []
    done = threading.Event()

    def sample() -> None:
        nonlocal peak_tree
        last = 0.0
        own = 0
        while not done.is_set():
            peak_tree = max(peak_tree, tree_rss(proc.pid))
            own = max(own, _rss_bytes(proc.pid))
            now = time.time()
            if now - last >= 0.5:
                timeline.append((now, own / 2**20))
                last, own = now, 0
            done.wait(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    deadline = started + timeout_s
    status = None
    rusage = None
    while True:
        pid, status, rusage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if time.perf_counter() > deadline:
            proc.kill()
            pid, status, rusage = os.wait4(proc.pid, 0)
            break
        time.sleep(0.05)
    wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    done.set()
    sampler.join()
    if log_file:
        out.close()
    tail = ""
    if log_file and proc.returncode != 0:
        tail = log_file.read_text(errors="replace")[-3000:]
    return Measured(
        cmd=list(cmd),
        exit_code=proc.returncode,
        wall_s=wall,
        user_s=rusage.ru_utime,
        sys_s=rusage.ru_stime,
        peak_rss_mb=rusage.ru_maxrss / 1024,
        peak_tree_rss_mb=peak_tree / 2**20,
        output_tail=tail,
        timeline=timeline,
    )
