{#-
  Helpers for the incremental marts that write exactly the slice a run recomputes.

  `local_day_overlaps_window(local_date, tz, window)`: true for a site-local calendar day whose
  [local midnight, next local midnight) overlaps the UTC window [start, end).

  `clear_incremental_window(...)`: a pre-hook. delete+insert on the unique key replaces the rows a
  run produces, but a row that a run no longer produces (an anomaly that is no longer anomalous, a
  source that dropped out of an hour) would survive it. So before the insert, inside the same
  transaction, the hook deletes the whole slice the run recomputes:
    - a window run: the window (hourly marts: `time_column` in [start, end); local-day marts: the
      local days overlapping it, by the row's own `timezone` column);
    - an incremental run without the vars: everything (the model recomputes everything);
    - the first build or --full-refresh: nothing (dbt creates the table).
-#}

{% macro local_day_overlaps_window(local_date, tz, window) -%}
    {{ local_to_utc('cast(' ~ local_date ~ ' as timestamp)', tz) }} < timestamp '{{ window.end }}'
    and {{ local_to_utc('cast(' ~ local_date ~ ' + 1 as timestamp)', tz) }} > timestamp '{{ window.start }}'
{%- endmacro %}

{% macro clear_incremental_window(time_column=none, local_date_column=none, tz_column='timezone') %}
    {%- if not is_incremental() -%}
        {{ return('') }}
    {%- endif -%}
    {%- set window = utc_window() -%}
    {%- if window is none -%}
        delete from {{ this }}
    {%- elif time_column is not none -%}
        delete from {{ this }}
        where {{ time_column }} >= timestamp '{{ window.start }}'
          and {{ time_column }} < timestamp '{{ window.end }}'
    {%- elif local_date_column is not none -%}
        delete from {{ this }}
        where {{ local_day_overlaps_window(local_date_column, tz_column, window) }}
    {%- else -%}
        {{ exceptions.raise_compiler_error("clear_incremental_window needs time_column or local_date_column") }}
    {%- endif -%}
{% endmacro %}
