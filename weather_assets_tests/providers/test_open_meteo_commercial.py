"""Open-Meteo's commercial plans: WEATHER_ASSETS_OPEN_METEO_API_KEY switches the archive and forecast pulls to
the `customer-` hosts, sends the key as `apikey` (redacted everywhere) and lifts the free tier's client-side
limits to the plan's monthly volume. A refused key fails at once, naming the variable. The client runs over a
real HTTP server on 127.0.0.1; the settings are resolved the way `dagster dev` resolves them."""

from __future__ import annotations

import datetime as dt
import json

import dagster as dg
import pytest

from weather_assets.definitions import build_defs
from weather_assets.defs.resources import LiveHttp
from weather_assets.offline.open_meteo import OpenMeteoReplay
from weather_assets.offline.server import LocalServer, ScriptedHandler, json_response
from weather_assets.providers import open_meteo
from weather_assets.providers.http import REDACTED, ProviderHttpError, RateWindow
from weather_assets.providers.spec import MONTH_S
from weather_assets.settings import Settings, SettingsError
from weather_assets.sites.catalog import bundled_sites_file, load_catalog

SPEC = open_meteo.SPEC
KEY_VAR = open_meteo.API_KEY_VAR
SECRET = "om-commercial-key-5f3a9c"
CATALOG = load_catalog(bundled_sites_file())
FREE_LIMITS = open_meteo.RATE_LIMITS
DAY = dt.date(2024, 3, 20)  # inside the replay's recording


def _settings(tmp_path, **env: str) -> Settings:
    return Settings.from_env(
        {"WEATHER_ASSETS_DATA_DIR": str(tmp_path), "WEATHER_ASSETS_PROVIDERS": "open_meteo", **env}
    )


def test_without_a_key_the_free_hosts_and_limits_apply(tmp_path):
    settings = _settings(tmp_path)
    assert "open_meteo" in settings.providers and "open_meteo" not in dict(settings.disabled)
    assert settings.endpoint_url(SPEC, SPEC.history) == "https://archive-api.open-meteo.com/v1/archive"
    assert settings.endpoint_url(SPEC, SPEC.forecast) == "https://api.open-meteo.com/v1/forecast"
    assert settings.plan_rate_limits(SPEC) is None
    with LiveHttp().fetcher(SPEC, "http://127.0.0.1:9/v1/archive", settings.plan_rate_limits(SPEC)) as fetch:
        assert fetch.client.policy.rate_limits == FREE_LIMITS  # 600/min, 5,000/h, 10,000/day


def test_a_key_switches_to_the_customer_hosts_and_the_plans_monthly_volume(tmp_path):
    settings = _settings(tmp_path, **{KEY_VAR: SECRET})
    assert settings.endpoint_url(SPEC, SPEC.history) == "https://customer-archive-api.open-meteo.com/v1/archive"
    assert settings.endpoint_url(SPEC, SPEC.forecast) == "https://customer-api.open-meteo.com/v1/forecast"
    assert settings.plan_rate_limits(SPEC) == (RateWindow(1_000_000, MONTH_S),)
    assert SECRET not in repr(settings)  # Settings records only that the key is set

    # An explicit endpoint (a proxy, a self-hosted server) still wins; another plan's volume is configurable.
    other = _settings(
        tmp_path,
        **{KEY_VAR: SECRET, "WEATHER_ASSETS_OPEN_METEO_ARCHIVE_URL": "https://om.internal/v1/archive"},
        WEATHER_ASSETS_OPEN_METEO_CALLS_PER_MONTH="5_000_000",
    )
    assert other.endpoint_url(SPEC, SPEC.history) == "https://om.internal/v1/archive"
    assert other.endpoint_url(SPEC, SPEC.forecast) == "https://customer-api.open-meteo.com/v1/forecast"
    assert other.plan_rate_limits(SPEC) == (RateWindow(5_000_000, MONTH_S),)


