-- Active sites among $sites (the sites $source serves; NULL: every site) whose newest observation from $source that holds any measurement is older than
-- $cutoff (or that have none at all), with that newest hour.
SELECT s.site_id, max(o.observed_at) AS newest_observed_at
FROM sites AS s
LEFT JOIN observations AS o
  ON o.site_id = s.site_id AND o.source = $source
 AND coalesce(o.temperature_c, o.relative_humidity_pct, o.dew_point_c, o.pressure_msl_hpa, o.wind_speed_ms,
              o.wind_direction_deg, o.wind_gust_ms, o.precipitation_mm, o.cloud_cover_pct,
              o.weather_code) IS NOT NULL
WHERE s.active
  AND ($sites::VARCHAR[] IS NULL OR list_contains($sites::VARCHAR[], s.site_id))
GROUP BY s.site_id
HAVING max(o.observed_at) IS NULL OR max(o.observed_at) < $cutoff
ORDER BY s.site_id;
