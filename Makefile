# weather_assets — every target installs what it needs first (docs/design.md §3a).
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
# The project's Dagster instance: run history, schedules and the pool limits of deploy/dagster.yaml.
export DAGSTER_HOME := $(CURDIR)/.dagster_home

DBT_SOURCES := $(shell find dbt_project/models dbt_project/macros dbt_project/tests -type f 2>/dev/null) \
               dbt_project/dbt_project.yml dbt_project/profiles.yml

.PHONY: install run history test lint dev bench clean

install: $(VENV)/.installed dbt_project/target/manifest.json $(DAGSTER_HOME)/dagster.yaml

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

# Definitions need the dbt manifest before they load; produce it here, never commit it (docs/design.md §6).
dbt_project/target/manifest.json: $(VENV)/.installed $(DBT_SOURCES)
	cd dbt_project && ../$(BIN)/dbt parse --quiet --profiles-dir . --project-dir .
	touch $@

$(DAGSTER_HOME)/dagster.yaml: deploy/dagster.yaml
	mkdir -p $(DAGSTER_HOME)
	cp deploy/dagster.yaml $@

## make run: load the last complete days for every catalog site from every enabled provider, raw -> marts
run: install
	$(BIN)/weather-assets run

## make history START=2024-01-01 END=2024-12-31: load a date range, one run per enabled provider
history: install
	@test -n "$(START)" -a -n "$(END)" || { echo "usage: make history START=YYYY-MM-DD END=YYYY-MM-DD"; exit 2; }
	$(BIN)/weather-assets history --start $(START) --end $(END)

## make test: the whole offline test suite
test: install
	$(BIN)/python -m pytest

## make bench: benchmarks, not part of `make test` (a year x 50 sites vs the floor, per-run overhead, validation, API economy; ~6-8 min)
bench: install $(VENV)/.bench-installed
	$(BIN)/python -m bench.run

# The bench's peer (dlt) lives in the `bench` extra: never installed for `make run` or `make test`.
$(VENV)/.bench-installed: $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	touch $@

lint: install
	$(BIN)/ruff check weather_assets weather_assets_tests

## make dev [PORT=3000]: the Dagster UI and daemon on http://127.0.0.1:$(PORT)
PORT ?= 3000
dev: install
	$(BIN)/dagster dev -w workspace.yaml -h 127.0.0.1 -p $(PORT)

clean:
	rm -rf $(VENV) dbt_project/target dbt_project/logs
