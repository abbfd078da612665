"""One partition of the history path through `dagster.materialize()` (ephemeral instance), as tests do.

    python -m bench.materialize_one 2024-06-01
"""

import sys

import dagster as dg

from weather_assets.definitions import build_defs
from weather_assets.defs.automation import history_selection
from weather_assets.providers.registry import PROVIDERS
from weather_assets.settings import Settings


def main(partition: str) -> int:
    settings = Settings.from_env()
    defs = build_defs(settings)
    # Open-Meteo's history job's selection (the pull, validation, warehouse tables, sites and the marts).
    selection = history_selection([PROVIDERS["open_meteo"]])
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
