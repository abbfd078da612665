"""Benchmarks for weather_assets (`make bench`); see bench/README.md."""
