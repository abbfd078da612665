{#-
  Fails on every non-NULL value outside [min_value, max_value] (bounds optional, inclusive by
  default). NULLs pass: "unknown" is not "out of range" (docs/design.md §2).
-#}
{% test accepted_range(model, column_name, min_value=none, max_value=none, inclusive=true) %}
    {%- if min_value is none and max_value is none -%}
        {{ exceptions.raise_compiler_error("accepted_range on " ~ column_name ~ " needs min_value or max_value") }}
    {%- endif -%}
    {%- set conditions = [] -%}
    {%- if min_value is not none -%}
        {%- do conditions.append(column_name ~ (' < ' if inclusive else ' <= ') ~ min_value) -%}
    {%- endif -%}
    {%- if max_value is not none -%}
        {%- do conditions.append(column_name ~ (' > ' if inclusive else ' >= ') ~ max_value) -%}
    {%- endif -%}
select *
from {{ model }}
where {{ column_name }} is not null
  and ({{ conditions | join(' or ') }})
{% endtest %}
