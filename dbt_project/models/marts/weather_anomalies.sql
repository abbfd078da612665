{#-
  Hourly values that are anomalous against their own trailing 30 days (rule and severity: model
  docs). Only flagged values are stored.

  Incremental by UTC window with look-back: a window run scores the hours in [min_date, max_date)
  and reads 30 days before min_date for their baselines; it writes only the window (pre-hook
  clears it, then delete+insert on the key), so a value that is no longer anomalous disappears.
  Without the vars, every hour is scored.
-#}
{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['site_id', 'source', 'measure', 'observed_at'],
        on_schema_change='fail',
        pre_hook="{{ clear_incremental_window(time_column='observed_at') }}",
    )
}}

{%- set window = utc_window() %}
{%- set measures = anomaly_measures() %}
{#- Baselines shorter than 7 days of hourly values are not trusted. -#}
{%- set min_baseline_hours = 168 %}

with hourly as (

    select physics.site_id, physics.source, physics.observed_at, {{ measures | join(', ') }}
    from {{ ref('int_observations_physics') }} as physics
    inner join {{ ref('stg_sites') }} as sites
        on physics.site_id = sites.site_id
    {%- if window %}
    where physics.observed_at >= timestamp '{{ window.start }}' - interval 30 day
      and physics.observed_at < timestamp '{{ window.end }}'
    {%- endif %}

),

long as (

    unpivot hourly
    on {{ measures | join(', ') }}
    into name measure value value

),

scored as (

    select
        site_id,
        source,
        measure,
        observed_at,
        value,
        count(value) over baseline as baseline_count,
        avg(value) over baseline as baseline_mean,
        stddev_samp(value) over baseline as baseline_stddev,
        quantile_cont(value, 0.25) over baseline as baseline_q1,
        quantile_cont(value, 0.75) over baseline as baseline_q3
    from long
    window baseline as (
        partition by site_id, source, measure
        order by observed_at
        range between interval 30 day preceding and interval 1 hour preceding
    )

),

fenced as (

    select
        *,
        baseline_q1 - 1.5 * (baseline_q3 - baseline_q1) as lower_fence,
        baseline_q3 + 1.5 * (baseline_q3 - baseline_q1) as upper_fence,
        (value - baseline_mean) / nullif(baseline_stddev, 0) as z_score
    from scored
    where baseline_count >= {{ min_baseline_hours }}
    {%- if window %}
      and observed_at >= timestamp '{{ window.start }}'
    {%- endif %}

)

select
    site_id,
    source,
    measure,
    observed_at,
    value,
    case when value > upper_fence then 'high' else 'low' end as direction,
    least(lower_fence, baseline_mean - 3 * baseline_stddev) as expected_min,
    greatest(upper_fence, baseline_mean + 3 * baseline_stddev) as expected_max,
    lower_fence,
    upper_fence,
    z_score,
    case
        when abs(z_score) > 6 then 'extreme'
        when abs(z_score) > 4 then 'severe'
        else 'moderate'
    end as severity,
    baseline_count,
    baseline_mean,
    baseline_stddev,
    baseline_q1,
    baseline_q3
from fenced
where (value < lower_fence or value > upper_fence)
  and abs(z_score) > 3
