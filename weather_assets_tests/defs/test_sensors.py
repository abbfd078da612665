"""The site-catalog sensor, site-scoped history runs, and the alert sensors against a real webhook receiver.

Sensor ticks run with `build_sensor_context(cursor=..., instance=...)` on a test instance; the runs
they request are executed with `materialize()` against a local HTTP server replaying Open-Meteo, so
the real client, landing, validation and warehouse writes run.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from pathlib import Path

import dagster as dg
import polars as pl
import pytest
import yaml

from weather_assets.definitions import build_defs
from weather_assets.defs import resources, sensors
from weather_assets.defs.resources import AlertWebhook
from weather_assets.offline.open_meteo import OpenMeteoReplay
from weather_assets.offline.server import LocalServer, ScriptedHandler
from weather_assets.providers.base import WireResponse
from weather_assets.providers.http import ProviderHttpError
from weather_assets.settings import Settings
from weather_assets.sites.catalog import CatalogError, bundled_sites_file
from weather_assets_tests.integration.webhook import WebhookReceiver
from weather_assets_tests.support.pipeline import INGEST, RANGE_TAGS, table

BUNDLED = {s["id"]: s for s in yaml.safe_load(bundled_sites_file().read_text())["sites"]}
OBSERVATIONS = dg.AssetKey(["warehouse", "observations"])
TOKEN = "T0WEATHER/B0ALERTS/s3cretW3bhookT0ken"  # the secret part of a Slack webhook URL


def write_catalog(path: Path, ids: list[str], **changes: dict) -> Path:
    sites = [{**BUNDLED[i], **changes.get(i, {})} for i in ids]
    path.write_text(yaml.safe_dump({"sites": sites}, sort_keys=False))
    return path


@pytest.fixture
def catalog(tmp_path) -> Path:
    return write_catalog(tmp_path / "sites.yaml", ["greensboro_nc", "denver_co", "berlin_de"])


@pytest.fixture
def offline_settings(tmp_path, catalog) -> Settings:
    """Offline clock 2024-03-24T06:00Z: Open-Meteo's newest complete day is 2024-03-22."""
    return Settings.from_env(
        {
            "WEATHER_ASSETS_PROVIDERS": "open_meteo",
            "WEATHER_ASSETS_DATA_DIR": str(tmp_path / "data"),
            "WEATHER_ASSETS_SITES_FILE": str(catalog),
            "WEATHER_ASSETS_START_DATE": "2024-03-01",
            "WEATHER_ASSETS_OFFLINE": "1",
        }
    )


@pytest.fixture
def server():
    with LocalServer(OpenMeteoReplay()) as srv:
        yield srv


@pytest.fixture
def live_settings(tmp_path, catalog, server, dbt_manifest) -> Settings:
    return Settings.from_env(
        {
            "WEATHER_ASSETS_PROVIDERS": "open_meteo",
            "WEATHER_ASSETS_DATA_DIR": str(tmp_path / "data"),
            "WEATHER_ASSETS_SITES_FILE": str(catalog),
            "WEATHER_ASSETS_START_DATE": "2024-01-19",
            "WEATHER_ASSETS_OPEN_METEO_ARCHIVE_URL": f"{server.base_url}/v1/archive",
            "WEATHER_ASSETS_OPEN_METEO_FORECAST_URL": f"{server.base_url}/v1/forecast",
        }
    )


def tick(defs: dg.Definitions, instance: dg.DagsterInstance, cursor: str | None, name: str = "site_catalog_sensor"):
    sensor = defs.resolve_sensor_def(name)
    return sensor.evaluate_tick(dg.build_sensor_context(instance=instance, cursor=cursor, definitions=defs))


# --- site catalog sensor ---------------------------------------------------------------------------


def test_first_tick_records_the_catalog_and_an_unchanged_catalog_launches_nothing(offline_settings, dbt_manifest):
    with dg.instance_for_test() as instance:
        defs = build_defs(offline_settings)
        first = tick(defs, instance, None)
        assert not first.run_requests and "first evaluation" in first.skip_message
        cursor = json.loads(first.cursor)
        assert cursor["generation"] == 0 and sorted(cursor["sites"]) == ["berlin_de", "denver_co", "greensboro_nc"]

        same = tick(defs, instance, first.cursor)
        assert not same.run_requests and "unchanged" in same.skip_message
        assert same.cursor in (None, first.cursor)  # a skip keeps the cursor


