{#-
  The measures the long-format marts (provider_consensus, weather_anomalies, forecast_skill) carry,
  with their physical bounds and the tolerances the consensus confidence uses. One place, so a new
  measure is one line here.

  Bounds mirror weather_assets/schemas/observation.py BOUNDS (the pandera contract the warehouse
  rows already passed). The derived measures get the range their formula can take over inputs
  inside those bounds (e.g. the heat-index regression reaches ~340 °C at 60 °C / 100 %), so a
  failure means a broken formula, never a valid but extreme observation.
-#}

{% macro physical_bounds() %}
    {{ return({
        'temperature_c': [-90, 60],
        'relative_humidity_pct': [0, 100],
        'dew_point_c': [-100, 40],
        'pressure_msl_hpa': [850, 1090],
        'wind_speed_ms': [0, 120],
        'wind_gust_ms': [0, 150],
        'precipitation_mm': [0, 400],
        'cloud_cover_pct': [0, 100],
        'apparent_temperature_c': [-180, 130],
        'heat_index_c': [20, 400],
        'wind_chill_c': [-180, 15],
    }) }}
{% endmacro %}

{#-
  Consensus tolerance tau per measure, in the measure's unit: the disagreement between two good
  sources one would still call "agreeing" (typical instrument / model-grid error). See the
  provider_consensus docs for the confidence formula.
-#}
{% macro consensus_tolerances() %}
    {{ return({
        'temperature_c': 1.0,
        'relative_humidity_pct': 5.0,
        'dew_point_c': 1.0,
        'pressure_msl_hpa': 1.0,
        'wind_speed_ms': 1.0,
        'wind_gust_ms': 2.0,
        'precipitation_mm': 0.5,
        'cloud_cover_pct': 20.0,
        'apparent_temperature_c': 1.5,
    }) }}
{% endmacro %}

{#- Measures screened for anomalies: roughly unimodal ones (precipitation and cloud cover are
    zero-inflated / bounded, where IQR fences and z-scores mean little). -#}
{% macro anomaly_measures() %}
    {{ return(['temperature_c', 'relative_humidity_pct', 'dew_point_c', 'pressure_msl_hpa',
               'wind_speed_ms', 'wind_gust_ms', 'apparent_temperature_c']) }}
{% endmacro %}

{#- Measures scored by forecast_skill (the forecast table's measures; direction is circular). -#}
{% macro forecast_measures() %}
    {{ return(['temperature_c', 'relative_humidity_pct', 'dew_point_c', 'pressure_msl_hpa',
               'wind_speed_ms', 'wind_gust_ms', 'precipitation_mm', 'cloud_cover_pct']) }}
{% endmacro %}

{#- `case <measure_column> when 'a' then x ... end` from a {measure: value} dict. -#}
{% macro case_by_measure(measure_column, values) -%}
    case {{ measure_column }}
    {%- for measure, value in values.items() %}
        when '{{ measure }}' then cast({{ value }} as double)
    {%- endfor %}
    end
{%- endmacro %}

{#-
  True when an hourly row carries at least one canonical measurement (a row of all NULLs is a
  known hour with unknown values: present, but not observed). One definition for every mart that
  counts observed hours.
-#}
{% macro has_measurement() %}
    coalesce(
        {%- for column in ['temperature_c', 'relative_humidity_pct', 'dew_point_c', 'pressure_msl_hpa',
                           'wind_speed_ms', 'wind_direction_deg', 'wind_gust_ms', 'precipitation_mm',
                           'cloud_cover_pct', 'weather_code'] %}
        {{ column }} is not null{{ ' or' if not loop.last }}
        {%- endfor %},
        false
    )
{% endmacro %}
