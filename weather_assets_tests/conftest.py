"""Shared fixtures: recorded payloads, settings on a temporary data dir, the dbt manifest."""

from __future__ import annotations

import fcntl
import json
import subprocess
import sys
from pathlib import Path

import pytest

from weather_assets.settings import Settings

FIXTURES = Path(__file__).parent / "fixtures" / "providers"
REPO = Path(__file__).resolve().parent.parent


def load_payload(provider: str, name: str):
    """A provider's recorded/documented payload (each described in docs/providers/<provider>.md "Samples")."""
    return json.loads((FIXTURES / provider / name).read_text())


@pytest.fixture
def payload():
    return load_payload


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch, tmp_path):
    """No test reads the developer's WEATHER_ASSETS_* variables or writes under the repo's data/."""
    import os

    for name in list(os.environ):
        if name.startswith("WEATHER_ASSETS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("WEATHER_ASSETS_DATA_DIR", str(tmp_path / "data"))
    # The end-to-end suites exercise the platform through Open-Meteo; the cross-provider suite
    # (defs/test_all_providers.py) enables every provider explicitly.
    monkeypatch.setenv("WEATHER_ASSETS_PROVIDERS", "open_meteo")


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings.from_env(
        {"WEATHER_ASSETS_DATA_DIR": str(tmp_path / "data"), "WEATHER_ASSETS_PROVIDERS": "open_meteo"}
    )


@pytest.fixture(scope="session")
def dbt_manifest() -> Path:
    """`dbt parse` once per session if the install step has not produced the manifest yet, or if a model,
    macro, test or the project file changed since (as the Makefile's rule for it does): a stale manifest
    would build definitions without the new models."""
    manifest = REPO / "dbt_project" / "target" / "manifest.json"
    manifest.parent.mkdir(exist_ok=True)
    # pytest-xdist's workers share the project's target/: one parses, the others wait for it.
    with open(manifest.parent / ".parse.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not manifest.exists() or _newest_dbt_source() > manifest.stat().st_mtime:
            _dbt_parse()
    return manifest


def _newest_dbt_source() -> float:
    project = REPO / "dbt_project"
    found = (path for folder in ("models", "macros", "tests") for path in (project / folder).rglob("*"))
    sources = [project / "dbt_project.yml", project / "profiles.yml", *found]
    return max(p.stat().st_mtime for p in sources if p.is_file())


def _dbt_parse() -> None:
    dbt = str(Path(sys.executable).parent / "dbt")
    subprocess.run([dbt, "parse", "--quiet", "--profiles-dir", ".", "--project-dir", "."], cwd=REPO / "dbt_project",
                   check=True)


# The files that take a minute or more, first. pytest-xdist hands whole files to its workers (pyproject.toml:
# `--dist loadfile --no-loadscope-reorder`) in collection order, so the long ones start at once and the
# short ones fill in around them instead of one long file running alone at the end.
LONG_FIRST = (
    "integration/test_shared_lake.py",
    "integration/test_dagster_dev.py",
    "integration/test_ui_browser.py",
    "test_cli_faults.py",
    "test_cli.py",
    "defs/test_all_providers.py",
    "defs/test_metrics.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent

    def rank(item: pytest.Item) -> int:
        name = item.path.relative_to(here).as_posix() if item.path.is_relative_to(here) else ""
        return LONG_FIRST.index(name) if name in LONG_FIRST else len(LONG_FIRST)

    items.sort(key=rank)  # stable: within a rank, pytest's own order
