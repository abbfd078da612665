-- Keys that occur more than once in the UTC window [$start, $end).
SELECT site_id, source, observed_at, count(*) AS copies
FROM observations
WHERE observed_at >= $start AND observed_at < $end
GROUP BY ALL
HAVING count(*) > 1
ORDER BY copies DESC, site_id, source, observed_at
LIMIT 100;
