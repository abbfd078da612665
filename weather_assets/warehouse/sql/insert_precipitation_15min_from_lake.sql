-- Load a UTC window of 15-minute precipitation from the validated lake files (Hive layout: source and date come from
-- the path), only the sources in $sources and the sites in $sites (NULL: every site).
INSERT INTO precipitation_15min BY NAME
SELECT * EXCLUDE (date)
FROM read_parquet($files, hive_partitioning = true, hive_types = {'date': DATE, 'source': VARCHAR},
                  union_by_name = true)
WHERE observed_at >= $start AND observed_at < $end
  AND list_contains($sources::VARCHAR[], source)
  AND ($sites::VARCHAR[] IS NULL OR list_contains($sites::VARCHAR[], site_id));
