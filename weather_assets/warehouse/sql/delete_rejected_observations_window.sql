-- Remove the quarantined rows of the partitions [$start_date, $end_date) before re-inserting them,
-- only those of the sources in $sources and the sites in $sites (NULL: every site).
DELETE FROM rejected_observations
WHERE partition_date >= $start_date AND partition_date < $end_date
  AND list_contains($sources::VARCHAR[], source)
  AND ($sites::VARCHAR[] IS NULL OR list_contains($sites::VARCHAR[], site_id));
