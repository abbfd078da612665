"""`weather-assets` (what `make run` / `make history` call): every enabled provider, each on its own."""

from __future__ import annotations

import datetime as dt
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest
import yaml

from weather_assets import cli
from weather_assets.offline.open_meteo import OpenMeteoReplay
from weather_assets.offline.server import LocalServer, closed_port_url
from weather_assets.settings import Settings
from weather_assets_tests.support.lake import open_lake


def test_history_loads_each_provider_and_an_unreachable_one_fails_alone(monkeypatch, tmp_path, capsys, dbt_manifest):
    with LocalServer(OpenMeteoReplay()) as server:
        for name, value in {
            "WEATHER_ASSETS_DATA_DIR": str(tmp_path / "data"),
            "WEATHER_ASSETS_START_DATE": "2024-03-01",
            "WEATHER_ASSETS_PROVIDERS": "meteostat,open_meteo",  # the failing one first
            "WEATHER_ASSETS_OPEN_METEO_ARCHIVE_URL": server.url("/v1/archive"),
            "WEATHER_ASSETS_METEOSTAT_URL": closed_port_url(),
        }.items():
            monkeypatch.setenv(name, value)
        monkeypatch.delenv("DAGSTER_HOME", raising=False)
        code = cli.main(["history", "--start", "2024-03-20", "--end", "2024-03-20"])
    out, err = capsys.readouterr()
    assert code == 1  # one provider failed; the exit status says so
    assert "meteostat: cannot reach 127.0.0.1" in err
    assert "FAILED: meteostat (the other providers loaded)" in err
    summary = " ".join(out.split())
    assert "observations open-meteo 360 rows, 15 sites, 1 days" in summary  # 15 sites x 24 hours
    # The terminal gets one line per provider and phase; every event and dbt line goes to the log file.
    phases = [line.split()[1] for line in err.splitlines() if line.startswith("  open_meteo")]
    assert phases == ["pull", "validate", "warehouse", "dbt"]
    assert "1 request(s)" in err and "360 rows valid, 0 quarantined" in err and "360 rows written" in err
    assert "STEP_SUCCESS" not in err + out and "START sql" not in err + out
    (log_file,) = (tmp_path / "data" / "logs").glob("weather-assets-*.log")
    assert f"goes to {log_file}" in err
    log = log_file.read_text()
    assert "STEP_SUCCESS" in log and "START sql view model staging.stg_observations" in log
    assert not [line for line in out.splitlines() if line.strip().startswith("observations") and "meteostat" in line]


def test_a_disabled_provider_named_on_the_command_line_is_refused_with_the_reason(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("WEATHER_ASSETS_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("WEATHER_ASSETS_PROVIDERS")
    assert cli.main(["run", "--provider", "weatherapi"]) == 2
    assert "provider weatherapi is disabled: WEATHER_ASSETS_WEATHERAPI_KEY is not set" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["history", "--start", "2024-03-02", "--end", "2024-03-01"]])
def test_a_reversed_range_is_refused(monkeypatch, tmp_path, capsys, argv):
    monkeypatch.setenv("WEATHER_ASSETS_DATA_DIR", str(tmp_path))
    assert cli.main(argv) == 2
    assert "is before --start" in capsys.readouterr().err


