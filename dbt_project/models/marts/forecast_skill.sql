{#-
  Forecast errors against later observations, per site, forecast source, truth source, measure
  and 24-hour lead-time bucket (see the model docs for the truth source). A full rebuild on every
  run: forecasts are snapshots, not daily partitions, and the pairs of any issue can change when
  a later observation day is loaded.
-#}
{{ config(materialized='table') }}
-- depends_on: {{ source('warehouse', 'forecast_blend') }}

{#- The platform's WEATHER_ASSETS_FORECAST_TRUTH_SOURCE (the blend's truth too); the var wins for dbt by hand. -#}
{%- set truth_source = var('forecast_truth_source', none) or env_var('WEATHER_ASSETS_FORECAST_TRUTH_SOURCE', '') or none %}
{%- set measures = forecast_measures() %}

with forecasts as (

    -- Hours before the issue time are analyses a provider repeats, not forecasts.
    select forecasts.*
    from {{ ref('stg_forecasts') }} as forecasts
    inner join {{ ref('stg_sites') }} as sites
        on forecasts.site_id = sites.site_id
    where forecasts.lead_hours >= 0

),

truth as (

    {%- if truth_source %}
    -- One source is the truth for every forecast.
    select * from {{ ref('stg_observations') }}
    where source = '{{ truth_source | replace("'", "''") }}'
    {%- else %}
    -- Each source its own truth, and the consensus (the mean of every source's reported value of the hour)
    -- for all, so the blend, which observes nothing, is scored beside every provider on the same truth.
    select * from {{ ref('stg_observations') }}
    union all by name
    select
        site_id,
        'consensus' as source,
        observed_at,
        {%- for measure in measures %}
        avg({{ measure }}) as {{ measure }}{{ ',' if not loop.last }}
        {%- endfor %}
    from {{ ref('stg_observations') }}
    group by site_id, observed_at
    {%- endif %}

),

pairs as (

    select
        forecasts.site_id,
        forecasts.source,
        observations.source as truth_source,
        forecasts.issued_at,
        forecasts.valid_at,
        forecasts.lead_hours,
        {%- for measure in measures %}
        forecasts.{{ measure }} as forecast_{{ measure }},
        observations.{{ measure }} as observed_{{ measure }}{{ ',' if not loop.last }}
        {%- endfor %}
    from forecasts
    inner join truth as observations
        on observations.site_id = forecasts.site_id
        and observations.observed_at = forecasts.valid_at
        {%- if not truth_source %}
        and observations.source in (forecasts.source, 'consensus')
        {%- endif %}

),

errors as (

    {%- for measure in measures %}
    select
        site_id,
        source,
        truth_source,
        '{{ measure }}' as measure,
        lead_hours,
        valid_at,
        forecast_{{ measure }} - observed_{{ measure }} as error
    from pairs
    where forecast_{{ measure }} is not null and observed_{{ measure }} is not null
    {{ 'union all' if not loop.last }}
    {%- endfor %}

),

bucketed as (

    select
        *,
        cast(floor(lead_hours / 24) * 24 as integer) as lead_bucket_start_h
    from errors

)

select
    site_id,
    source,
    truth_source,
    measure,
    lead_bucket_start_h,
    lead_bucket_start_h + 24 as lead_bucket_end_h,
    format('{}-{}h', lead_bucket_start_h, lead_bucket_start_h + 24) as lead_bucket,
    count(*) as n_pairs,
    avg(error) as bias,
    avg(abs(error)) as mae,
    sqrt(avg(error * error)) as rmse,
    min(valid_at) as first_valid_at,
    max(valid_at) as last_valid_at
from bucketed
group by site_id, source, truth_source, measure, lead_bucket_start_h