def test_added_site_loads_its_history_from_the_start_date_for_that_site_only(offline_settings, catalog,
                                                                             dbt_manifest):
    with dg.instance_for_test() as instance:
        defs = build_defs(offline_settings)
        baseline = tick(defs, instance, None).cursor
        write_catalog(catalog, ["greensboro_nc", "denver_co", "berlin_de", "sydney_au"])
        result = tick(defs, instance, baseline)

        (request,) = result.run_requests
        assert request.job_name == "open_meteo_history_job"
        assert request.partition_key_range == dg.PartitionKeyRange("2024-03-01", "2024-03-22")
        scope = {"config": {"sites": ["sydney_au"]}}
        assert request.run_config == {
            "ops": {
                "raw__open_meteo": scope,
                "observations__open_meteo_observations": scope,
                "warehouse__observations": scope,
            }
        }
        cursor = json.loads(result.cursor)
        assert cursor["generation"] == 1 and "sydney_au" in cursor["sites"]
        assert request.run_key.startswith("site-catalog-1-") and request.tags[sensors.CATALOG_TAG]
        # The run config is valid for the job (Dagster validates it against the ops' config schemas).
        validated = dg.validate_run_config(defs.resolve_job_def("open_meteo_history_job"), request.run_config)
        assert validated["ops"]["raw__open_meteo"]["config"] == {"sites": ["sydney_au"]}
        # The next tick sees no change.
        assert not tick(defs, instance, result.cursor).run_requests


def test_removed_site_refreshes_the_site_dimension_and_a_moved_site_is_re_pulled(offline_settings, catalog,
                                                                                 dbt_manifest):
    with dg.instance_for_test() as instance:
        defs = build_defs(offline_settings)
        baseline = tick(defs, instance, None).cursor

        write_catalog(catalog, ["greensboro_nc", "berlin_de"])
        removed = tick(defs, instance, baseline)
        (request,) = removed.run_requests
        assert request.job_name == sensors.SITE_CATALOG_JOB and not request.run_config
        assert sorted(json.loads(removed.cursor)["sites"]) == ["berlin_de", "greensboro_nc"]
        assert defs.resolve_job_def(sensors.SITE_CATALOG_JOB).asset_layer.selected_asset_keys == {
            dg.AssetKey(["warehouse", "sites"])
        }

        # A renamed site only refreshes the dimension; new coordinates re-pull that site's history.
        write_catalog(catalog, ["greensboro_nc", "berlin_de"], berlin_de={"name": "Berlin (Mitte)"})
        (renamed,) = tick(defs, instance, removed.cursor).run_requests
        assert renamed.job_name == sensors.SITE_CATALOG_JOB
        write_catalog(catalog, ["greensboro_nc", "berlin_de"], berlin_de={"latitude": 52.51})
        after_rename = json.loads(tick(defs, instance, removed.cursor).cursor)
        assert after_rename["generation"] == 2
        (moved,) = tick(defs, instance, removed.cursor).run_requests
        assert moved.job_name == "open_meteo_history_job"
        assert moved.run_config["ops"]["raw__open_meteo"] == {"config": {"sites": ["berlin_de"]}}


def test_invalid_catalog_fails_the_tick_with_the_validation_error_and_launches_nothing(offline_settings, catalog,
                                                                                       dbt_manifest):
    with dg.instance_for_test() as instance:
        defs = build_defs(offline_settings)
        baseline = tick(defs, instance, None).cursor
        write_catalog(catalog, ["greensboro_nc", "denver_co"], denver_co={"latitude": 123.0})
        with pytest.raises(Exception) as failed:
            tick(defs, instance, baseline)
        chain, error = [], failed.value
        while error is not None:
            chain.append(error)
            error = error.__cause__
        (catalog_error,) = [e for e in chain if isinstance(e, CatalogError)]
        assert str(catalog_error) == (
            f"{catalog}: site #2 'denver_co': field 'latitude': must be a number between -90 and 90, got 123.0"
        )
        # Fixed: the tick compares against the last good cursor, so the removal is still seen.
        write_catalog(catalog, ["greensboro_nc", "denver_co"])
        (request,) = tick(defs, instance, baseline).run_requests
        assert request.job_name == sensors.SITE_CATALOG_JOB


