-- The CLI summary's forecasts: per source, the rows held, the sites and the newest issue time (UTC).
SELECT source, count(*) AS n_rows, count(DISTINCT site_id) AS sites, max(issued_at) AS newest_issue
FROM forecasts
GROUP BY source
ORDER BY source
