{#-
  Conversions between the warehouse's naive UTC timestamps and a site's local wall-clock time,
  via DuckDB's ICU time-zone support (built into the duckdb wheel; no extension download).
  `tz` is an SQL expression yielding an IANA zone name, e.g. a `timezone` column.
  Both are independent of the session's TimeZone setting.
-#}

{% macro utc_to_local(utc_ts, tz) -%}
    timezone({{ tz }}, timezone('UTC', {{ utc_ts }}))
{%- endmacro %}

{#-
  Local wall-clock time -> naive UTC. A wall-clock time skipped by a DST jump (e.g. 02:30 on a
  spring-forward day) resolves to the instant after the gap, as ICU does.
-#}
{% macro local_to_utc(local_ts, tz) -%}
    timezone('UTC', timezone({{ tz }}, {{ local_ts }}))
{%- endmacro %}
