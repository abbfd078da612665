"""Sensors, all RUNNING by default (the platform runs itself):

- `site_catalog_sensor`: keeps a content hash of WEATHER_ASSETS_SITES_FILE as its cursor. Added or moved
  sites get their history loaded from WEATHER_ASSETS_START_DATE, one run per provider narrowed to those
  sites (`SiteScope`); removed sites are flagged inactive in `warehouse/sites` (their history stays). An
  invalid catalog fails the tick with the validation error and launches nothing.
- `run_failure_alert_sensor`, `asset_check_failure_alert_sensor`: post a Slack-compatible message naming
  the asset(s), partition(s), site(s) and UI paths (never a secret) to WEATHER_ASSETS_ALERT_WEBHOOK_URL,
  or log it when that is unset.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import dagster as dg

from weather_assets.defs.automation import EXECUTOR, history_job, range_request
from weather_assets.defs.common import (
    FAILING_SITES_THRESHOLD,
    GRAINS,
    SITES_KEY,
    history_provider_of,
    history_providers,
    raw_key,
    validated_key,
    warehouse_key,
)
from weather_assets.defs.resources import AlertWebhook
from weather_assets.providers.base import RECORDED_CLOCK
from weather_assets.providers.registry import PROVIDERS
from weather_assets.settings import Settings
from weather_assets.sites.catalog import CatalogError, Site, load_catalog
from weather_assets.window import Window, newest_complete_day

SITE_CATALOG_JOB = "site_catalog_job"
CATALOG_TAG = "weather_assets/site_catalog"
_MAX_SITES_SHOWN = 30
_ERROR_CHARS = 400
_REQUEST_URL = re.compile(r" \((?:GET|POST) [a-z]+://[^)]*\)")


# --- Site catalog ----------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class CatalogState:
    """The cursor: the catalog's content hash, a change counter, and each site's coordinates."""

    sha256: str
    generation: int
    sites: Mapping[str, str]  # site id -> "latitude,longitude"

    def to_cursor(self) -> str:
        return json.dumps({"sha256": self.sha256, "generation": self.generation, "sites": dict(self.sites)})

    @classmethod
    def from_cursor(cls, cursor: str | None) -> CatalogState | None:
        if not cursor:
            return None
        data = json.loads(cursor)
        return cls(data["sha256"], int(data["generation"]), data["sites"])


@dataclasses.dataclass(frozen=True)
class CatalogChange:
    added: tuple[str, ...]
    removed: tuple[str, ...]
    moved: tuple[str, ...]  # same id, new coordinates: its history is re-pulled like an added site's


def _coordinates(site: Site) -> str:
    return f"{site.latitude:.6f},{site.longitude:.6f}"


def diff_catalog(before: Mapping[str, str], after: Mapping[str, str]) -> CatalogChange:
    return CatalogChange(
        added=tuple(sorted(set(after) - set(before))),
        removed=tuple(sorted(set(before) - set(after))),
        moved=tuple(sorted(s for s in set(before) & set(after) if before[s] != after[s])),
    )


def site_scope_config(provider: str, sites: Sequence[str]) -> dict[str, Any]:
    """Run config narrowing a history run to `sites`: the pull, and for each grain the provider serves its
    validation and warehouse table(s); nothing else (a job rejects config for an asset it does not hold)."""
    spec = PROVIDERS[provider]
    keys = [raw_key(provider)]
    for grain in (g for g in GRAINS if g.normaliser(spec) is not None):
        keys += [validated_key(grain.table, provider), warehouse_key(grain.table)]
    return {"ops": {key.to_python_identifier(): {"config": {"sites": list(sites)}} for key in keys}}


def _now(settings: Settings) -> dt.datetime:
    # Offline runs replay a recording with a pinned clock: "the newest complete day" is inside it.
    return RECORDED_CLOCK if settings.offline else dt.datetime.now(dt.UTC)


def build_site_catalog_sensor(
    settings: Settings,
    site_catalog_job: dg.UnresolvedAssetJobDefinition,
    clock: Callable[[], dt.datetime] | None = None,
) -> dg.SensorDefinition:
    """`clock` (tests) replaces the wall clock that decides the newest complete day to load."""
    now_fn = clock or (lambda: _now(settings))
    specs = history_providers(settings)
    jobs = [history_job(spec, settings) for spec in specs]

    @dg.sensor(
        name="site_catalog_sensor",
        jobs=[*jobs, site_catalog_job],
        minimum_interval_seconds=30,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=(
            f"Watches the site catalog ({settings.sites_file}) by content hash. Added or moved sites: their "
            f"history from {settings.start_date} is loaded for those sites only (one run per provider). Removed "
            "sites: warehouse/sites flags them inactive; their history stays and they are no longer pulled. "
            "An invalid catalog fails the tick with the validation error and launches nothing."
        ),
    )
    def site_catalog_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult | dg.SkipReason:
        previous = CatalogState.from_cursor(context.cursor)
        try:
            content = settings.sites_file.read_bytes()
        except OSError as exc:
            raise CatalogError(f"{settings.sites_file}: cannot read the site catalog: {exc}") from None
        digest = hashlib.sha256(content).hexdigest()
        if previous is not None and previous.sha256 == digest:
            return dg.SkipReason(f"site catalog unchanged (sha256 {digest[:12]})")

        catalog = load_catalog(settings.sites_file)  # CatalogError: the tick fails, the cursor stays
        current = {site.id: _coordinates(site) for site in catalog}
        if previous is None:
            state = CatalogState(digest, 0, current)
            return dg.SensorResult(
                skip_reason=f"first evaluation: recorded the catalog ({len(current)} sites, sha256 {digest[:12]})",
                cursor=state.to_cursor(),
            )

        state = CatalogState(digest, previous.generation + 1, current)
        change = diff_catalog(previous.sites, current)
        load = change.added + change.moved
        run_key = f"site-catalog-{state.generation}-{digest[:12]}"
        tags = {CATALOG_TAG: digest[:12]}
        requests: list[dg.RunRequest] = []
        if load:
            now = now_fn()
            by_id = {site.id: site for site in catalog}
            for spec, job in zip(specs, jobs, strict=True):
                newest = newest_complete_day(now, spec.history.lag_days)
                served, _ = spec.covered([by_id[site_id] for site_id in load])
                if newest < settings.start_date or not served:  # e.g. a new site without this provider's station
                    continue
                requests.append(
                    range_request(
                        job.name,
                        Window(settings.start_date, newest),
                        run_key=f"{run_key}-{spec.name}",
                        run_config=site_scope_config(spec.name, load),
                        tags=tags,
                    )
                )
        if not requests:  # removals, or edits that move no site: refresh the site dimension only
            requests.append(dg.RunRequest(run_key=run_key, job_name=site_catalog_job.name, tags=tags))
        context.log.info(
            f"site catalog changed (sha256 {digest[:12]}): added {list(change.added)}, removed "
            f"{list(change.removed)}, moved {list(change.moved)}; launching {len(requests)} run(s)"
        )
        return dg.SensorResult(run_requests=requests, cursor=state.to_cursor())

    return site_catalog_sensor


# --- Alert messages --------------------------------------------------------------------------------


def asset_path(key: dg.AssetKey) -> str:
    return "/assets/" + "/".join(key.path)


def _sites_text(sites: Sequence[str]) -> str:
    shown = ", ".join(sites[:_MAX_SITES_SHOWN])
    return shown + (f" … (+{len(sites) - _MAX_SITES_SHOWN} more)" if len(sites) > _MAX_SITES_SHOWN else "")


def _partitions_text(run: dg.DagsterRun, partitions: Iterable[str | None] = ()) -> str:
    tags = run.tags
    if "dagster/asset_partition_range_start" in tags:
        return f"{tags['dagster/asset_partition_range_start']} .. {tags['dagster/asset_partition_range_end']}"
    if "dagster/partition" in tags:
        return tags["dagster/partition"]
    keys = sorted({p for p in partitions if p})
    if not keys:
        return "unpartitioned"
    return keys[0] if len(keys) == 1 else f"{keys[0]} .. {keys[-1]} ({len(keys)} partitions)"


def _run_sites(run: dg.DagsterRun, settings: Settings) -> tuple[list[str], str]:
    """The sites a run pulled (its `sites` run config, else the catalog) and how they were chosen."""
    for op in (run.run_config or {}).get("ops", {}).values():
        sites = (op or {}).get("config", {}).get("sites")
        if sites:
            return list(sites), "the run's site scope"
    try:
        return [s.id for s in load_catalog(settings.sites_file)], "every catalog site"
    except CatalogError:
        return [], "the site catalog is invalid"


def _short(text: str, limit: int = _ERROR_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def slack_message(title: str, fields: Sequence[tuple[str, str]], links: Sequence[str]) -> dict[str, Any]:
    """A Slack incoming-webhook body: `text` (the notification and fallback) and Block Kit `blocks`."""
    lines = "\n".join(f"{name}: {value}" for name, value in fields)
    return {
        "text": f"{title}\n{lines}\nUI: {' '.join(links)}",
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": _short(title, 150)}},
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": _short_block("\n".join(f"*{n}:* {v}" for n, v in fields))},
            },
            {"type": "context", "elements": [{"type": "mrkdwn", "text": "UI: " + "  ".join(f"`{p}`" for p in links)}]},
        ],
    }


def _short_block(text: str) -> str:
    return text if len(text) <= 3000 else text[:2999] + "…"  # Slack's section limit


def _root_message(error: Any) -> str:
    """The innermost cause of a step failure (the user's exception, not Dagster's wrapper), without the
    request URL an HTTP error quotes (long, and in the run's logs anyway), so the reason fits."""
    while error is not None and getattr(error, "cause", None) is not None:
        error = error.cause
    if error is None:
        return "failed"
    return _short(_REQUEST_URL.sub("", error.message))


def failed_assets(run: dg.DagsterRun, step_keys: Sequence[str]) -> list[dg.AssetKey]:
    """The assets of the failed steps: an asset's step is named after its key (raw/open_meteo -> raw__open_meteo).
    A multi-asset step (dbt) keeps its step name, as no single key names it."""
    by_step = {key.to_python_identifier(): key for key in run.asset_selection or ()}
    return [by_step.get(step) or dg.AssetKey(step.split("__")) for step in step_keys]


def run_failure_message(instance: dg.DagsterInstance, run: dg.DagsterRun, settings: Settings) -> dict[str, Any]:
    """Which assets failed for which partitions, the share of each provider's sites that failed, the errors."""
    steps, errors = [], []
    for record in instance.get_records_for_run(run.run_id, of_type=dg.DagsterEventType.STEP_FAILURE).records:
        event = record.event_log_entry.dagster_event
        steps.append(event.step_key)
        error = event.step_failure_data.error if event.step_failure_data else None
        errors.append(f"{event.step_key}: {_root_message(error)}")
    failed = failed_assets(run, steps)

    sites, chosen = _run_sites(run, settings)
    fields = [
        ("job", run.job_name),
        ("asset", ", ".join(k.to_user_string() for k in failed) or "none (the run failed outside a step)"),
        ("partition", _partitions_text(run)),
    ]
    providers = sorted({p for p in map(history_provider_of, failed) if p})
    for provider in providers:  # the pull or validation failed: none of the run's sites got data
        share = 1.0 if sites else 0.0
        fields.append(
            (
                f"{provider} sites failed",
                f"{len(sites)}/{len(sites)} ({share:.0%} > {FAILING_SITES_THRESHOLD:.0%}): {_sites_text(sites)}",
            )
        )
    fields.append(("sites", f"{_sites_text(sites) or 'unknown'} ({chosen})"))
    if errors:
        fields.append(("error", " | ".join(errors[:3])))
    links = [f"/runs/{run.run_id}", *(asset_path(k) for k in failed if len(k.path) > 1)]
    return slack_message(f"weather_assets: run failed: {run.job_name} ({run.run_id[:8]})", fields, links)


def check_failure_message(run: dg.DagsterRun, evaluations: Sequence[Any], settings: Settings) -> dict[str, Any]:
    """One message per run for its failed ERROR-severity checks: asset, check, partition, sites."""
    fields: list[tuple[str, str]] = []
    links = [f"/runs/{run.run_id}"]
    run_sites, _ = _run_sites(run, settings)
    for evaluation in evaluations:
        metadata = {name: value.value for name, value in evaluation.metadata.items()}
        sites = str(metadata.get("sites") or "") or f"{_sites_text(run_sites)} (every site of the run)"
        detail = f"; {metadata['summary']}" if metadata.get("summary") else ""
        fields += [
            ("asset", evaluation.asset_key.to_user_string()),
            ("check", f"{evaluation.check_name} (ERROR){detail}"),
            ("partition", _check_partition(evaluation, metadata, run)),
            ("sites", sites),
        ]
        link = asset_path(evaluation.asset_key) + "?view=checks"
        if link not in links:
            links.append(link)
    names = ", ".join(sorted({f"{e.asset_key.to_user_string()}:{e.check_name}" for e in evaluations}))
    return slack_message(f"weather_assets: check failed: {names}", fields, links)


def _check_partition(evaluation: Any, metadata: Mapping[str, Any], run: dg.DagsterRun) -> str:
    if evaluation.partition:
        return evaluation.partition
    if metadata.get("window"):  # the days the check judged (a load's window)
        return str(metadata["window"])
    if metadata.get("checked_at"):  # a check of the current state, not of a partition
        return f"none: the state at {metadata['checked_at']}"
    return _partitions_text(run)


def error_check_evaluations(instance: dg.DagsterInstance, run_id: str) -> list[Any]:
    """The run's evaluations of ERROR-severity checks, passed or failed, in order."""
    records = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION).records
    evaluations = [r.event_log_entry.dagster_event.event_specific_data for r in records]
    return [e for e in evaluations if e.severity == dg.AssetCheckSeverity.ERROR]


