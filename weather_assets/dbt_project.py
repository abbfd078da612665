"""The dbt project behind the metrics layer, as dagster-dbt sees it.

Only the `DbtProject`: constructing it reads `dbt_project.yml` and nothing else, so importing this
module is cheap and has no side effects. The manifest is produced by `dbt parse` in the install and
test paths, never here (`prepare_if_dev()` would re-parse in every process, docs/design.md §6).
"""

from __future__ import annotations

from pathlib import Path

from dagster_dbt import DbtProject

# dbt_project/ sits next to the package in the repository (an editable install keeps that layout).
DBT_PROJECT_DIR = Path(__file__).resolve().parent.parent / "dbt_project"

dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)
