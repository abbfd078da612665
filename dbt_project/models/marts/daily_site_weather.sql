{#-
  Per site, source and LOCAL calendar day (the site's IANA timezone): daily weather summary and
  completeness. Hours go to the local day of their own timestamp (see the model docs).

  Incremental by UTC window: with vars min_date/max_date, recompute every local day that
  overlaps [min_date, max_date) UTC. Such a day can start up to 14 h before min_date and end up
  to 12 h after max_date (UTC+14..UTC-12) and lasts up to 25 h, so observations are read from
  [min_date - 2 days, max_date + 2 days) and only overlapping days are kept. Without the vars,
  every day is recomputed. delete+insert on the key makes a re-run of a window idempotent.
-#}
{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['site_id', 'source', 'local_date'],
        on_schema_change='fail',
    )
}}

{%- set window = utc_window() %}

with sites as (

    select site_id, timezone
    from {{ ref('stg_sites') }}

),

observations as (

    select
        observations.*,
        sites.timezone
    from {{ ref('stg_observations') }} as observations
    inner join sites
        on observations.site_id = sites.site_id
    {%- if window %}
    where observations.observed_at >= timestamp '{{ window.start }}' - interval 2 day
      and observations.observed_at < timestamp '{{ window.end }}' + interval 2 day
    {%- endif %}

),

hourly as (

    select
        site_id,
        source,
        timezone,
        observed_at,
        cast({{ utc_to_local('observed_at', 'timezone') }} as date) as local_date,
        temperature_c,
        relative_humidity_pct,
        wind_gust_ms,
        precipitation_mm,
        {{ has_measurement() }} as has_measurement
    from observations

),

daily as (

    select
        site_id,
        source,
        local_date,
        any_value(timezone) as timezone,
        min(temperature_c) as temperature_min_c,
        max(temperature_c) as temperature_max_c,
        avg(temperature_c) as temperature_mean_c,
        sum(precipitation_mm) as precipitation_total_mm,
        avg(relative_humidity_pct) as relative_humidity_mean_pct,
        max(wind_gust_ms) as wind_gust_max_ms,
        count(distinct date_trunc('hour', observed_at)) filter (where has_measurement) as hours_observed,
        min(observed_at) filter (where has_measurement) as first_observed_at,
        max(observed_at) filter (where has_measurement) as last_observed_at
    from hourly
    group by site_id, source, local_date

),

day_bounds as (

    select
        daily.*,
        {{ local_to_utc('cast(local_date as timestamp)', 'timezone') }} as day_start_utc,
        {{ local_to_utc('cast(local_date + 1 as timestamp)', 'timezone') }} as day_end_utc
    from daily

),

final as (

    select
        site_id,
        source,
        local_date,
        timezone,
        temperature_min_c,
        temperature_max_c,
        temperature_mean_c,
        precipitation_total_mm,
        relative_humidity_mean_pct,
        wind_gust_max_ms,
        hours_observed,
        -- UTC hour marks in [local midnight, next local midnight): 24, or 23/25 on DST days;
        -- counting marks (not the span) also holds for half-hour zones such as Asia/Kolkata.
        cast(ceil(epoch(day_end_utc) / 3600) - ceil(epoch(day_start_utc) / 3600) as integer) as hours_expected,
        first_observed_at,
        last_observed_at,
        day_start_utc,
        day_end_utc
    from day_bounds

)

select
    site_id,
    source,
    local_date,
    timezone,
    temperature_min_c,
    temperature_max_c,
    temperature_mean_c,
    precipitation_total_mm,
    relative_humidity_mean_pct,
    wind_gust_max_ms,
    hours_observed,
    hours_expected,
    round(100.0 * hours_observed / hours_expected, 1) as completeness_pct,
    first_observed_at,
    last_observed_at
from final
{%- if window %}
-- keep the local days that overlap the UTC window
where day_start_utc < timestamp '{{ window.end }}'
  and day_end_utc > timestamp '{{ window.start }}'
{%- endif %}
