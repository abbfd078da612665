{#-
  The UTC window of an incremental run, from the vars `min_date` / `max_date` (ISO dates,
  `max_date` exclusive) that the partitioned Dagster asset passes from
  `context.partition_time_window`.

  Returns none when neither var is set (a plain `dbt build` processes everything), otherwise
  {'start': 'YYYY-MM-DD', 'end': 'YYYY-MM-DD'}. Anything else is a compile error, so a typo can
  never silently turn a partition run into a full rebuild or inject SQL.
-#}
{% macro utc_window() %}
    {%- set min_date = var('min_date', none) -%}
    {%- set max_date = var('max_date', none) -%}
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
