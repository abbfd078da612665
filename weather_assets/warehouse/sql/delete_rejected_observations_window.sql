-- Remove the quarantined rows of the partitions [$start_date, $end_date) before re-inserting them.
DELETE FROM rejected_observations
WHERE partition_date >= $start_date AND partition_date < $end_date;
