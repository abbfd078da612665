{#-
  The table marts.precipitation_15min_completeness (`alias`): the model's own name is shorter so the
  asset graph's label (the last part of the asset key, cut past 31 characters) shows it whole.

  Per source, site and LOCAL calendar day (the site's IANA timezone): how many of the day's
  15-minute intervals have a known precipitation amount, why the others do not, and the day's total
  and heaviest quarter hour (see the model docs).

  An interval belongs to the local day of its START (observed_at is its end), so the interval
  ending at local midnight is the previous day's last one. A day is here when it has at least one
  row in precipitation_15min; the rows are dense for what was loaded, so the day's intervals
  without a row are "not loaded", counted apart from the reasons the provider gave.

  Incremental by UTC window, like daily_air_quality: a window run recomputes every local day that
  overlaps [min_date, max_date), reading intervals from [min_date - 2 days, max_date + 2 days), and
  rewrites only those days (pre-hook clears them, then delete+insert on the key). Without the vars,
  every day.
-#}
{{
    config(
        materialized='incremental',
        alias='precipitation_15min_completeness',
        incremental_strategy='delete+insert',
        unique_key=['source', 'site_id', 'local_date'],
        on_schema_change='fail',
        pre_hook="{{ clear_incremental_window(local_date_column='local_date') }}",
    )
}}

{%- set window = utc_window() %}
{#- The values of missing_reason (weather_assets/providers/spec.py PRECIPITATION_15MIN_MISSING_REASONS);
    each gets a <reason>_intervals column. #}
{%- set reasons = ['missing_period', 'deleted_period', 'accumulation', 'quality_flag', 'sentinel', 'not_reported'] %}

with sites as (

    select site_id, timezone
    from {{ ref('stg_sites') }}

),

intervals as (

    select
        precipitation.source,
        precipitation.site_id,
        sites.timezone,
        precipitation.observed_at,
        cast({{ utc_to_local('precipitation.interval_start_at', 'sites.timezone') }} as date) as local_date,
        precipitation.station_id,
        precipitation.precipitation_mm,
        precipitation.listed,
        precipitation.sentinel,
        precipitation.missing_reason
    from {{ ref('stg_precipitation_15min') }} as precipitation
    inner join sites
        on precipitation.site_id = sites.site_id
    {%- if window %}
    where precipitation.observed_at >= timestamp '{{ window.start }}' - interval 2 day
      and precipitation.observed_at < timestamp '{{ window.end }}' + interval 2 day
    {%- endif %}

),

daily as (

    select
        source,
        site_id,
        local_date,
        timezone,
        -- One station per site and source in practice; if the catalog switched it inside a local day,
        -- the station of the day's last interval (deterministic, and the one serving the site now).
        arg_max(station_id, observed_at) as station_id,
        count(*) as loaded_intervals,
        count(precipitation_mm) as received_intervals,
        {%- for reason in reasons %}
        count(*) filter (where missing_reason = '{{ reason }}') as {{ reason }}_intervals,
        {%- endfor %}
        count(*) filter (where sentinel) as sentinel_values,
        count(*) filter (where listed) as listed_intervals,
        sum(precipitation_mm) as precipitation_mm,
        max(precipitation_mm) as max_15min_precipitation_mm
    from intervals
    group by source, site_id, local_date, timezone

),

expected as (

    select
        daily.*,
        -- UTC quarter-hour marks in [local midnight, next local midnight): the day's length in
        -- minutes / 15, i.e. 96, 92 on a spring-forward day, 100 on a fall-back day (also for
        -- half-hour zones such as Asia/Kolkata, whose midnights fall on a quarter hour).
        cast(
            ceil(epoch({{ local_to_utc('cast(local_date + 1 as timestamp)', 'timezone') }}) / 900)
            - ceil(epoch({{ local_to_utc('cast(local_date as timestamp)', 'timezone') }}) / 900)
            as integer
        ) as expected_intervals
    from daily

),

final as (

    select
        source,
        site_id,
        local_date,
        timezone,
        station_id,
        expected_intervals,
        received_intervals,
        expected_intervals - received_intervals as missing_intervals,
        round(100.0 * (expected_intervals - received_intervals) / expected_intervals, 2) as missing_pct,
        {%- for reason in reasons %}
        {{ reason }}_intervals,
        {%- endfor %}
        expected_intervals - loaded_intervals as not_loaded_intervals,
        sentinel_values,
        listed_intervals,
        precipitation_mm,
        max_15min_precipitation_mm,
        expected_intervals = received_intervals as complete
    from expected

)

select *
from final
{%- if window %}
-- keep the local days that overlap the UTC window
where {{ local_day_overlaps_window('local_date', 'timezone', window) }}
{%- endif %}
