{#-
  Per source, site and LOCAL calendar day (the site's IANA timezone): the day's mean and maximum of
  each pollutant, the daily maximum of both air-quality indices with their category and health
  message, and the WHO 2021 24-hour guideline flags for PM2.5 and PM10 (see the model docs for the
  bands, their sources and the minimum-hours rule).

  Incremental by UTC window, like daily_site_weather and station_completeness: a window run
  recomputes every local day that overlaps [min_date, max_date), reading hours from
  [min_date - 2 days, max_date + 2 days), and rewrites only those days (pre-hook clears them, then
  delete+insert on the key). Without the vars, every day.
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
{%- set pollutants = ['pm10', 'pm2_5', 'carbon_monoxide', 'nitrogen_dioxide', 'sulphur_dioxide', 'ozone'] %}

{#- WHO 2021 24-hour air quality guideline levels (µg/m³) and the valid hours a day's mean needs. #}
{%- set who_24h = {'pm2_5': 15, 'pm10': 45} %}
{%- set min_hours = 18 %}

{#- European Air Quality Index on Open-Meteo's 0..100+ scale: [lower, upper) per band, the upper
    (worse) band owns a boundary value. Messages: the EEA's for the general population. #}
{%- set eu_bands = [
    (20, 'Good', 'The air quality is good. Enjoy your usual outdoor activities.'),
    (40, 'Fair', 'Enjoy your usual outdoor activities.'),
    (60, 'Moderate', 'Enjoy your usual outdoor activities.'),
    (80, 'Poor', 'Consider reducing intense activities outdoors, if you experience symptoms such as sore eyes, a cough or sore throat.'),
    (100, 'Very poor', 'Consider reducing intense activities outdoors, if you experience symptoms such as sore eyes, a cough or sore throat.'),
    (none, 'Extremely poor', 'Reduce physical activities outdoors.'),
] %}

{#- US EPA AQI: integer ranges 0-50 .. 301-500, the value rounded to the nearest integer first
    (half up). Messages: the EPA's cautionary statements for particle pollution. #}
{%- set us_bands = [
    (50, 'Good', "It's a great day to be active outside."),
    (100, 'Moderate', 'Unusually sensitive people should consider reducing prolonged or heavy exertion.'),
    (150, 'Unhealthy for Sensitive Groups', 'People with heart or lung disease, older adults, and children should reduce prolonged or heavy exertion.'),
    (200, 'Unhealthy', 'People with heart or lung disease, older adults, and children should avoid prolonged or heavy exertion. Everyone else should reduce prolonged or heavy exertion.'),
    (300, 'Very Unhealthy', 'People with heart or lung disease, older adults, and children should avoid all physical activity outdoors. Everyone else should avoid prolonged or heavy exertion.'),
    (none, 'Hazardous', 'Everyone should avoid all physical activity outdoors; people with heart or lung disease, older adults, and children should remain indoors and keep activity levels low.'),
] %}

with sites as (

    select site_id, timezone
    from {{ ref('stg_sites') }}

),

hourly as (

    select
        air.source,
        air.site_id,
        sites.timezone,
        air.observed_at,
        cast({{ utc_to_local('air.observed_at', 'sites.timezone') }} as date) as local_date,
        {%- for p in pollutants %}
        air.{{ p }}_ugm3,
        {%- endfor %}
        air.european_aqi,
        air.us_aqi
    from {{ ref('stg_air_quality') }} as air
    inner join sites
        on air.site_id = sites.site_id
    {%- if window %}
    where air.observed_at >= timestamp '{{ window.start }}' - interval 2 day
      and air.observed_at < timestamp '{{ window.end }}' + interval 2 day
    {%- endif %}

),

daily as (

    select
        source,
        site_id,
        local_date,
        any_value(timezone) as timezone,
        count(*) as hours,
        {%- for p in pollutants %}
        avg({{ p }}_ugm3) as {{ p }}_mean_ugm3,
        max({{ p }}_ugm3) as {{ p }}_max_ugm3,
        {%- endfor %}
        max(european_aqi) as european_aqi_max,
        max(us_aqi) as us_aqi_max,
        {%- for p in who_24h %}
        count({{ p }}_ugm3) as {{ p }}_hours{{ ',' if not loop.last }}
        {%- endfor %}
    from hourly
    group by source, site_id, local_date

),

banded as (

    -- 1-based band of each daily maximum (NULL when the maximum is NULL).
    select
        daily.*,
        case
            when european_aqi_max is null then null
            {%- for upper, label, message in eu_bands %}
            {%- if upper is none %}
            else {{ loop.index }}
            {%- else %}
            when european_aqi_max < {{ upper }} then {{ loop.index }}
            {%- endif %}
            {%- endfor %}
        end as european_aqi_band,
        case
            when us_aqi_max is null then null
            {%- for upper, label, message in us_bands %}
            {%- if upper is none %}
            else {{ loop.index }}
            {%- else %}
            when floor(us_aqi_max + 0.5) <= {{ upper }} then {{ loop.index }}
            {%- endif %}
            {%- endfor %}
        end as us_aqi_band
    from daily

),

final as (

    select
        source,
        site_id,
        local_date,
        timezone,
        hours,
        -- UTC hour marks in [local midnight, next local midnight): 24, or 23/25 on DST days (as
        -- daily_site_weather; counting marks also holds for half-hour zones such as Asia/Kolkata).
        cast(
            ceil(epoch({{ local_to_utc('cast(local_date + 1 as timestamp)', 'timezone') }}) / 3600)
            - ceil(epoch({{ local_to_utc('cast(local_date as timestamp)', 'timezone') }}) / 3600)
            as integer
        ) as hours_expected,
        {%- for p in pollutants %}
        {{ p }}_mean_ugm3,
        {{ p }}_max_ugm3,
        {%- endfor %}
        european_aqi_max,
        {%- for column, position in [('category', 1), ('health_message', 2)] %}
        [{% for band in eu_bands %}'{{ band[position] | replace("'", "''") }}'{{ ', ' if not loop.last }}{% endfor %}][european_aqi_band]
            as european_aqi_{{ column }},
        {%- endfor %}
        us_aqi_max,
        {%- for column, position in [('category', 1), ('health_message', 2)] %}
        [{% for band in us_bands %}'{{ band[position] | replace("'", "''") }}'{{ ', ' if not loop.last }}{% endfor %}][us_aqi_band]
            as us_aqi_{{ column }},
        {%- endfor %}
        {%- for p, level in who_24h.items() %}
        {{ p }}_hours,
        -- NULL unless the day has at least {{ min_hours }} hourly values of the pollutant.
        case when {{ p }}_hours >= {{ min_hours }} then {{ p }}_mean_ugm3 > {{ level }} end as {{ p }}_exceeds_who_24h
        {{- ',' if not loop.last }}
        {%- endfor %}
    from banded

)

select *
from final
{%- if window %}
-- keep the local days that overlap the UTC window
where {{ local_day_overlaps_window('local_date', 'timezone', window) }}
{%- endif %}