# --- site-scoped history runs ----------------------------------------------------------------------


def run_request(settings: Settings, request: dg.RunRequest, instance=None, selection=INGEST, **kwargs):
    defs = build_defs(settings)
    return dg.materialize(
        [*defs.assets, *defs.asset_checks],
        resources=defs.resources,
        selection=[dg.AssetKey(k) for k in selection] if isinstance(selection, list) else selection,
        run_config=request.run_config,
        tags=request.tags,
        instance=instance,
        **kwargs,
    )


def full_range(first: str, last: str) -> dg.RunRequest:
    return dg.RunRequest(tags=dict(zip(RANGE_TAGS, (first, last), strict=True)))


def test_added_site_run_replaces_only_the_new_sites_rows(live_settings, catalog, server):
    """History for a new site: one request for that site only; every other row, reject and
    ingestion_run_id stays as it was; re-validating the window later keeps one row per key."""
    first = run_request(live_settings, full_range("2024-01-19", "2024-01-21"))
    assert first.success and len(server.requests) == 1
    before = table(live_settings, "SELECT * FROM observations ORDER BY site_id, observed_at")
    assert before.height == 3 * 3 * 24 and before["ingestion_run_id"].unique().to_list() == [first.run_id]
    rejects_before = table(live_settings, "SELECT * FROM rejected_observations")

    # The sensor sees sydney_au added and asks for its history; "now" puts the newest complete day at 01-21.
    write_catalog(catalog, ["greensboro_nc", "denver_co", "berlin_de", "sydney_au"])
    job = dg.define_asset_job(sensors.SITE_CATALOG_JOB, selection=[dg.AssetKey(["warehouse", "sites"])])
    sensor = sensors.build_site_catalog_sensor(
        live_settings, job, clock=lambda: dt.datetime(2024, 1, 23, 6, tzinfo=dt.UTC)
    )
    with dg.instance_for_test() as instance:
        write_catalog(catalog, ["greensboro_nc", "denver_co", "berlin_de"])
        baseline = sensor.evaluate_tick(dg.build_sensor_context(instance=instance)).cursor
        write_catalog(catalog, ["greensboro_nc", "denver_co", "berlin_de", "sydney_au"])
        (request,) = sensor.evaluate_tick(dg.build_sensor_context(instance=instance, cursor=baseline)).run_requests
    assert request.partition_key_range == dg.PartitionKeyRange("2024-01-19", "2024-01-21")

    added = run_request(live_settings, request)
    assert added.success
    # One more request, for sydney only (one location), over the whole range.
    assert len(server.requests) == 2
    query = dict(server.requests[-1].params)
    assert query["latitude"] == f"{BUNDLED['sydney_au']['latitude']:g}"
    assert (query["start_date"], query["end_date"]) == ("2024-01-19", "2024-01-21")

    after = table(live_settings, "SELECT * FROM observations ORDER BY site_id, observed_at")
    untouched = after.filter(pl.col("site_id") != "sydney_au")
    assert untouched.equals(before)  # values, ingested_at and ingestion_run_id of the other sites
    sydney = after.filter(pl.col("site_id") == "sydney_au")
    assert sydney.height == 3 * 24 - 1  # the quarantined 71.3 °C hour is not loaded
    assert sydney["ingestion_run_id"].unique().to_list() == [added.run_id]
    rejects = table(live_settings, "SELECT * FROM rejected_observations")
    assert rejects.filter(pl.col("site_id") != "sydney_au").equals(rejects_before)
    assert rejects.filter(pl.col("site_id") == "sydney_au")["observed_at"].to_list() == [dt.datetime(2024, 1, 20, 5)]
    sites = table(live_settings, "SELECT site_id, active FROM sites ORDER BY site_id")
    assert sites.rows() == [("berlin_de", True), ("denver_co", True), ("greensboro_nc", True), ("sydney_au", True)]
    scoped = added.asset_materializations_for_node("warehouse__observations")[0].metadata
    assert scoped["site_scope"].value == "sydney_au" and scoped["rows_replaced"].value == 0

    # A later full run of the window reads both landed responses: still one row per key, same values.
    again = run_request(live_settings, full_range("2024-01-19", "2024-01-21"))
    assert again.success
    counts = table(live_settings, "SELECT count(*) AS n, count(DISTINCT (site_id, source, observed_at)) AS k "
                                  "FROM observations")
    assert counts.rows() == [(4 * 3 * 24 - 1, 4 * 3 * 24 - 1)]


