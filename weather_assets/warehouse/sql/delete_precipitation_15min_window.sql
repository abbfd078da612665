-- Remove the 15-minute precipitation rows of a UTC window [$start, $end) before it is re-inserted: the sources in
-- $sources, the sites in $sites (NULL: every site). Other sources and sites keep their rows.
DELETE FROM precipitation_15min
WHERE observed_at >= $start AND observed_at < $end
  AND list_contains($sources::VARCHAR[], source)
  AND ($sites::VARCHAR[] IS NULL OR list_contains($sites::VARCHAR[], site_id));
