"""What `weather-assets` shows while a run goes: one line per provider and phase (pull, validate,
warehouse, dbt) with its figures and elapsed time, a progress bar on a terminal, and every Dagster event
and dbt line in a log file instead of the terminal (`--verbose` shows them as well).

The run's loggers receive every event of the run (the instance records them as always, so the UI shows
the same run); this module only decides what reaches the terminal.
"""

from __future__ import annotations

import dataclasses
import logging
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

import dagster as dg

PHASES = ("pull", "validate", "warehouse", "dbt")
_PREFIXES = {
    "forecasts__blend": "warehouse",  # the blended forecast: computed from the warehouse, written to it
    "raw__": "pull",
    "observations__": "validate",
    "daily_observations__": "validate",
    "air_quality__": "validate",
    "precipitation_15min__": "validate",
    "forecasts__": "validate",
    "current_conditions__": "validate",
    "warehouse__": "warehouse",
    "dbt_": "dbt",
}


# Steps whose `rejected` and rows written (`rows_loaded` or the row count) the phase lines add up.
_ROWS_WRITTEN = (
    "__observations",
    "__daily_observations",
    "__air_quality",
    "__precipitation_15min",
    "__forecasts",
    "__blend",
)


def phase_of(step_key: str) -> str:
    return next((phase for prefix, phase in _PREFIXES.items() if step_key.startswith(prefix)), "warehouse")


@dataclasses.dataclass
class _Phase:
    steps: set[str]
    done: set[str] = dataclasses.field(default_factory=set)
    failed: bool = False
    seconds: float = 0.0
    requests: int = 0
    bytes: int = 0
    rows: int = 0
    rejected: int = 0
    models: int = 0
    tests: int = 0
    tests_failed: int = 0

    def figures(self, name: str) -> str:
        if name == "pull":
            size = f"{self.bytes / 1e6:,.1f} MB" if self.bytes >= 1e6 else f"{self.bytes / 1e3:,.0f} kB"
            return f"{self.requests:,} request(s), {size}"
        if name == "validate":
            return f"{self.rows:,} rows valid, {self.rejected:,} quarantined"
        if name == "warehouse":
            return f"{self.rows:,} rows written"
        failed = f", {self.tests_failed} failed" if self.tests_failed else ""
        return f"{self.models} models built, {self.tests} tests{failed}"


