"""One partition of the history path through `dagster.materialize()` (ephemeral instance), as tests do.

    python -m bench.materialize_one 2024-06-01
"""

import sys

import dagster as dg

from weather_assets.definitions import build_defs
from weather_assets.settings import Settings


def main(partition: str) -> int:
    settings = Settings.from_env()
    defs = build_defs(settings)
    # The history job's selection (weather_assets/defs/automation.py): pull, validation, sites, and downstream.
    roots = [["raw", "open_meteo"], ["observations", "open_meteo_observations"], ["warehouse", "sites"]]
    selection = dg.AssetSelection.assets(*(dg.AssetKey(k) for k in roots)).downstream()
    result = dg.materialize(
        [*defs.assets, *(defs.asset_checks or [])],
        resources=defs.resources,
        selection=selection,
        partition_key=partition,
        raise_on_error=False,
    )
    return 0 if result.success else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
