-- Per source in $sources: the sites in $sites with at least one UTC day in [$start, $end) on which
-- fewer than $min_hours hours hold any measurement (no rows at all counts as zero hours).
WITH days AS (
    SELECT unnest(generate_series($start::DATE, $end::DATE - INTERVAL 1 DAY, INTERVAL 1 DAY))::DATE AS day
),
scope AS (SELECT unnest($sites::VARCHAR[]) AS site_id),
sources AS (SELECT unnest($sources::VARCHAR[]) AS source),
hours AS (
    SELECT site_id, source, observed_at::DATE AS day,
           count(*) FILTER (WHERE coalesce(temperature_c, relative_humidity_pct, dew_point_c, pressure_msl_hpa,
                                           wind_speed_ms, wind_direction_deg, wind_gust_ms, precipitation_mm,
                                           cloud_cover_pct, weather_code) IS NOT NULL) AS hours_observed
    FROM observations
    WHERE observed_at >= $start AND observed_at < $end AND list_contains($sites::VARCHAR[], site_id)
    GROUP BY ALL
)
SELECT sources.source, scope.site_id, count(*) AS failed_days, min(days.day) AS first_failed_day
FROM sources CROSS JOIN scope CROSS JOIN days
LEFT JOIN hours ON hours.source = sources.source AND hours.site_id = scope.site_id AND hours.day = days.day
WHERE coalesce(hours.hours_observed, 0) < $min_hours
GROUP BY ALL
ORDER BY sources.source, scope.site_id;
