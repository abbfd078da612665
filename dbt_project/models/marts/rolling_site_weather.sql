{#-
  Per site, source and local day: trailing 7- and 30-day features over `daily_site_weather`
  (calendar-day RANGE windows; see the model docs for partial windows and degree days).

  Incremental by UTC window with look-back: a window run recomputes the local days that overlap
  [min_date, max_date) (the same days daily_site_weather refreshes in the same dbt invocation,
  which runs first), reading the 30 days before them, and rewrites only those days (pre-hook
  clears them, then delete+insert on the key). Without the vars, every day.
-#}
{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['site_id', 'source', 'local_date'],
        on_schema_change='fail',
        pre_hook="{{ clear_incremental_window(local_date_column='local_date') }}",
    )
}}

{%- set window = utc_window() %}
{%- set base_c = 18.0 %}

with daily as (

    select
        site_id,
        source,
        local_date,
        timezone,
        temperature_mean_c,
        (temperature_min_c + temperature_max_c) / 2.0 as temperature_midrange_c,
        precipitation_total_mm
    from {{ ref('daily_site_weather') }}
    {%- if window %}
    -- Local days overlapping the window lie within [start - 1 day, end + 1 day] (UTC-12..UTC+14);
    -- their 30-day windows reach 29 days further back.
    where local_date >= cast(timestamp '{{ window.start }}' - interval 31 day as date)
      and local_date <= cast(timestamp '{{ window.end }}' + interval 1 day as date)
    {%- endif %}

),

features as (

    select
        *,
        case when temperature_midrange_c is not null
            then greatest(0.0, {{ base_c }} - temperature_midrange_c) end as heating_degree_days,
        case when temperature_midrange_c is not null
            then greatest(0.0, temperature_midrange_c - {{ base_c }}) end as cooling_degree_days
    from daily

),

rolled as (

    select
        site_id,
        source,
        local_date,
        timezone,
        temperature_mean_c,
        avg(temperature_mean_c) over last_7 as temperature_mean_7d_c,
        avg(temperature_mean_c) over last_30 as temperature_mean_30d_c,
        count(temperature_mean_c) over last_7 as temperature_days_7d,
        count(temperature_mean_c) over last_30 as temperature_days_30d,
        precipitation_total_mm,
        sum(precipitation_total_mm) over last_7 as precipitation_7d_mm,
        sum(precipitation_total_mm) over last_30 as precipitation_30d_mm,
        count(precipitation_total_mm) over last_7 as precipitation_days_7d,
        count(precipitation_total_mm) over last_30 as precipitation_days_30d,
        heating_degree_days,
        cooling_degree_days,
        sum(heating_degree_days) over last_30 as heating_degree_days_30d,
        sum(cooling_degree_days) over last_30 as cooling_degree_days_30d
    from features
    window
        last_7 as (
            partition by site_id, source order by local_date
            range between interval 6 day preceding and current row
        ),
        last_30 as (
            partition by site_id, source order by local_date
            range between interval 29 day preceding and current row
        )

)

select *
from rolled
{%- if window %}
where {{ local_day_overlaps_window('local_date', 'timezone', window) }}
{%- endif %}
