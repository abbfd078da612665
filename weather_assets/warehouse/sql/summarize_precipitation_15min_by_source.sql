-- Per source: rows, sites, intervals with a known amount, intervals without one, and the total of the known
-- amounts of `precipitation_15min` in the window [$start, $end).
SELECT source, count(*) AS rows, count(DISTINCT site_id) AS sites,
       count(precipitation_mm) AS known_intervals, count(*) - count(precipitation_mm) AS missing_intervals,
       sum(precipitation_mm) AS precipitation_mm
FROM precipitation_15min
WHERE observed_at >= $start AND observed_at < $end
GROUP BY source
ORDER BY source;
