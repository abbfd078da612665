"""The code location: every layer's definitions, built from the environment's settings.

Lazy (`@dg.definitions`): importing `weather_assets` needs neither the dbt manifest, the network
nor the warehouse. Tests build definitions from their own `Settings` with `build_defs`.
"""

from __future__ import annotations

import dagster as dg

from weather_assets.defs import (
    automation,
    blend,
    ingest,
    maintenance,
    metrics,
    resources,
    sensors,
    snapshots,
    warehouse,
    warehouse_checks,
)
from weather_assets.settings import Settings


def build_defs(settings: Settings) -> dg.Definitions:
    return dg.Definitions.merge(
        # Every run the code location starts without a job of ours (the UI's Materialize, a backfill of selected
        # assets, declarative automation) runs its steps in the run's process, as our jobs do (automation.py
        # EXECUTOR): one Python process per step cost ~8 s each; the writers are serialized by the pool anyway.
        dg.Definitions(executor=automation.EXECUTOR),
        resources.build_defs(settings),
        ingest.build_defs(settings),
        snapshots.build_defs(settings),
        warehouse.build_defs(settings),
        warehouse_checks.build_defs(settings),
        maintenance.build_defs(settings),
        metrics.build_defs(settings),
        blend.build_defs(settings, automation.EXECUTOR),
        automation.build_defs(settings),
        sensors.build_defs(settings),
    )


@dg.definitions
def defs() -> dg.Definitions:
    return build_defs(Settings.from_env())
