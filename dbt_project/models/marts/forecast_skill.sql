{#-
  Forecast errors against later observations, per site, forecast source, truth source, measure
  and 24-hour lead-time bucket (see the model docs for the truth source). A full rebuild on every
  run: forecasts are snapshots, not daily partitions, and the pairs of any issue can change when
  a later observation day is loaded.
-#}
{{ config(materialized='table') }}

{%- set truth_source = var('forecast_truth_source', none) %}
{%- set measures = forecast_measures() %}

with forecasts as (

    -- Hours before the issue time are analyses a provider repeats, not forecasts.
    select forecasts.*
    from {{ ref('stg_forecasts') }} as forecasts
    inner join {{ ref('stg_sites') }} as sites
        on forecasts.site_id = sites.site_id
    where forecasts.lead_hours >= 0

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
    inner join {{ ref('stg_observations') }} as observations
        on observations.site_id = forecasts.site_id
        and observations.observed_at = forecasts.valid_at
        {%- if truth_source %}
        and observations.source = '{{ truth_source | replace("'", "''") }}'
        {%- else %}
        and observations.source = forecasts.source
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
