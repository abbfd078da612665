{#-
  `ref` and `source` without the catalog: DuckDB names a file's catalog after the file (or the
  ATTACH alias), and a view saved as `FROM warehouse.main.sites` breaks as soon as the file is
  renamed or attached under another alias (Binder Error: Catalog "warehouse" does not exist).
  `main.sites` resolves inside whichever catalog holds the view.
-#}

{% macro ref() %}
    {%- set version = kwargs.get('version') or kwargs.get('v') -%}
    {%- if varargs | length == 1 -%}
        {%- set relation = builtins.ref(varargs[0], version=version) -%}
    {%- else -%}
        {%- set relation = builtins.ref(varargs[0], varargs[1], version=version) -%}
    {%- endif -%}
    {{ return(_without_catalog(relation)) }}
{% endmacro %}

{% macro source(source_name, table_name) %}
    {{ return(_without_catalog(builtins.source(source_name, table_name))) }}
{% endmacro %}

{% macro _without_catalog(relation) %}
    {%- if relation is not none and relation.include is defined -%}
        {{ return(relation.include(database=false)) }}
    {%- endif -%}
    {{ return(relation) }}
{% endmacro %}
