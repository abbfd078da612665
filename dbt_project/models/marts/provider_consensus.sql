{#-
  Per site, UTC hour and measure: how the sources agree. Long format (one row per measure) so
  every measure gets the same statistics and tests; see the model docs for the confidence score.

  Incremental by UTC window: a window run recomputes the hours in [min_date, max_date) — an hour
  belongs to exactly one UTC partition, so no neighbouring partitions are read — and replaces them
  (pre-hook clears the window, then delete+insert on the key). Without the vars, every hour.
-#}
{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['site_id', 'observed_at', 'measure'],
        on_schema_change='fail',
        pre_hook="{{ clear_incremental_window(time_column='observed_at') }}",
    )
}}

{%- set window = utc_window() %}
{%- set tolerances = consensus_tolerances() %}

with hourly as (

    select physics.*
    from {{ ref('int_observations_physics') }} as physics
    inner join {{ ref('stg_sites') }} as sites
        on physics.site_id = sites.site_id
    {%- if window %}
    where physics.observed_at >= timestamp '{{ window.start }}'
      and physics.observed_at < timestamp '{{ window.end }}'
    {%- endif %}

),

long as (

    -- UNPIVOT drops NULLs: a source that does not report a measure is not counted for it.
    unpivot (
        select site_id, source, observed_at, {{ tolerances.keys() | join(', ') }}
        from hourly
    )
    on {{ tolerances.keys() | join(', ') }}
    into name measure value value

),

aggregated as (

    select
        site_id,
        observed_at,
        measure,
        count(*) as n_sources,
        string_agg(source, ',' order by source) as sources,
        avg(value) as mean_value,
        min(value) as min_value,
        max(value) as max_value,
        max(value) - min(value) as spread,
        stddev_pop(value) as stddev
    from long
    group by site_id, observed_at, measure

)

select
    site_id,
    observed_at,
    measure,
    n_sources,
    sources,
    mean_value,
    min_value,
    max_value,
    spread,
    stddev,
    {{ case_by_measure('measure', tolerances) }} as tolerance,
    (1 - pow(0.5, n_sources)) * exp(-stddev / ({{ case_by_measure('measure', tolerances) }})) as confidence
from aggregated