def test_removed_site_is_flagged_inactive_keeps_its_history_and_is_not_pulled(live_settings, catalog, server):
    assert run_request(live_settings, full_range("2024-01-19", "2024-01-20")).success
    write_catalog(catalog, ["greensboro_nc", "denver_co"])
    assert run_request(live_settings, dg.RunRequest(), selection=[["warehouse", "sites"]]).success
    assert table(live_settings, "SELECT site_id FROM sites WHERE NOT active").rows() == [("berlin_de",)]

    # The next daily load re-pulls 01-20 (and loads 01-21) without berlin_de, whose rows stay.
    assert run_request(live_settings, full_range("2024-01-20", "2024-01-21")).success
    assert server.requests[-1].param("latitude").count(",") == 1  # two locations
    berlin = table(live_settings, "SELECT observed_at::DATE AS day, count(*) AS n FROM observations "
                                  "WHERE site_id = 'berlin_de' GROUP BY ALL ORDER BY day")
    assert berlin.rows() == [(dt.date(2024, 1, 19), 24), (dt.date(2024, 1, 20), 24)]


# --- alerts ----------------------------------------------------------------------------------------


@pytest.fixture
def webhook(monkeypatch):
    with WebhookReceiver() as receiver:
        monkeypatch.setenv("WEATHER_ASSETS_ALERT_WEBHOOK_URL", receiver.url(f"/services/{TOKEN}"))
        yield receiver


def alerts_resource(settings: Settings) -> AlertWebhook:
    """What build_defs wires: an EnvVar when the variable is set."""
    resource = resources.alert_webhook(settings)
    assert settings.alert_webhook_set == (resource.url is not None)
    return resource


def assert_no_secret(*texts: str) -> None:
    for text in texts:
        assert "s3cretW3bhookT0ken" not in text and "/services/" not in text, text


def test_run_failure_alert_posts_asset_partition_sites_and_run_link(tmp_path, catalog, webhook, caplog,
                                                                   dbt_manifest):
    caplog.set_level(logging.DEBUG)
    bad = WireResponse(400, b'{"error":true,"reason":"Cannot initialize WeatherVariable from invalid String"}')
    with LocalServer(ScriptedHandler([bad])) as broken:
        settings = Settings.from_env(
            {
                "WEATHER_ASSETS_PROVIDERS": "open_meteo",
                "WEATHER_ASSETS_DATA_DIR": str(tmp_path / "data"),
                "WEATHER_ASSETS_SITES_FILE": str(catalog),
                "WEATHER_ASSETS_OPEN_METEO_ARCHIVE_URL": broken.url("/v1/archive"),
                "WEATHER_ASSETS_ALERT_WEBHOOK_URL": "set",
            }
        )
        with dg.instance_for_test() as instance:
            result = run_request(settings, dg.RunRequest(), instance=instance, selection=INGEST[:3],
                                 partition_key="2024-01-20", raise_on_error=False)
            assert not result.success
            run = instance.get_run_by_id(result.run_id)
            (failure,) = instance.get_records_for_run(run.run_id, of_type=dg.DagsterEventType.RUN_FAILURE).records
            sensor = build_defs(settings).resolve_sensor_def("run_failure_alert_sensor")
            context = dg.build_run_status_sensor_context(
                sensor_name=sensor.name,
                dagster_event=failure.event_log_entry.dagster_event,
                dagster_instance=instance,
                dagster_run=run,
                resources={"alerts": alerts_resource(settings)},
            ).for_run_failure()
            sensor(context)

    (posted,) = webhook.received
    assert posted.method == "POST" and posted.path == f"/services/{TOKEN}"
    body = posted.json()
    text = body["text"]
    assert text.startswith(f"weather_assets: run failed: __ephemeral_asset_job__ ({result.run_id[:8]})")
    assert "asset: raw/open_meteo" in text
    assert "partition: 2024-01-20" in text
    assert "open_meteo sites failed: 3/3 (100% > 10%): greensboro_nc, denver_co, berlin_de" in text
    assert "HTTP 400" in text and "Cannot initialize WeatherVariable" in text
    assert f"UI: /runs/{result.run_id} /assets/raw/open_meteo" in text
    assert [b["type"] for b in body["blocks"]] == ["header", "section", "context"]
    assert f"`/runs/{result.run_id}`" in body["blocks"][2]["elements"][0]["text"]
    assert_no_secret(posted.body.decode(), caplog.text, *(str(r.args) for r in caplog.records))


