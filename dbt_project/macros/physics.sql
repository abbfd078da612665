{#-
  Derived-physics formulas, as SQL expressions over column names (°C, %, m/s). Each returns NULL
  when an input is NULL or the formula does not apply. Documented in
  models/intermediate/int_observations_physics.yml; checked against hand-computed values in
  weather_assets_tests/metrics/test_physics.py.
-#}

{#- Magnus coefficients of Alduchov & Eskridge (1996), for water, -40..50 °C. -#}
{% macro _magnus_a() %}17.625{% endmacro %}
{% macro _magnus_b() %}243.04{% endmacro %}

{#- Dew point (°C) from temperature and relative humidity by the Magnus formula:
    g = ln(RH/100) + a·T/(b+T);  Td = b·g / (a − g). RH must be > 0. -#}
{% macro magnus_dew_point(t, rh) -%}
    case when {{ rh }} > 0 and {{ t }} is not null then
        {{ _magnus_b() }} * (ln({{ rh }} / 100.0) + {{ _magnus_a() }} * {{ t }} / ({{ _magnus_b() }} + {{ t }}))
        / ({{ _magnus_a() }} - (ln({{ rh }} / 100.0) + {{ _magnus_a() }} * {{ t }} / ({{ _magnus_b() }} + {{ t }})))
    end
{%- endmacro %}

{#- Relative humidity (%) from temperature and dew point, the Magnus formula inverted, capped at 100
    (a dew point reported above the temperature is a rounding artefact, not supersaturation). -#}
{% macro magnus_relative_humidity(t, td) -%}
    least(100.0, 100.0 * exp(
        {{ _magnus_a() }} * {{ td }} / ({{ _magnus_b() }} + {{ td }})
        - {{ _magnus_a() }} * {{ t }} / ({{ _magnus_b() }} + {{ t }})
    ))
{%- endmacro %}

{#- Heat index (°C), the US National Weather Service algorithm (Rothfusz 1990 regression of
    Steadman 1979, with NWS low/high-humidity adjustments), computed in °F:
      HI = 0.5·(T + 61 + 1.2·(T − 68) + 0.094·RH); if (HI + T)/2 ≥ 80 °F use the Rothfusz regression
      −42.379 + 2.04901523T + 10.14333127RH − 0.22475541T·RH − 0.00683783T² − 0.05481717RH²
      + 0.00122874T²RH + 0.00085282T·RH² − 0.00000199T²RH², minus ((13−RH)/4)·√((17−|T−95|)/17)
      when RH < 13 and 80 ≤ T ≤ 112, plus ((RH−85)/10)·((87−T)/5) when RH > 85 and 80 ≤ T ≤ 87.
    Only for T ≥ 80 °F (26.67 °C, compared in °F), where the index is meant to be used; NULL below. -#}
{% macro heat_index_c(t, rh) -%}
    {%- set tf = '(' ~ t ~ ' * 1.8 + 32.0)' -%}
    {%- set simple = '(0.5 * (' ~ tf ~ ' + 61.0 + (' ~ tf ~ ' - 68.0) * 1.2 + ' ~ rh ~ ' * 0.094))' -%}
    {%- set rothfusz -%}
        (-42.379 + 2.04901523 * {{ tf }} + 10.14333127 * {{ rh }}
         - 0.22475541 * {{ tf }} * {{ rh }} - 0.00683783 * {{ tf }} * {{ tf }}
         - 0.05481717 * {{ rh }} * {{ rh }} + 0.00122874 * {{ tf }} * {{ tf }} * {{ rh }}
         + 0.00085282 * {{ tf }} * {{ rh }} * {{ rh }} - 0.00000199 * {{ tf }} * {{ tf }} * {{ rh }} * {{ rh }})
    {%- endset -%}
    case when {{ t }} is not null and {{ rh }} is not null and {{ tf }} >= 80.0 then
        (case
            when ({{ simple }} + {{ tf }}) / 2.0 < 80.0 then {{ simple }}
            when {{ rh }} < 13.0 and {{ tf }} between 80.0 and 112.0 then
                {{ rothfusz }} - ((13.0 - {{ rh }}) / 4.0) * sqrt((17.0 - abs({{ tf }} - 95.0)) / 17.0)
            when {{ rh }} > 85.0 and {{ tf }} between 80.0 and 87.0 then
                {{ rothfusz }} + (({{ rh }} - 85.0) / 10.0) * ((87.0 - {{ tf }}) / 5.0)
            else {{ rothfusz }}
        end - 32.0) / 1.8
    end
{%- endmacro %}

{#- Wind chill (°C), the 2001 JAG/TI formula used by the US NWS and Environment Canada, with V the
    10 m wind in km/h: 13.12 + 0.6215·T − 11.37·V^0.16 + 0.3965·T·V^0.16. Defined for T ≤ 10 °C and
    V > 4.8 km/h (1.34 m/s); NULL otherwise. -#}
{% macro wind_chill_c(t, wind_ms) -%}
    case when {{ t }} <= 10.0 and {{ wind_ms }} * 3.6 > 4.8 then
        13.12 + 0.6215 * {{ t }} - 11.37 * pow({{ wind_ms }} * 3.6, 0.16)
        + 0.3965 * {{ t }} * pow({{ wind_ms }} * 3.6, 0.16)
    end
{%- endmacro %}

{#- Apparent temperature (°C), Steadman (1994) as used by the Australian Bureau of Meteorology,
    without solar radiation: AT = T + 0.33·e − 0.70·ws − 4.00, with the water vapour pressure
    e = RH/100 · 6.105 · exp(17.27·T / (237.7 + T)) hPa and ws the 10 m wind in m/s. -#}
{% macro apparent_temperature_c(t, rh, wind_ms) -%}
    {{ t }} + 0.33 * ({{ rh }} / 100.0 * 6.105 * exp(17.27 * {{ t }} / (237.7 + {{ t }})))
    - 0.70 * {{ wind_ms }} - 4.00
{%- endmacro %}
