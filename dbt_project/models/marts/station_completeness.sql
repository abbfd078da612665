{#-
  Per source, site and LOCAL calendar day: how many of the day's hours arrived, how many are
  missing, and how many rows were quarantined (see the model docs).

  Incremental by UTC window, like daily_site_weather: a window run recomputes every local day that
  overlaps [min_date, max_date), reading observations and rejects from [min_date - 2 days,
  max_date + 2 days), and rewrites only those days (pre-hook clears them, then delete+insert on
  the key). The span of days a source is expected to report comes from its whole history (one
  min/max aggregate). Without the vars, every day.
-#}
{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['source', 'site_id', 'local_date'],
        on_schema_change='fail',
        pre_hook="{{ clear_incremental_window(local_date_column='local_date') }}",
    )
}}

{%- set window = utc_window() %}

with sites as (

    select site_id, timezone
    from {{ ref('stg_sites') }}

),

observations as (

    select
        observations.site_id,
        observations.source,
        observations.observed_at,
        cast({{ utc_to_local('observations.observed_at', 'sites.timezone') }} as date) as local_date,
        {{ has_measurement() }} as has_measurement
    from {{ ref('stg_observations') }} as observations
    inner join sites
        on observations.site_id = sites.site_id
    {%- if window %}
    where observations.observed_at >= timestamp '{{ window.start }}' - interval 2 day
      and observations.observed_at < timestamp '{{ window.end }}' + interval 2 day
    {%- endif %}

),

rejects as (

    -- Rows rejected without a site or a time cannot be placed on a site's day; they stay
    -- visible in stg_rejected_observations.
    select
        rejects.site_id,
        rejects.source,
        rejects.observed_at,
        cast({{ utc_to_local('rejects.observed_at', 'sites.timezone') }} as date) as local_date
    from {{ ref('stg_rejected_observations') }} as rejects
    inner join sites
        on rejects.site_id = sites.site_id
    where rejects.observed_at is not null
    {%- if window %}
      and rejects.observed_at >= timestamp '{{ window.start }}' - interval 2 day
      and rejects.observed_at < timestamp '{{ window.end }}' + interval 2 day
    {%- endif %}

),

spans as (

    -- The local days each source is expected to report for a site: from its first to its last
    -- hour (accepted or rejected) in the whole history.
    select
        arrivals.source,
        arrivals.site_id,
        sites.timezone,
        cast({{ utc_to_local('min(arrivals.observed_at)', 'sites.timezone') }} as date) as first_local_date,
        cast({{ utc_to_local('max(arrivals.observed_at)', 'sites.timezone') }} as date) as last_local_date
    from (
        select site_id, source, observed_at from {{ ref('stg_observations') }}
        union all
        select site_id, source, observed_at from {{ ref('stg_rejected_observations') }}
        where observed_at is not null
    ) as arrivals
    inner join sites
        on arrivals.site_id = sites.site_id
    group by arrivals.source, arrivals.site_id, sites.timezone

),

days as (

    select
        spans.source,
        spans.site_id,
        spans.timezone,
        cast(day.d as date) as local_date
    from spans
    cross join unnest(generate_series(
        {%- if window %}
        cast(greatest(spans.first_local_date, cast(timestamp '{{ window.start }}' - interval 1 day as date)) as timestamp),
        cast(least(spans.last_local_date, cast(timestamp '{{ window.end }}' + interval 1 day as date)) as timestamp),
        {%- else %}
        cast(spans.first_local_date as timestamp),
        cast(spans.last_local_date as timestamp),
        {%- endif %}
        interval 1 day
    )) as day(d)

),

received as (

    select
        source,
        site_id,
        local_date,
        count(distinct date_trunc('hour', observed_at)) as hours_received,
        count(distinct date_trunc('hour', observed_at)) filter (where has_measurement) as hours_with_data
    from observations
    group by source, site_id, local_date

),

rejected as (

    select
        source,
        site_id,
        local_date,
        count(*) as rejected_rows,
        count(distinct date_trunc('hour', observed_at)) as rejected_hours
    from rejects
    group by source, site_id, local_date

),

counted as (

    select
        days.source,
        days.site_id,
        days.local_date,
        days.timezone,
        -- UTC hour marks in [local midnight, next local midnight): 24, or 23/25 on DST days.
        cast(
            ceil(epoch({{ local_to_utc('cast(days.local_date + 1 as timestamp)', 'days.timezone') }}) / 3600)
            - ceil(epoch({{ local_to_utc('cast(days.local_date as timestamp)', 'days.timezone') }}) / 3600)
            as integer
        ) as hours_expected,
        coalesce(received.hours_received, 0) as hours_received,
        coalesce(received.hours_with_data, 0) as hours_with_data,
        coalesce(rejected.rejected_rows, 0) as rejected_rows,
        coalesce(rejected.rejected_hours, 0) as rejected_hours
    from days
    left join received
        on days.source = received.source
        and days.site_id = received.site_id
        and days.local_date = received.local_date
    left join rejected
        on days.source = rejected.source
        and days.site_id = rejected.site_id
        and days.local_date = rejected.local_date
    {%- if window %}
    where {{ local_day_overlaps_window('days.local_date', 'days.timezone', window) }}
    {%- endif %}

)

select
    source,
    site_id,
    local_date,
    timezone,
    hours_expected,
    hours_received,
    hours_with_data,
    greatest(hours_expected - hours_received, 0) as hours_missing,
    round(100.0 * greatest(hours_expected - hours_received, 0) / hours_expected, 1) as missing_pct,
    rejected_rows,
    rejected_hours
from counted
