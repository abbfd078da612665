"""weather_assets: an asset-based weather data platform on Dagster.

Importing the package has no side effects: definitions live in `weather_assets.definitions`.
"""
