-- Quarantined observation rows (one per rejected input row) as the warehouse holds them; rename/cast only.
-- Table `rejected_observations` is written with `observations`, in one transaction, by the Dagster asset
-- warehouse/observations, which the source `observations` maps to (see _sources.yml): it is read as that
-- source's relation with the quarantine table's name, so the dependency is the source's.
select
    partition_date,
    site_id,
    source,
    cast(observed_at as timestamp) as observed_at,
    failed_check,
    failed_column,
    failure_case,
    record,
    ingestion_run_id,
    ingested_at
from {{ source('warehouse', 'observations').incorporate(path={'identifier': 'rejected_observations'}) }}
