-- Quarantined observation rows (one per rejected input row) as the warehouse holds them; rename/cast only.
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
from {{ source('warehouse', 'rejected_observations') }}
