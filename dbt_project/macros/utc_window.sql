{#-
  The UTC window of an incremental run: ISO dates `min_date` / `max_date` (`max_date` exclusive).

  The Dagster asset passes the UTC days whose history changed since the marts' previous build
  (weather_assets/warehouse/changes.py) in the environment of its dbt process,
  WEATHER_ASSETS_DBT_MIN_DATE / WEATHER_ASSETS_DBT_MAX_DATE, read only while dbt executes
  (`execute`): dbt re-parses the whole project when `--vars` change, and re-parses a file whose env_var()
  value changed since parsing, so a window read at parse time would cost every run a parse. The vars
  `min_date` / `max_date` (`dbt build --vars ...` by hand) take precedence.

  Returns none when neither is set (a plain `dbt build` processes everything), otherwise
  {'start': 'YYYY-MM-DD', 'end': 'YYYY-MM-DD'}. Anything else is a compile error, so a typo can
  never silently turn a windowed run into a full rebuild or inject SQL.
-#}
{% macro utc_window() %}
    {%- set min_date = var('min_date', none) -%}
    {%- set max_date = var('max_date', none) -%}
    {%- if execute and (min_date is none or min_date == '') and (max_date is none or max_date == '') -%}
        {%- set min_date = env_var('WEATHER_ASSETS_DBT_MIN_DATE', '') -%}
        {%- set max_date = env_var('WEATHER_ASSETS_DBT_MAX_DATE', '') -%}
    {%- endif -%}
    {%- if (min_date is none or min_date == '') and (max_date is none or max_date == '') -%}
        {{ return(none) }}
    {%- endif -%}
    {%- if min_date is none or max_date is none or min_date == '' or max_date == '' -%}
        {{ exceptions.raise_compiler_error(
            "Set both vars min_date and max_date (ISO dates, max exclusive) or neither; got min_date="
            ~ min_date ~ ", max_date=" ~ max_date) }}
    {%- endif -%}
    {%- set start = min_date | string -%}
    {%- set end = max_date | string -%}
    {%- for value in [start, end] -%}
        {%- if not modules.re.match('^[0-9]{4}-[0-9]{2}-[0-9]{2}$', value) -%}
            {{ exceptions.raise_compiler_error("Window var " ~ value ~ " is not an ISO date (YYYY-MM-DD)") }}
        {%- endif -%}
    {%- endfor -%}
    {%- if start >= end -%}
        {{ exceptions.raise_compiler_error(
            "Empty window: min_date=" ~ start ~ " must be before max_date=" ~ end ~ " (exclusive)") }}
    {%- endif -%}
    {{ return({'start': start, 'end': end}) }}
{% endmacro %}
