-- Remove rows in a UTC window [$start, $end) before the window is re-inserted: the rows of the sources
-- in $sources, of the sites in $sites (NULL: every site). Other sources and sites keep their rows.
DELETE FROM observations
WHERE observed_at >= $start AND observed_at < $end
  AND list_contains($sources::VARCHAR[], source)
  AND ($sites::VARCHAR[] IS NULL OR list_contains($sites::VARCHAR[], site_id));
