"""Running a provider's pull from an asset: the shared HTTP policy, verbatim landing, and what the raw
assets report (requests, retries, bytes, weighted calls, skipped sites)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from urllib.parse import urlsplit

import dagster as dg
import polars as pl

from weather_assets.defs.resources import LiveHttp
from weather_assets.providers.http import ProviderHttpError
from weather_assets.providers.spec import Fetcher, Normaliser, ProviderSpec, Pulled
from weather_assets.settings import Settings
from weather_assets.sites.catalog import Site
from weather_assets.warehouse import landing
from weather_assets.window import Window


def pull_and_land(
    context: dg.AssetExecutionContext,
    spec: ProviderSpec,
    http: LiveHttp,
    base_url: str,
    pull: Callable[[Fetcher], Iterator[Pulled]],
    settings: Settings,
    dataset: str,
    window: Window,
    extra_meta: dict | None = None,
) -> tuple[list[tuple[Pulled, landing.LandedResponse]], dict]:
    """Run the provider's pull through the shared HTTP policy and land each response verbatim.

    A request that fails for good fails the asset with the HTTP layer's message (provider, subject,
    status, the server's reason; never a secret); responses landed before it stay on disk, unindexed.
    """
    run_id = context.run.run_id
    landed = []
    started = time.monotonic()
    with http.fetcher(spec, base_url, settings.plan_rate_limits(spec)) as fetch:
        try:
            for index, pulled in enumerate(pull(fetch)):
                meta = _landed_meta(spec, pulled, http.offline, run_id) | (extra_meta or {})
                body = pulled.response.body
                entry = landing.land_response(
                    settings.landing_dir, spec.name, dataset, window, run_id, index, body, meta
                )
                landed.append((pulled, entry))
                context.log.info(
                    f"{spec.name}: {pulled.response.what or dataset}: HTTP {pulled.response.status}, "
                    f"{len(body):,} bytes, weight {pulled.weight:.1f}"
                )
        except ProviderHttpError as exc:
            raise dg.Failure(
                description=f"{spec.title}: {exc}",
                metadata={
                    "provider": spec.name,
                    "http_status": exc.status if exc.status is not None else "none",
                    "requests_before_failure": fetch.client.stats.requests,
                    "responses_landed": len(landed),
                },
            ) from None
        stats = fetch.client.stats
    summary = {
        "requests": dg.MetadataValue.int(stats.requests),
        "http_attempts": dg.MetadataValue.int(stats.attempts),
        "retries": dg.MetadataValue.int(stats.retries),
        "bytes": dg.MetadataValue.int(stats.bytes),
        "weighted_calls": dg.MetadataValue.float(round(stats.cost, 2)),
        "elapsed_s": dg.MetadataValue.float(round(time.monotonic() - started, 2)),
        "endpoint": dg.MetadataValue.text(urlsplit(base_url)._replace(query="").geturl()),
        "offline": dg.MetadataValue.bool(http.offline),
    }
    return landed, summary


def _landed_meta(spec: ProviderSpec, pulled: Pulled, offline: bool, run_id: str) -> dict:
    """What is landed beside a response body: the request (URL without secrets), its outcome and coverage."""
    response = pulled.response
    return {
        "provider": spec.name,
        "url": response.url,  # secrets already removed by the HTTP layer
        "status": response.status,
        "bytes": len(response.body),
        "elapsed_s": round(response.elapsed_s, 3),
        "attempts": response.attempts,
        "fetched_at": response.fetched_at.isoformat(),
        "weight": pulled.weight,
        "start": pulled.start.isoformat(),
        "end": pulled.end.isoformat(),
        "sites": landing.sites_meta(pulled.sites),
        "offline": offline,
        "run_id": run_id,
        **dict(pulled.meta),
    }


def skipped_metadata(spec: ProviderSpec, skipped: Sequence[Site]) -> dict:
    """The sites a station-based provider skipped (no station id for it in the catalog), listed."""
    if spec.station_key is None:
        return {}
    return {
        "sites_skipped": dg.MetadataValue.int(len(skipped)),
        "sites_skipped_list": dg.MetadataValue.text(
            (", ".join(s.id for s in skipped) + f" (no stations.{spec.station_key} in the site catalog)")
            if skipped
            else "none"
        ),
    }


# What a normaliser raises on a body that is not in the documented shape: its own errors (ValueErrors
# naming the field and what was expected), and what a wrong JSON type makes Python or polars raise
# underneath (a number where an array belongs).
UNREADABLE = (ValueError, TypeError, KeyError, IndexError, pl.exceptions.PolarsError)


def normalise_landed(spec: ProviderSpec, normalise: Normaliser, entry: landing.LandedResponse) -> pl.DataFrame:
    """A landed body in the canonical schema; one not in the documented shape fails the asset with a message
    naming the provider, the landed file, its URL and what is wrong (the file stays on disk)."""
    try:
        return normalise(landing.read_body(entry), entry.meta, landing.sites_of(entry.meta))
    except UNREADABLE as exc:
        ours = type(exc).__module__.startswith("weather_assets")  # already worded for the user
        raise dg.Failure(
            f"{spec.name}: landed response {entry.body_path} ({entry.meta.get('url')}) cannot be read: "
            + (str(exc) if ours else f"{type(exc).__name__}: {exc}")
        ) from None
