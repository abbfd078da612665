-- 15-minute precipitation as the warehouse holds it: rename/cast, plus the interval's start (the
-- warehouse stamps the END), which is what assigns an interval to a day.
select
    site_id,
    source,
    cast(observed_at as timestamp) as observed_at,
    cast(observed_at as timestamp) - interval 15 minute as interval_start_at,
    station_id,
    precipitation_mm,
    gauge_mm,
    accumulated_mm,
    listed,
    sentinel,
    measurement_flag,
    quality_flag,
    missing_reason,
    ingestion_run_id,
    ingested_at
from {{ source('warehouse', 'precipitation_15min') }}
