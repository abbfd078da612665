-- Rows of the snapshot tables, whole.
SELECT (SELECT count(*) FROM forecasts) AS forecasts, (SELECT count(*) FROM current_conditions) AS current_conditions;
