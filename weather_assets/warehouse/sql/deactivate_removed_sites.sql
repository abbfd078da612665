-- Sites that left the catalog stay (their history refers to them) but are flagged inactive.
UPDATE sites SET active = false, updated_at = $now
WHERE active AND site_id NOT IN (SELECT site_id FROM catalog);
