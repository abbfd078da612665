-- Write new and changed catalog sites (held in the registered relation `catalog`): each catalog site's
-- row is replaced (sites are keyed by site_id; the caller runs both statements in one transaction).
DELETE FROM sites WHERE site_id IN (SELECT site_id FROM catalog);
INSERT INTO sites BY NAME
SELECT site_id, name, latitude, longitude, timezone, elevation_m, stations, true AS active, $now AS updated_at
FROM catalog;
