-- Site-source-UTC-days in [$start, $end) with fewer than $hours hours holding any measurement, for the
-- sources in $sources (those that report every hour).
WITH hours AS (
    SELECT site_id, source, observed_at::DATE AS day,
           count(*) FILTER (WHERE coalesce(temperature_c, relative_humidity_pct, dew_point_c, pressure_msl_hpa,
                                           wind_speed_ms, wind_direction_deg, wind_gust_ms, precipitation_mm,
                                           cloud_cover_pct, weather_code) IS NOT NULL) AS hours_observed
    FROM observations
    WHERE observed_at >= $start AND observed_at < $end AND list_contains($sources::VARCHAR[], source)
    GROUP BY ALL
)
SELECT site_id, source, day, hours_observed
FROM hours
WHERE hours_observed < $hours
ORDER BY hours_observed, site_id, source, day
LIMIT 100;
