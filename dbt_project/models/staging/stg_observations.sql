-- Hourly observations as the warehouse holds them; rename/cast only.
select
    site_id,
    source,
    cast(observed_at as timestamp) as observed_at,
    temperature_c,
    relative_humidity_pct,
    dew_point_c,
    pressure_msl_hpa,
    wind_speed_ms,
    wind_direction_deg,
    wind_gust_ms,
    precipitation_mm,
    cloud_cover_pct,
    weather_code,
    weather_code_system,
    ingestion_run_id,
    ingested_at
from {{ source('warehouse', 'observations') }}
