-- Keys (site_id, source, date) that occur more than once on the window's days [$start, $end).
SELECT site_id, source, date, count(*) AS rows
FROM daily_observations
WHERE date >= $start::DATE AND date < $end::DATE
GROUP BY ALL
HAVING count(*) > 1
LIMIT 20;
