-- The columns of table $table in the default schema, in order: the column schema shown in the UI.
SELECT column_name, data_type
FROM information_schema.columns
WHERE table_catalog = current_database() AND table_schema = 'main' AND table_name = $table
ORDER BY ordinal_position;