def test_check_failure_alert_names_the_checks_partition_and_failing_sites(live_settings, webhook, caplog):
    """2024-03-31 is in the archive's null tail: every site fails that day (> 10%), and no site has a
    recent observation (stale). One alert per run, listing both ERROR checks; the same failures in the
    next run are not repeated, a different failure is."""
    caplog.set_level(logging.DEBUG)
    settings = Settings.from_env({**{k: str(v) for k, v in _env(live_settings).items()},
                                  "WEATHER_ASSETS_ALERT_WEBHOOK_URL": "set"})
    # The assets and every check on them, the two ERROR checks included.
    selection = dg.AssetSelection.assets(*[dg.AssetKey(k) for k in INGEST])

    def evaluate(instance, cursor):
        context = dg.build_sensor_context(instance=instance, cursor=cursor,
                                          resources={"alerts": alerts_resource(settings)})
        return defs.resolve_sensor_def("asset_check_failure_alert_sensor").evaluate_tick(context)

    with dg.instance_for_test() as instance:
        defs = build_defs(settings)
        first = evaluate(instance, None)
        assert "first evaluation" in first.skip_message

        result = run_request(settings, full_range("2024-03-30", "2024-03-31"), instance=instance, selection=selection)
        assert result.success  # ERROR checks that are not blocking fail the check, not the run
        evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
        assert not evaluations["failing_sites_below_threshold"].passed and not evaluations["sites_fresh"].passed
        # Each provider is reported on the sites it serves (a station-based one may serve fewer than the load).
        by_source = evaluations["failing_sites_below_threshold"].metadata["by_source"].value
        assert by_source == {"open-meteo": {"sites_served": 3, "sites_failing": 3}}
        second = evaluate(instance, first.cursor)
        assert len(webhook.received) == 1

        # The same run again: the same failures, already alerted.
        assert run_request(settings, full_range("2024-03-30", "2024-03-31"), instance=instance,
                           selection=selection).success
        third = evaluate(instance, second.cursor)
        assert "no new ERROR check failure (2 check(s) still failing" in third.skip_message
        assert len(webhook.received) == 1

        # Another window fails: news for failing_sites_below_threshold, not for the unchanged staleness.
        assert run_request(settings, full_range("2024-03-31", "2024-03-31"), instance=instance,
                           selection=selection).success
        evaluate(instance, third.cursor)
        assert len(webhook.received) == 2
    text = webhook.received[0].json()["text"]
    assert text.startswith("weather_assets: check failed: warehouse/observations:failing_sites_below_threshold, "
                           "warehouse/observations:sites_fresh")
    assert "asset: warehouse/observations" in text
    assert "check: failing_sites_below_threshold (ERROR); 100% of a provider's sites failed (threshold 10%)" in text
    assert "partition: 2024-03-30 .. 2024-03-31" in text
    assert "sites: berlin_de, denver_co, greensboro_nc" in text
    assert ("check: sites_fresh (ERROR); 3 active site(s) with no new observation within the freshness window "
            "(open-meteo: 3 days)") in text
    assert "partition: none: the state at 20" in text
    assert f"UI: /runs/{result.run_id} /assets/warehouse/observations?view=checks" in text
    later = webhook.received[1].json()["text"]
    assert "failing_sites_below_threshold" in later and "partition: 2024-03-31 .. 2024-03-31" in later
    assert "sites_fresh" not in later
    for posted in webhook.received:
        assert_no_secret(posted.body.decode())
    assert_no_secret(caplog.text, *(str(r.args) for r in caplog.records))