class Progress(logging.Handler):
    """Turns a run's Dagster events into phase lines (and a bar on a terminal) for one provider; with a `label`
    (a forecast snapshot's run), one line for the whole run instead."""

    def __init__(
        self, provider: str, steps: Iterable[str], stream: IO[str], label: str | None = None, window: str = ""
    ):
        super().__init__(logging.DEBUG)
        self.provider, self.stream, self.label = provider, stream, label
        self.window = window  # the days a history run loads, shown on its first phase line
        self.tty = stream.isatty()
        self.phases: dict[str, _Phase] = {}
        for step in steps:
            self.phases.setdefault(phase_of(step), _Phase(set())).steps.add(step)
        self.total = sum(len(p.steps) for p in self.phases.values())
        self.started: dict[str, float] = {}
        self.printed: set[str] = set()
        self.counted: set[dg.AssetKey] = set()
        self.issued: str | None = None  # a snapshot run's issue time (its raw pull's `issued_at`)

    def emit(self, record: logging.LogRecord) -> None:
        meta = getattr(record, "dagster_meta", None) or {}
        event = meta.get("dagster_event")
        step = meta.get("step_key")
        if event is None or step is None:
            return
        phase = self.phases.setdefault(phase_of(step), _Phase({step}))
        kind = event.event_type_value
        if kind == "STEP_START":
            self.started[step] = record.created
        elif kind == "ASSET_MATERIALIZATION":
            # A range run materializes each partition with the same metadata: count each asset once.
            materialization = event.event_specific_data.materialization
            if materialization.asset_key not in self.counted:
                self.counted.add(materialization.asset_key)
                self._count(phase, step, materialization.metadata)
        elif kind == "ASSET_CHECK_EVALUATION" and phase_of(step) == "dbt":
            phase.tests += 1
            phase.tests_failed += not event.event_specific_data.passed
        elif kind in ("STEP_SUCCESS", "STEP_FAILURE", "STEP_SKIPPED", "STEP_UP_FOR_RETRY"):
            phase.done.add(step)
            phase.failed |= kind == "STEP_FAILURE"
            phase.seconds += record.created - self.started.get(step, record.created)
            self._report()

    def _count(self, phase: _Phase, step: str, metadata: dict[str, Any]) -> None:
        value = {k: getattr(v, "value", v) for k, v in metadata.items()}
        name = phase_of(step)
        if name == "pull":
            self.issued = value.get("issued_at", self.issued)
            phase.requests += int(value.get("requests", 0))
            phase.bytes += int(value.get("bytes", 0))
        elif name == "dbt":
            phase.models += 1
        elif name == "validate" or step.endswith(_ROWS_WRITTEN):
            # A snapshot table's row count is the whole table's; what this run wrote is `rows_loaded` (by source).
            loaded = value.get("rows_loaded", value.get("dagster/row_count", 0))
            phase.rows += sum(loaded.values()) if isinstance(loaded, dict) else int(loaded)
            phase.rejected += int(value.get("rejected", 0))

    def _report(self) -> None:
        done = sum(len(p.done) for p in self.phases.values())
        if self.label is not None and done == self.total:
            self._write(self._clear() + self._run_line() + "\n")
            return
        for name in PHASES if self.label is None else ():
            phase = self.phases.get(name)
            if phase is None or name in self.printed:
                continue
            if not phase.steps <= phase.done:
                break  # in PHASES order: the warehouse's checks may end after dbt has started
            self.printed.add(name)
            status = "FAILED " if phase.failed else ""
            line = f"  {self.provider:<22} {name:<9} {status}{phase.figures(name):<44} {phase.seconds:6.1f} s"
            if len(self.printed) == 1 and self.window:
                line += f"  ({self.window})"
            self._write(self._clear() + line + "\n")
        if self.tty and done < self.total:
            filled = round(20 * done / max(self.total, 1))
            self._write(
                f"\r\x1b[K  {self.provider:<22} [{'#' * filled}{'.' * (20 - filled)}] {done}/{self.total} steps"
            )

    def _run_line(self) -> str:
        """The whole run on one line: each phase's figures, then the time of all of them."""
        phases = [(name, self.phases[name]) for name in PHASES if name in self.phases]
        status = "FAILED " if any(phase.failed for _, phase in phases) else ""
        figures = "; ".join(phase.figures(name) for name, phase in phases)
        seconds = sum(phase.seconds for _, phase in phases)
        issued = f" (issued {self.issued[:16].replace('T', ' ')} UTC)" if self.issued else ""
        return f"  {self.provider:<22} {self.label:<9} {status}{figures}{issued}  {seconds:.1f} s"

    @classmethod
    def combined_line(cls, runs: list[Progress]) -> str:
        """One line for several snapshot runs of one provider (offline, the past days' forecasts): the figures
        summed, the issue times as a range."""
        first = runs[0]
        phases = {name: _Phase(set()) for name in PHASES if any(name in run.phases for run in runs)}
        for run in runs:
            for name, phase in run.phases.items():
                total = phases[name]
                total.failed |= phase.failed
                for field in ("seconds", "requests", "bytes", "rows", "rejected", "models", "tests", "tests_failed"):
                    setattr(total, field, getattr(total, field) + getattr(phase, field))
        status = "FAILED " if any(phase.failed for phase in phases.values()) else ""
        figures = "; ".join(phase.figures(name) for name, phase in phases.items())
        issued = sorted(run.issued[:16].replace("T", " ") for run in runs if run.issued)
        when = ""
        if len(issued) == 1:
            when = f" (issued {issued[0]} UTC)"
        elif issued:
            when = f" ({len(issued)} snapshots, issued {issued[0]} .. {issued[-1]} UTC)"
        seconds = sum(phase.seconds for phase in phases.values())
        return f"  {first.provider:<22} {first.label:<9} {status}{figures}{when}  {seconds:.1f} s"

    def _clear(self) -> str:
        """Back to the start of the line, erasing the progress bar (a terminal only)."""
        return "\r\x1b[K" if self.tty else ""

    def _write(self, text: str) -> None:
        self.stream.write(text)
        self.stream.flush()


def run_loggers(progress: Progress, log_file: Path, verbose: bool) -> dict[str, dg.LoggerDefinition]:
    """The run's loggers: everything to `log_file`, phase lines to the terminal, and with `verbose`
    Dagster's own console output too."""

    @dg.logger
    def weather_assets_cli(_init_context) -> logging.Logger:
        logger = logging.getLogger(f"weather_assets.cli.{progress.provider}")
        logger.setLevel(logging.DEBUG)
        logger.propagate = False
        to_file = logging.FileHandler(log_file, encoding="utf-8")
        to_file.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        handlers: list[logging.Handler] = [to_file, progress]
        if verbose:
            to_terminal = logging.StreamHandler(sys.stderr)
            to_terminal.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
            handlers.append(to_terminal)
        logger.handlers = handlers
        return logger

    return {"weather_assets_cli": weather_assets_cli}


RUN_CONFIG = {"loggers": {"weather_assets_cli": {}}}  # use these loggers instead of the default console
