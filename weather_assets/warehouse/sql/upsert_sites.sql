-- Write new and changed catalog sites (held in the registered relation `catalog`).
INSERT OR REPLACE INTO sites BY NAME
SELECT site_id, name, latitude, longitude, timezone, elevation_m, stations, true AS active, $now AS updated_at
FROM catalog;
