-- Remove one source's forecast snapshot before it is re-inserted (re-running a snapshot is idempotent).
DELETE FROM forecasts
WHERE source = $source AND issued_at = $issued_at;
