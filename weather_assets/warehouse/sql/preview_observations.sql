-- The first rows of the window [$start, $end), for the materialization's preview.
SELECT * EXCLUDE (ingestion_run_id)
FROM observations
WHERE observed_at >= $start AND observed_at < $end
ORDER BY site_id, source, observed_at
LIMIT 10;