def new_failures(evaluations: Sequence[Any], failing: dict[str, str]) -> list[Any]:
    """Failed evaluations that are news: a check alerts when it starts failing or fails differently
    (other sites, another window), not again for the same failure; a pass clears it. `failing` (check ->
    what failed) is updated in place and lives in the sensor's cursor."""
    news = []
    for evaluation in evaluations:
        key = f"{evaluation.asset_key.to_user_string()}:{evaluation.check_name}"
        if evaluation.passed:
            failing.pop(key, None)
            continue
        metadata = {name: value.value for name, value in evaluation.metadata.items()}
        what = json.dumps([evaluation.partition, metadata.get("sites"), metadata.get("window")])
        if failing.get(key) != what:
            failing[key] = what
            news.append(evaluation)
    return news


# --- Alert sensors ---------------------------------------------------------------------------------

_ENDED = (dg.DagsterEventType.RUN_SUCCESS, dg.DagsterEventType.RUN_FAILURE)


def _latest_storage_id(instance: dg.DagsterInstance, event_type: dg.DagsterEventType) -> int:
    records = instance.fetch_run_status_changes(event_type, limit=1, ascending=False).records
    return records[0].storage_id if records else 0


def build_alert_sensors(settings: Settings) -> list[dg.SensorDefinition]:
    @dg.run_failure_sensor(
        name="run_failure_alert_sensor",
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=(
            "Posts an alert for every failed run (asset, partition, sites, error, UI path) to "
            "WEATHER_ASSETS_ALERT_WEBHOOK_URL, or logs it when that is not set."
        ),
    )
    def run_failure_alert_sensor(context: dg.RunFailureSensorContext, alerts: AlertWebhook) -> None:
        alerts.send(run_failure_message(context.instance, context.dagster_run, settings), context.log)

    @dg.sensor(
        name="asset_check_failure_alert_sensor",
        minimum_interval_seconds=30,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=(
            "Posts an alert when an ERROR-severity asset check starts failing (or fails differently) in a run — "
            "more than 10% of a provider's sites failing, sites with no new observations within their "
            "freshness window, unique keys, dbt tests — to WEATHER_ASSETS_ALERT_WEBHOOK_URL, or logs it. "
            "The same failure is not repeated until the check passes again."
        ),
    )
    def asset_check_failure_alert_sensor(
        context: dg.SensorEvaluationContext, alerts: AlertWebhook
    ) -> dg.SensorResult | dg.SkipReason:
        instance = context.instance
        if not context.cursor:  # start from now: no alerts for history that happened before
            cursor = {e.value: _latest_storage_id(instance, e) for e in _ENDED}
            return dg.SensorResult(
                skip_reason="first evaluation: watching runs that end from now on", cursor=json.dumps(cursor)
            )
        cursor = json.loads(context.cursor)
        failing = cursor.setdefault("failing", {})
        sent = 0
        for event_type in _ENDED:
            ended = instance.fetch_run_status_changes(
                dg.RunStatusChangeRecordsFilter(event_type=event_type, after_storage_id=cursor[event_type.value]),
                limit=50,
                ascending=True,
            ).records
            for record in ended:
                news = new_failures(error_check_evaluations(instance, record.run_id), failing)
                run = instance.get_run_by_id(record.run_id)
                if news and run is not None:
                    alerts.send(check_failure_message(run, news, settings), context.log)
                    sent += 1
                cursor[event_type.value] = record.storage_id
        if not sent:
            return dg.SensorResult(
                skip_reason=f"no new ERROR check failure ({len(failing)} check(s) still failing, already alerted)",
                cursor=json.dumps(cursor),
            )
        return dg.SensorResult(cursor=json.dumps(cursor))

    return [run_failure_alert_sensor, asset_check_failure_alert_sensor]


def build_defs(settings: Settings) -> dg.Definitions:
    site_catalog_job = dg.define_asset_job(
        SITE_CATALOG_JOB,
        selection=dg.AssetSelection.assets(SITES_KEY),
        executor_def=EXECUTOR,
        description="Re-sync warehouse/sites with the site catalog (launched by site_catalog_sensor).",
    )
    return dg.Definitions(
        jobs=[site_catalog_job],
        sensors=[build_site_catalog_sensor(settings, site_catalog_job), *build_alert_sensors(settings)],
    )
