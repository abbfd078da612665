{#-
  Per site, UTC hour and measure: how the sources agree. Long format (one row per measure) so
  every measure gets the same statistics and tests; see the model docs for the confidence score.

  Incremental by UTC window: a window run recomputes the hours in [min_date, max_date) — an hour
  belongs to exactly one UTC day, so no neighbouring days are read — and replaces them
  (pre-hook clears the window, then delete+insert on the key). Without the vars, every hour.

  Aggregated per site-hour (one row per hour, a column group per measure), then unpivoted: grouping
  the long rows instead makes nine times the groups, and an ordered `string_agg` per group cost 5x
  the time and more memory than a 512MB DuckDB limit allows on a year x 50 sites. A measure's
  `sources` come from a bit mask over the window's sorted source names, a fixed-size aggregate that
  can spill to disk; a list per group cannot.
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
{%- set statistics = ['n_sources', 'source_mask', 'mean_value', 'min_value', 'max_value', 'stddev'] %}

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

source_names as (

    -- Bit i - 1 of a mask stands for the i-th source name (sorted). A ubigint holds 64 sources;
    -- a 65th fails the build with DuckDB's "Overflow in left shift" (there are 8 providers).
    select coalesce(list(distinct source order by source), []) as names
    from hourly

),

flagged as (

    select
        hourly.*,
        cast(1 as ubigint) << (list_position(source_names.names, hourly.source) - 1) as source_bit
    from hourly
    cross join source_names

),

per_hour as (

    -- A source with a NULL value is not counted for that measure (count/avg/... skip NULLs).
    select
        site_id,
        observed_at,
        {%- for measure in tolerances %}
        count({{ measure }}) as {{ measure }}__n_sources,
        bit_or(source_bit) filter (where {{ measure }} is not null) as {{ measure }}__source_mask,
        avg({{ measure }}) as {{ measure }}__mean_value,
        min({{ measure }}) as {{ measure }}__min_value,
        max({{ measure }}) as {{ measure }}__max_value,
        stddev_pop({{ measure }}) as {{ measure }}__stddev{{ ',' if not loop.last }}
        {%- endfor %}
    from flagged
    group by site_id, observed_at

),

aggregated as (

    unpivot per_hour
    on
        {%- for measure in tolerances %}
        ({% for statistic in statistics %}{{ measure }}__{{ statistic }}{{ ', ' if not loop.last }}{% endfor %}) as {{ measure }}{{ ',' if not loop.last }}
        {%- endfor %}
    into name measure value {{ statistics | join(', ') }}

)

select
    aggregated.site_id,
    aggregated.observed_at,
    aggregated.measure,
    aggregated.n_sources,
    array_to_string(
        list_filter(source_names.names, lambda name, i: (aggregated.source_mask >> (i - 1)) & 1 = 1), ','
    ) as sources,
    aggregated.mean_value,
    aggregated.min_value,
    aggregated.max_value,
    aggregated.max_value - aggregated.min_value as spread,
    aggregated.stddev,
    {{ case_by_measure('aggregated.measure', tolerances) }} as tolerance,
    (1 - pow(0.5, aggregated.n_sources))
        * exp(-aggregated.stddev / ({{ case_by_measure('aggregated.measure', tolerances) }})) as confidence
from aggregated
cross join source_names
-- a measure no source reported that hour has no row
where aggregated.n_sources > 0
