-- Keys (site_id, source, observed_at) that occur more than once in the UTC window [$start, $end).
SELECT site_id, source, observed_at, count(*) AS rows
FROM precipitation_15min
WHERE observed_at >= $start AND observed_at < $end
GROUP BY ALL
HAVING count(*) > 1
LIMIT 20;
