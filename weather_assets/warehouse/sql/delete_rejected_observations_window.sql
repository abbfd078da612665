-- Remove the quarantined rows of the partitions [$start, $end) before re-inserting them,
-- only those of the sources in $sources and the sites in $sites (NULL: every site).
DELETE FROM rejected_observations
WHERE partition_date >= $start::DATE AND partition_date < $end::DATE
  AND list_contains($sources::VARCHAR[], source)
  AND ($sites::VARCHAR[] IS NULL OR list_contains($sites::VARCHAR[], site_id));
