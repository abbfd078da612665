-- Per source: rows, sites and days of `daily_observations` on the window's days [$start, $end).
SELECT source, count(*) AS rows, count(DISTINCT site_id) AS sites, count(DISTINCT date) AS days
FROM daily_observations
WHERE date >= $start::DATE AND date < $end::DATE
GROUP BY source
ORDER BY source;
