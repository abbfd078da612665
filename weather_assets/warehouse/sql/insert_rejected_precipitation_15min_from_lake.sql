-- Load quarantined 15-minute precipitation rows from the lake; the partition day comes from the Hive path.
INSERT INTO rejected_precipitation_15min BY NAME
SELECT * EXCLUDE (date), date AS partition_date
FROM read_parquet($files, hive_partitioning = true, hive_types = {'date': DATE, 'source': VARCHAR},
                  union_by_name = true)
WHERE list_contains($sources::VARCHAR[], source)
  AND ($sites::VARCHAR[] IS NULL OR list_contains($sites::VARCHAR[], site_id));
