-- Remove the quarantined 15-minute precipitation rows of the partitions [$start, $end) before they are re-inserted:
-- the sources in $sources, the sites in $sites (NULL: every site).
DELETE FROM rejected_precipitation_15min
WHERE partition_date >= $start::DATE AND partition_date < $end::DATE
  AND list_contains($sources::VARCHAR[], source)
  AND ($sites::VARCHAR[] IS NULL OR list_contains($sites::VARCHAR[], site_id));