def _env(settings: Settings) -> dict[str, object]:
    return {
        "WEATHER_ASSETS_PROVIDERS": ",".join(settings.providers),
        "WEATHER_ASSETS_DATA_DIR": settings.data_dir,
        "WEATHER_ASSETS_SITES_FILE": settings.sites_file,
        "WEATHER_ASSETS_START_DATE": settings.start_date.isoformat(),
        **dict(settings.urls),
    }


def test_without_a_webhook_alerts_are_logged_and_no_env_var_is_wired(offline_settings, caplog):
    caplog.set_level(logging.INFO)
    resource = alerts_resource(offline_settings)
    assert resource.url is None
    message = sensors.slack_message("weather_assets: run failed: x (1234abcd)", [("asset", "raw/open_meteo")],
                                    ["/runs/1234abcd"])
    assert resource.send(message, logging.getLogger("test")) is False
    assert "ALERT (not posted: WEATHER_ASSETS_ALERT_WEBHOOK_URL is not set)" in caplog.text
    assert "asset: raw/open_meteo" in caplog.text


def test_a_refusing_webhook_fails_the_send_without_showing_the_url(offline_settings, caplog, monkeypatch):
    caplog.set_level(logging.DEBUG)
    with WebhookReceiver(statuses=[404]) as receiver:
        resource = AlertWebhook(url=receiver.url(f"/services/{TOKEN}"))
        message = sensors.slack_message("t", [("asset", "a")], ["/runs/x"])
        with pytest.raises(ProviderHttpError) as refused:
            resource.send(message, logging.getLogger("test"))
    assert refused.value.status == 404 and refused.value.url == receiver.base_url + "/REDACTED"
    assert_no_secret(str(refused.value), caplog.text)
    # A message that somehow quoted the webhook URL is scrubbed before posting.
    with WebhookReceiver() as receiver:
        url = receiver.url(f"/services/{TOKEN}")
        posted = AlertWebhook(url=url).send(sensors.slack_message(f"see {url}", [], []), logging.getLogger("test"))
    assert posted is True and "ALERT posted to the webhook (HTTP 200)" in caplog.text
    assert_no_secret(receiver.received[0].body.decode(), caplog.text)


def test_the_site_scope_config_fits_every_history_providers_job(tmp_path, monkeypatch, dbt_manifest):
    """The catalog sensor launches each provider's history job with run config naming that job's site-scoped
    assets; config for an asset the job does not hold (a daily-only or air-quality provider has no hourly
    validation) would make the launch fail."""
    from weather_assets.defs.automation import history_job_name
    from weather_assets.providers.registry import PROVIDERS
    from weather_assets.settings import KEYED_PROVIDERS

    keys = dict.fromkeys(KEYED_PROVIDERS.values(), "fake-key")
    for var, value in keys.items():  # dg.EnvVar reads the process environment
        monkeypatch.setenv(var, value)
    env = {"WEATHER_ASSETS_DATA_DIR": str(tmp_path), "WEATHER_ASSETS_PROVIDERS": ",".join(PROVIDERS), **keys}
    settings = Settings.from_env(env)
    defs = build_defs(settings)
    history = [p for p in settings.providers if PROVIDERS[p].history is not None]
    assert {"noaa_ads", "open_meteo_air_quality", "open_meteo"} <= set(history)
    for provider in history:
        job = defs.resolve_job_def(history_job_name(PROVIDERS[provider]))
        config = sensors.site_scope_config(provider, ["berlin_de"])
        dg.validate_run_config(job, config)  # raises DagsterInvalidConfigError on an unknown asset
        scoped = set(config["ops"])
        assert f"raw__{provider}" in scoped
        assert scoped <= {k.to_python_identifier() for k in job.asset_layer.executable_asset_keys}
    assert set(sensors.site_scope_config("noaa_ads", ["x"])["ops"]) == {
        "raw__noaa_ads",
        "daily_observations__noaa_ads_daily_observations",
        "warehouse__daily_observations",
    }
