-- Quarantined hourly, daily and air-quality rows of the partitions [$start, $end).
SELECT
    (SELECT count(*) FROM rejected_observations
     WHERE partition_date >= $start::DATE AND partition_date < $end::DATE) AS hourly,
    (SELECT count(*) FROM rejected_daily_observations
     WHERE partition_date >= $start::DATE AND partition_date < $end::DATE) AS daily,
    (SELECT count(*) FROM rejected_air_quality
     WHERE partition_date >= $start::DATE AND partition_date < $end::DATE) AS air_quality;
