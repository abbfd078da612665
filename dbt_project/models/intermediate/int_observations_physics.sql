{#-
  Hourly observations with the derived physics columns (formulas: macros/physics.sql, named in
  this model's docs). A view: the marts that need it read only their window of it.
-#}

with observations as (

    select * from {{ ref('stg_observations') }}

),

filled as (

    select
        site_id,
        source,
        observed_at,
        temperature_c,
        -- A source that reports only one of humidity / dew point gets the other by Magnus.
        coalesce(
            relative_humidity_pct,
            case when dew_point_c is not null and temperature_c is not null
                then {{ magnus_relative_humidity('temperature_c', 'dew_point_c') }}
            end
        ) as relative_humidity_pct,
        relative_humidity_pct is null
            and dew_point_c is not null and temperature_c is not null as relative_humidity_is_derived,
        coalesce(dew_point_c, {{ magnus_dew_point('temperature_c', 'relative_humidity_pct') }}) as dew_point_c,
        dew_point_c is null
            and temperature_c is not null and coalesce(relative_humidity_pct > 0, false) as dew_point_is_derived,
        pressure_msl_hpa,
        wind_speed_ms,
        wind_direction_deg,
        wind_gust_ms,
        precipitation_mm,
        cloud_cover_pct,
        weather_code,
        weather_code_system
    from observations

)

select
    *,
    {{ heat_index_c('temperature_c', 'relative_humidity_pct') }} as heat_index_c,
    {{ wind_chill_c('temperature_c', 'wind_speed_ms') }} as wind_chill_c,
    {{ apparent_temperature_c('temperature_c', 'relative_humidity_pct', 'wind_speed_ms') }} as apparent_temperature_c
from filled
