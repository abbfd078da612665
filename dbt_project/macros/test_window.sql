{#-
  Tests of an incremental mart check the rows its build rewrote, not the whole table.

  A build recomputes the UTC window it is given (macros/utc_window.sql: the days whose history changed since
  the previous build); the rows outside it are the ones earlier builds wrote and tested. So a test of an
  incremental model reads only its window's rows: hourly marts (`observed_at`) the window's hours, local-day
  marts (`local_date`) the local days that can overlap it (one day either side: UTC offsets are within
  -12 h .. +14 h). Without a window (a plain `dbt build`, a first build, a full refresh) a test reads every row,
  as it always did. Other relations a test reads (the sites a relationships test looks up) are never narrowed.

  This overrides dbt's own `default__get_where_subquery`, which every test (dbt's and this project's generic
  tests) calls on the relation it tests; a test's own `where` config still applies, joined with `and`.
-#}
{% macro default__get_where_subquery(relation) -%}
    {%- set conditions = [] -%}
    {%- set where = config.get('where', '') -%}
    {%- if where -%}
        {%- do conditions.append('(' ~ where ~ ')') -%}
    {%- endif -%}
    {%- set window_condition = incremental_test_window(relation) -%}
    {%- if window_condition -%}
        {%- do conditions.append(window_condition) -%}
    {%- endif -%}
    {%- if conditions -%}
        {%- set filtered -%}
            (select * from {{ relation }} where {{ conditions | join(' and ') }}) dbt_subquery
        {%- endset -%}
        {%- do return(filtered) -%}
    {%- endif -%}
    {%- do return(relation) -%}
{%- endmacro %}


{% macro incremental_test_window(relation) -%}
    {#- The window condition for `relation` when it is the incremental model this test is attached to. -#}
    {%- if not execute or model is not mapping -%}
        {%- do return('') -%}
    {%- endif -%}
    {%- set attached = graph.nodes.get(model.get('attached_node') or '') -%}
    {%- if attached is none or attached.resource_type != 'model'
          or attached.config.materialized != 'incremental'
          or (relation.identifier or '') | lower != (attached.alias or attached.name) | lower
          or (relation.schema or '') | lower != attached.schema | lower -%}
        {%- do return('') -%}
    {%- endif -%}
    {%- set window = utc_window() -%}
    {%- if window is none -%}
        {%- do return('') -%}
    {%- endif -%}
    {%- if 'local_date' in attached.columns -%}
        {%- do return("local_date between date '" ~ window.start ~ "' - 1 and date '" ~ window.end ~ "'") -%}
    {%- elif 'observed_at' in attached.columns -%}
        {%- do return("observed_at >= timestamp '" ~ window.start ~ "' and observed_at < timestamp '"
                      ~ window.end ~ "'") -%}
    {%- endif -%}
    {%- do return('') -%}
{%- endmacro %}
