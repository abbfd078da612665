{#- Fails once per combination of the given columns that occurs more than once (a composite key). -#}
{% test unique_combination(model, combination_of_columns) %}
    {%- set columns = combination_of_columns | join(', ') -%}
select {{ columns }}, count(*) as n_records
from {{ model }}
group by {{ columns }}
having count(*) > 1
{% endtest %}
