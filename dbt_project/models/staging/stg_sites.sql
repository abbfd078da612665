-- The site dimension; rename/cast only.
select
    site_id,
    name as site_name,
    latitude,
    longitude,
    timezone,
    elevation_m,
    stations,
    active as is_active,
    updated_at
from {{ source('warehouse', 'sites') }}
