-- Remove every source's rows in a UTC window [$start, $end) before the window is re-inserted.
DELETE FROM observations
WHERE observed_at >= $start AND observed_at < $end;
