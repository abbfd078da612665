-- Hourly air quality as the warehouse holds it; rename/cast only.
select
    site_id,
    source,
    cast(observed_at as timestamp) as observed_at,
    pm10_ugm3,
    pm2_5_ugm3,
    carbon_monoxide_ugm3,
    nitrogen_dioxide_ugm3,
    sulphur_dioxide_ugm3,
    ozone_ugm3,
    european_aqi,
    us_aqi,
    ingestion_run_id,
    ingested_at
from {{ source('warehouse', 'air_quality') }}
