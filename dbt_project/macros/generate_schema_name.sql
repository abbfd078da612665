{#-
  Use a model's custom schema as is: `+schema: marts` builds schema `marts` (dbt's default would
  be `main_marts`). Models without a custom schema land in the target schema (`main`).
  Names of mart tables are a contract with users' queries (docs/design.md §2).
-#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
