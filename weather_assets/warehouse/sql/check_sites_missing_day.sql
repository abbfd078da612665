-- Active sites among $sites (the sites $source serves; NULL: every site) with no observation from
-- $source on the UTC day [$start, $end).
SELECT s.site_id
FROM sites AS s
WHERE s.active
  AND ($sites::VARCHAR[] IS NULL OR list_contains($sites::VARCHAR[], s.site_id))
  AND NOT EXISTS (
      SELECT 1 FROM observations AS o
      WHERE o.site_id = s.site_id AND o.source = $source
        AND o.observed_at >= $start AND o.observed_at < $end
  )
ORDER BY s.site_id;