def test_a_range_before_the_start_date_is_refused_naming_the_variable(monkeypatch, tmp_path, capsys):
    """NOAA's 15-minute precipitation ends in 2013: loading it needs WEATHER_ASSETS_START_DATE before then."""
    monkeypatch.setenv("WEATHER_ASSETS_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("WEATHER_ASSETS_START_DATE", "2024-01-01")
    assert cli.main(["history", "--start", "2013-06-01", "--end", "2013-06-30"]) == 2
    err = capsys.readouterr().err
    assert "--start 2013-06-01 is before WEATHER_ASSETS_START_DATE 2024-01-01" in err
    assert "set WEATHER_ASSETS_START_DATE=2013-06-01 (or earlier)" in err
    assert not (tmp_path / "warehouse").exists()  # nothing ran


def test_an_offline_range_past_the_recordings_is_refused_naming_the_last_day(monkeypatch, tmp_path, capsys):
    """Offline, the daily partitions end with the recordings: a later --end is a clear refusal, not a traceback."""
    monkeypatch.setenv("WEATHER_ASSETS_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("WEATHER_ASSETS_OFFLINE", "1")
    monkeypatch.setenv("WEATHER_ASSETS_START_DATE", "2024-03-01")
    assert cli.main(["history", "--provider", "open_meteo", "--start", "2024-03-30", "--end", "2024-06-01"]) == 2
    err = capsys.readouterr().err
    assert "--end 2024-06-01 is after 2024-03-31 daily partition (the last day the recordings hold)" in err
    assert not (tmp_path / "warehouse").exists()  # nothing ran


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(stat.parent.name))
    return found


def _running(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_killed_cli_run_takes_dbt_with_it_and_the_next_run_marks_it_failed(tmp_path, dbt_manifest):
    """SIGKILL the CLI while dbt builds the marts: dbt ends with it (weather-assets-dbt), and the run,
    left STARTED by a process that could record nothing, is marked failed when the job next runs."""
    env = {
        **os.environ,
        "DAGSTER_HOME": str(tmp_path / "home"),
        "WEATHER_ASSETS_DATA_DIR": str(tmp_path / "data"),
        "WEATHER_ASSETS_PROVIDERS": "open_meteo",
        "WEATHER_ASSETS_OFFLINE": "1",
    }
    (tmp_path / "home").mkdir()
    command = [sys.executable, "-m", "weather_assets.cli", "history", "--start", "2024-03-20", "--end", "2024-03-21"]
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        dbt = []
        while not dbt:
            assert proc.poll() is None and time.monotonic() < deadline, "the run ended before dbt started"
            dbt = [pid for pid in _children(proc.pid) if "dbt" in _cmdline(pid)]
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        deadline = time.monotonic() + 5
        while running := [pid for pid in dbt if _running(pid)]:
            assert time.monotonic() < deadline, f"dbt outlived the killed CLI: {[_cmdline(p) for p in running]}"
            time.sleep(0.05)
    finally:
        if proc.poll() is None:
            proc.kill()
    with dg.instance_for_test(temp_dir=str(tmp_path / "home")) as instance:
        (run,) = instance.get_runs()
        assert run.status == dg.DagsterRunStatus.STARTED and run.tags[cli.PID_TAG] == str(proc.pid)
        # What the UI asks for to list the job's runs (its Runs tab) finds the CLI's run.
        ui_filter = dg.RunsFilter(job_name=run.job_name, tags={".dagster/repository": "__repository__@weather_assets"})
        assert [r.run_id for r in instance.get_runs(filters=ui_filter)] == [run.run_id]
        assert cli.fail_abandoned_runs(instance, run.job_name) == [run.run_id]
        assert instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.FAILURE
        assert cli.fail_abandoned_runs(instance, run.job_name) == []  # once


def test_cli_runs_carry_the_repository_label_of_the_code_location_the_ui_loads():
    """The label the UI filters a job's runs by: `Definitions`' repository at workspace.yaml's code location."""
    from dagster._core.definitions.repository_definition.valid_definitions import SINGLETON_REPOSITORY_NAME

    workspace = yaml.safe_load((Path(__file__).parents[1] / "workspace.yaml").read_text())
    (location,) = [entry["python_module"]["location_name"] for entry in workspace["load_from"]]
    assert cli.REPOSITORY_LABEL == f"{SINGLETON_REPOSITORY_NAME}@{location}"


def test_a_run_whose_process_still_runs_and_runs_of_other_hosts_are_left_alone(tmp_path):
    job = dg.GraphDefinition("history").to_job()
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        ours = instance.create_run_for_job(job, status=dg.DagsterRunStatus.STARTED, tags=cli.this_process_tags())
        other_host = {**cli.this_process_tags(), cli.HOST_TAG: "another-machine", cli.PID_TAG: "999999999"}
        theirs = instance.create_run_for_job(job, status=dg.DagsterRunStatus.STARTED, tags=other_host)
        assert cli.fail_abandoned_runs(instance, job.name) == []
        for run in (ours, theirs):
            assert instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.STARTED


def test_a_failed_run_says_which_tables_it_changed_and_which_it_left_behind():
    @dg.asset(key=["warehouse", "observations"])
    def observations():
        return 1

    @dg.asset(key=["marts", "daily_site_weather"], deps=[observations])
    def daily_site_weather():
        raise dg.Failure("open_meteo: the mart could not be built")

    @dg.asset(key=["marts", "rolling_site_weather"], deps=[daily_site_weather])
    def rolling_site_weather():
        return 1

    job = dg.Definitions(
        assets=[observations, daily_site_weather, rolling_site_weather],
        jobs=[dg.define_asset_job("history", executor_def=dg.in_process_executor)],
    ).resolve_job_def("history")
    result = job.execute_in_process(raise_on_error=False)

    assert cli._failure_lines("open_meteo", result) == [
        "weather-assets: open_meteo: step marts__daily_site_weather failed: open_meteo: the mart could not be built",
        "weather-assets: open_meteo: changed by the failed run: warehouse/observations",
        "weather-assets: open_meteo: NOT changed, now behind: marts/daily_site_weather, marts/rolling_site_weather; "
        "re-run the range (or let automation under `make dev` catch up) to bring them in line",
    ]


def test_a_bad_catalog_fails_before_any_run_naming_file_site_and_field(monkeypatch, tmp_path, capsys):
    catalog = tmp_path / "sites.yaml"
    catalog.write_text(
        "sites:\n  - id: oslo_no\n    name: Oslo\n    latitude: 200\n    longitude: 10.7\n    timezone: Europe/Oslo\n"
    )
    monkeypatch.setenv("WEATHER_ASSETS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("WEATHER_ASSETS_SITES_FILE", str(catalog))
    monkeypatch.setattr(cli, "run_history", lambda *a: pytest.fail("a run started"))
    assert cli.main(["history", "--start", "2024-03-01", "--end", "2024-03-01"]) == 2
    err = capsys.readouterr().err
    assert str(catalog) in err and "oslo_no" in err and "latitude" in err


def test_every_provider_unreachable_is_a_provider_failure_exit_1(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("WEATHER_ASSETS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("WEATHER_ASSETS_START_DATE", "2024-03-01")
    monkeypatch.setenv("WEATHER_ASSETS_PROVIDERS", "meteostat")
    monkeypatch.setenv("WEATHER_ASSETS_METEOSTAT_URL", closed_port_url())
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    assert cli.main(["history", "--start", "2024-03-20", "--end", "2024-03-20"]) == 1
    assert "meteostat: cannot reach 127.0.0.1" in capsys.readouterr().err


def test_no_marts_stops_at_the_warehouse_tables(monkeypatch, tmp_path, capsys, dbt_manifest):
    with LocalServer(OpenMeteoReplay()) as server:
        for name, value in {
            "WEATHER_ASSETS_DATA_DIR": str(tmp_path / "data"),
            "WEATHER_ASSETS_START_DATE": "2024-03-01",
            "WEATHER_ASSETS_PROVIDERS": "open_meteo",
            "WEATHER_ASSETS_OPEN_METEO_ARCHIVE_URL": server.url("/v1/archive"),
        }.items():
            monkeypatch.setenv(name, value)
        monkeypatch.delenv("DAGSTER_HOME", raising=False)
        code = cli.main(["history", "--start", "2024-03-20", "--end", "2024-03-20", "--no-marts"])
    out, err = capsys.readouterr()
    assert code == 0
    assert [line.split()[1] for line in err.splitlines() if line.startswith("  open_meteo")] == [
        "pull",
        "validate",
        "warehouse",
    ]
    summary = " ".join(out.split())
    assert "observations open-meteo 360 rows" in summary
    assert "daily_site_weather not built yet: marts.daily_site_weather" in summary


def _offline(monkeypatch, tmp_path, providers: str) -> None:
    for name, value in {
        "WEATHER_ASSETS_DATA_DIR": str(tmp_path / "data"),
        "WEATHER_ASSETS_START_DATE": "2024-03-01",
        "WEATHER_ASSETS_PROVIDERS": providers,
        "WEATHER_ASSETS_OFFLINE": "1",  # the recordings' clock: 2024-03-24 06:00 UTC
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("DAGSTER_HOME", raising=False)


def test_a_range_nws_serves_in_part_loads_the_days_it_serves_and_says_which_it_skipped(monkeypatch, tmp_path, capsys):
    _offline(monkeypatch, tmp_path, "nws")

    code = cli.main(["history", "--start", "2024-03-10", "--end", "2024-03-20", "--no-marts"])

    out, err = capsys.readouterr()
    assert code == 0, err
    assert (
        "nws: skipped 2024-03-10 .. 2024-03-16: the provider keeps only about 7 days of history (the oldest day it "
        "serves now is 2024-03-17)" in err
    )
    assert re.search(r"^  nws +pull .*\(2024-03-17 \.\. 2024-03-20\)$", err, re.M), err
    with open_lake(Settings.from_env(), read_only=True) as con:
        first, last = con.execute("select min(observed_at), max(observed_at) from observations").fetchall()[0]
    assert (first.date(), last.date()) == (dt.date(2024, 3, 17), dt.date(2024, 3, 20))
    assert "FAILED" not in err


def test_a_range_nws_cannot_serve_at_all_fails_nws_alone(monkeypatch, tmp_path, capsys):
    _offline(monkeypatch, tmp_path, "nws,open_meteo")

    code = cli.main(["history", "--start", "2024-03-04", "--end", "2024-03-05", "--no-marts"])

    out, err = capsys.readouterr()
    assert code == 1
    assert "nws: nothing of 2024-03-04 .. 2024-03-05 can be loaded: the provider keeps only about 7 days" in err
    assert not re.search(r"^  nws +pull", err, re.M)
    assert re.search(r"^  open_meteo +pull .*\(2024-03-04 \.\. 2024-03-05\)$", err, re.M), err
    assert "FAILED: nws (the other providers loaded)" in err
    assert "observations open-meteo 720 rows, 15 sites, 2 days" in " ".join(out.split())


def test_run_takes_forecasts_first_and_ends_with_the_blend_scored_beside_them(
    monkeypatch, tmp_path, capsys, dbt_manifest
):
    """A newcomer's offline `make run` fills `forecasts` with the replays' snapshots of the days before the
    recording's clock and of the clock itself, loads the history that observes their first hours, then blends
    the providers and scores the blend beside them in marts.forecast_skill."""
    _offline(monkeypatch, tmp_path, "open_meteo,seven_timer")  # 7Timer forecasts only: no history run

    code = cli.main(["run", "--days", "2"])

    out, err = capsys.readouterr()
    assert code == 0, err
    # One line per provider for its four snapshots (each issue time's own run is in the log file).
    lines = [line for line in err.splitlines() if line.split()[1:2] == ["forecast"]]
    issued = [f"2024-03-{day} 06:00" for day in (21, 22, 23, 24)]
    assert [line.split()[0] for line in lines] == ["open_meteo", "seven_timer"]
    for line in lines:  # what these snapshots wrote, not the whole table's rows
        assert f"(4 snapshots, issued {issued[0]} .. {issued[-1]} UTC)" in line, line
        valid, written = re.search(r"([\d,]+) rows valid, 0 quarantined; ([\d,]+) rows written", line).groups()
        assert valid == written, line
    assert "4 request(s)" in lines[0]  # one multi-location call per snapshot
    pull = next(line for line in err.splitlines() if line.split()[:2] == ["open_meteo", "pull"])
    assert err.index(lines[0]) < err.index(pull)
    blend_line = next(line for line in err.splitlines() if line.split()[:2] == ["forecasts", "blend"])
    assert err.index(pull) < err.index(blend_line)
    assert re.search(r"[1-9][\d,]* rows written; \d+ models built, \d+ tests", blend_line), blend_line
    summary = " ".join(out.split())
    assert re.search(
        r"forecasts 7timer [\d,]+ \(15 sites\), blend [\d,]+ \(15 sites\), open-meteo [\d,]+ \(15 sites\); "
        r"newest issued 2024-03-24 06:00 UTC",
        summary,
    ), summary
    with open_lake(Settings.from_env(), read_only=True) as con:
        (forecasts,) = con.execute("select count(*) from forecasts where source = 'open-meteo'").fetchall()[0]
        issues = con.execute("select distinct issued_at from forecasts where source = 'blend' order by 1").fetchall()
        scored = dict(con.execute(
            "select source, sum(n_pairs) from marts.forecast_skill where truth_source = 'consensus' group by 1"
        ).fetchall())
    assert forecasts > 0 and f"open-meteo {forecasts:,} (15 sites)" in summary
    assert [f"{t:%Y-%m-%d %H:%M}" for (t,) in issues] == issued
    # The loaded days (03-21, 03-22) observe the hours of the earlier issues: every source is scored, the blend too.
    assert set(scored) == {"open-meteo", "7timer", "blend"} and min(scored.values()) > 0


def test_run_without_a_forecasting_provider_loads_history_and_blends_nothing(monkeypatch, tmp_path, capsys):
    _offline(monkeypatch, tmp_path, "noaa_ads")  # daily history only: no forecast, so no blend job exists

    code = cli.main(["run", "--days", "1"])

    out, err = capsys.readouterr()
    assert code == 0, err
    assert re.search(r"^  noaa_ads +pull ", err, re.M), err
    assert " forecast " not in err and "forecasts      blend" not in err
