{#- Fails on every row where the SQL boolean `expression` is false (NULL counts as passing, as in a
    CHECK constraint: unknown is not wrong). -#}
{% test expression_is_true(model, expression) %}
select *
from {{ model }}
where not ({{ expression }})
{% endtest %}
