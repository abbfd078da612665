-- The site dimension as the UI previews it: every site, active or not.
SELECT site_id, name, timezone, latitude, longitude, active
FROM sites
ORDER BY site_id;
