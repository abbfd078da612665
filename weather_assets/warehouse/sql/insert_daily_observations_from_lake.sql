-- Load daily rows of the window's days [$start, $end) from the validated lake files. Hive layout: source and date come
-- from the path (a daily file holds the rows of its observation day). Only the sources in $sources and
-- the sites in $sites (NULL: every site).
INSERT INTO daily_observations BY NAME
SELECT *
FROM read_parquet($files, hive_partitioning = true, hive_types = {'date': DATE, 'source': VARCHAR},
                  union_by_name = true)
WHERE date >= $start::DATE AND date < $end::DATE
  AND list_contains($sources::VARCHAR[], source)
  AND ($sites::VARCHAR[] IS NULL OR list_contains($sites::VARCHAR[], site_id));
