-- Forecast values as the warehouse holds them; rename/cast, plus the lead time.
select
    site_id,
    source,
    cast(issued_at as timestamp) as issued_at,
    cast(valid_at as timestamp) as valid_at,
    (epoch(cast(valid_at as timestamp)) - epoch(cast(issued_at as timestamp))) / 3600.0 as lead_hours,
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
from {{ source('warehouse', 'forecasts') }}
