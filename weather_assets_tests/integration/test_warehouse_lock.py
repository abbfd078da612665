"""The warehouse connect waits for another process's DuckDB lock instead of failing at once.

Dagster's pool serializes our writers; this is the safety net for a process outside it (the CLI, a
shell, the first dequeue of a fresh instance) holding the file for a moment.
"""

from __future__ import annotations

import logging
import multiprocessing
import time
from pathlib import Path

import duckdb
import pytest

from weather_assets.warehouse import writer

pytestmark = pytest.mark.integration


def _hold(path: str, seconds: float, ready) -> None:
    con = duckdb.connect(path)
    ready.set()
    time.sleep(seconds)
    con.close()


@pytest.fixture
def held(tmp_path):
    """Hold tmp_path/warehouse.duckdb open for writing from another process for `seconds`."""
    processes = []

    def hold(seconds: float) -> Path:
        path = tmp_path / "warehouse.duckdb"
        ready = multiprocessing.get_context("spawn").Event()
        proc = multiprocessing.get_context("spawn").Process(target=_hold, args=(str(path), seconds, ready))
        proc.start()
        processes.append(proc)
        assert ready.wait(30)
        return path

    yield hold
    for proc in processes:
        proc.join(timeout=30)


def test_connect_waits_for_the_other_writer(held, caplog):
    caplog.set_level(logging.WARNING, logger="weather_assets.warehouse.writer")
    path = held(1.5)
    started = time.monotonic()
    con = writer.connect(path)
    try:
        assert con.sql("SELECT 42").fetchall() == [(42,)]
    finally:
        con.close()
    assert time.monotonic() - started >= 0.5
    assert "is held by another process" in caplog.text


def test_connect_gives_up_after_its_wait(held):
    path = held(3.0)
    with pytest.raises(duckdb.IOException, match="Could not set lock"):
        writer.connect(path, wait_s=0.3)
