-- Remove one source's forecasts of several issue times before they are re-inserted (the blend's rerun).
DELETE FROM forecasts
WHERE source = $source AND list_contains($issues, issued_at);
