-- Remove the daily rows of the window's days [$start, $end) before they are re-inserted: the sources in
-- $sources, the sites in $sites (NULL: every site).
DELETE FROM daily_observations
WHERE date >= $start::DATE AND date < $end::DATE
  AND list_contains($sources::VARCHAR[], source)
  AND ($sites::VARCHAR[] IS NULL OR list_contains($sites::VARCHAR[], site_id));
