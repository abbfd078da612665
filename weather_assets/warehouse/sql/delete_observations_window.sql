-- Remove rows in a UTC window [$start, $end) before the window is re-inserted: every source's rows
-- of the sites in $sites (NULL: every site). Sites outside $sites keep their rows untouched.
DELETE FROM observations
WHERE observed_at >= $start AND observed_at < $end
  AND ($sites::VARCHAR[] IS NULL OR list_contains($sites::VARCHAR[], site_id));
