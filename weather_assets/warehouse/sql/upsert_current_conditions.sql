-- Add a validated current-conditions snapshot held in the registered relation `snapshot`, replacing
-- the rows with the same key (site_id, source, observed_at): re-running a snapshot is idempotent.
DELETE FROM current_conditions AS c
USING snapshot AS s
WHERE c.site_id = s.site_id AND c.source = s.source AND c.observed_at = s.observed_at;
INSERT INTO current_conditions BY NAME
SELECT * FROM snapshot;