@pytest.mark.parametrize("bad", ["0", "lots", "-5", "2000000000"])
def test_a_plan_volume_that_is_not_a_positive_count_is_refused_naming_the_variable(tmp_path, bad):
    with pytest.raises(SettingsError, match=r"WEATHER_ASSETS_OPEN_METEO_CALLS_PER_MONTH=.*weighted API calls"):
        _settings(tmp_path, **{KEY_VAR: SECRET}, WEATHER_ASSETS_OPEN_METEO_CALLS_PER_MONTH=bad)


def test_the_key_goes_as_apikey_to_a_real_server_and_never_into_what_is_landed(tmp_path):
    settings = _settings(tmp_path, **{KEY_VAR: SECRET})
    sites = CATALOG[:3]
    http = LiveHttp(secrets={KEY_VAR: SECRET})
    with LocalServer(OpenMeteoReplay()) as server:
        with http.fetcher(SPEC, server.url("/v1/archive"), settings.plan_rate_limits(SPEC)) as fetch:
            assert fetch.client.policy.rate_limits == (RateWindow(1_000_000, MONTH_S),)
            pulled = list(SPEC.history.pull(fetch, sites, DAY, DAY))
            cost = fetch.client.stats.cost
        received = server.requests
    assert len(received) == 1 and received[0].param("apikey") == SECRET
    assert received[0].param("latitude").count(",") == 2
    (one,) = pulled
    assert SECRET not in one.response.url and f"apikey={REDACTED}" in one.response.url
    assert SECRET not in json.dumps(one.meta)
    assert open_meteo.normalise_body(one.response.body, one.meta, one.sites).height == 3 * 24
    assert cost == pytest.approx(3.0)  # counted against the plan's volume, weighted as documented


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        (400, "The supplied API key is invalid."),
        (401, "API key required. Please add &apikey= to the URL."),
        (403, "Forbidden"),
    ],
)
def test_a_refused_key_fails_at_once_naming_the_variable_never_the_key(status, reason):
    refused = json_response({"error": True, "reason": reason}, status)
    ok = json_response({"ok": True})
    with LocalServer(ScriptedHandler([refused, ok])) as server:
        with LiveHttp(secrets={KEY_VAR: SECRET}).fetcher(SPEC, server.url("/v1/archive")) as fetch:
            with pytest.raises(ProviderHttpError) as info:
                fetch.get(params=[("latitude", "1")], what="3 site(s) 2024-03-20..2024-03-20")
        assert len(server.requests) == 1  # not retried
    text = str(info.value)
    assert not info.value.retryable and f"HTTP {status}" in text and reason in text
    assert KEY_VAR in text and SECRET not in text and SECRET not in (info.value.url or "")


def test_a_run_with_the_key_lands_the_archive_and_no_log_or_metadata_holds_the_key(tmp_path, monkeypatch, dbt_manifest):
    """The whole asset, as `dagster dev` runs it: the key comes from the environment through dg.EnvVar."""
    monkeypatch.setenv(KEY_VAR, SECRET)
    with LocalServer(OpenMeteoReplay()) as server:
        settings = _settings(
            tmp_path,
            **{KEY_VAR: SECRET, "WEATHER_ASSETS_OPEN_METEO_ARCHIVE_URL": server.url("/v1/archive")},
            WEATHER_ASSETS_START_DATE="2024-03-01",
        )
        defs = build_defs(settings)
        raw = dg.AssetKey(["raw", "open_meteo"])
        assert defs.get_assets_def(raw).metadata_by_key[raw]["keyed"] is True
        with dg.instance_for_test() as instance:
            result = dg.materialize(
                list(defs.assets),
                resources=defs.resources,
                selection=[raw],
                partition_key="2024-03-20",
                instance=instance,
            )
            logs = [e.message for e in instance.all_logs(result.run_id)]
        received = server.requests
    assert result.success
    assert received and all(r.param("apikey") == SECRET for r in received)
    (mat,) = result.asset_materializations_for_node("raw__open_meteo")
    landed = [p.read_text() for p in (settings.landing_dir / "open_meteo").rglob("*.meta.json")]
    assert landed and all(SECRET not in text for text in landed)
    assert all(f"apikey={REDACTED}" in json.loads(text)["url"] for text in landed)
    assert SECRET not in json.dumps({k: str(v.value) for k, v in mat.metadata.items()})
    assert not [line for line in logs if SECRET in line]
