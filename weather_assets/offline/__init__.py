"""Offline mode (WEATHER_ASSETS_OFFLINE=1): one replay per provider, and a loopback HTTP server.

Each `<provider>.py` holds a pure `Handler` (providers/base.py: WireRequest -> WireResponse) that answers
like the provider's API with SYNTHETIC, deterministic payloads, so the client, landing, normalisation and
validation run exactly as online. `weather_assets.providers.registry.REPLAYS` pairs each provider with
its replay. `server.py` serves any handler on 127.0.0.1 for the tests and the benchmark.
No Dagster, no httpx here; nothing here imports the registry or the settings.
"""
