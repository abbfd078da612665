"""`weather-assets` (what `make run` / `make history` call): every enabled provider, each on its own."""

from __future__ import annotations

import pytest

from weather_assets import cli
from weather_assets.offline.open_meteo import OpenMeteoReplay
from weather_assets.offline.server import LocalServer, closed_port_url


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
