-- Quarantined hourly rows of the partitions [$start, $end), per source and failed check.
SELECT source, failed_check, count(*) AS rows
FROM rejected_observations
WHERE partition_date >= $start::DATE AND partition_date < $end::DATE
GROUP BY ALL
ORDER BY rows DESC;
