-- Per source: rows, sites and UTC days of `observations` in the window [$start, $end).
SELECT source, count(*) AS rows, count(DISTINCT site_id) AS sites, count(DISTINCT observed_at::DATE) AS days
FROM observations
WHERE observed_at >= $start AND observed_at < $end
GROUP BY source
ORDER BY source;
