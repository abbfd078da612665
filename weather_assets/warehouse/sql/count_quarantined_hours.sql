-- Per site, source and UTC day: the distinct hours quarantined in the validated lake files $files
-- (Hive layout: the source comes from the path). These hours arrived; they failed validation.
SELECT site_id, source, observed_at::DATE AS day, count(DISTINCT observed_at) AS hours_quarantined
FROM read_parquet($files, hive_partitioning = true, hive_types = {'date': DATE, 'source': VARCHAR},
                  union_by_name = true)
GROUP BY ALL;
