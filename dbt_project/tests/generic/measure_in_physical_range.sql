{#-
  For long-format models (one row per measure): fails on every non-NULL value outside the physical
  bounds of its row's measure (macros/measures.sql physical_bounds), and on a measure that has no
  bounds at all (a typo or an unreviewed new measure).
-#}
{% test measure_in_physical_range(model, column_name, measure_column='measure') %}
    {%- set bounds = physical_bounds() -%}
select {{ measure_column }}, {{ column_name }}
from {{ model }}
where {{ column_name }} is not null
  and (
    {{ measure_column }} not in ({% for m in bounds %}'{{ m }}'{{ ', ' if not loop.last }}{% endfor %})
    {%- for measure, range in bounds.items() %}
    or ({{ measure_column }} = '{{ measure }}' and ({{ column_name }} < {{ range[0] }} or {{ column_name }} > {{ range[1] }}))
    {%- endfor %}
  )
{% endtest %}
