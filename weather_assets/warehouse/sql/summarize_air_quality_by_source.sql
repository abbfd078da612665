-- Per source: rows, sites, hours and the worst hourly indices of `air_quality` in the window [$start, $end).
SELECT source, count(*) AS rows, count(DISTINCT site_id) AS sites, count(DISTINCT observed_at) AS hours,
       max(european_aqi) AS max_european_aqi, max(us_aqi) AS max_us_aqi
FROM air_quality
WHERE observed_at >= $start AND observed_at < $end
GROUP BY source
ORDER BY source;
