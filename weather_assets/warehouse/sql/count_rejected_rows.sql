-- Quarantined hourly, daily, air-quality and 15-minute precipitation rows of the partitions [$start, $end).
SELECT
    (SELECT count(*) FROM rejected_observations
     WHERE partition_date >= $start::DATE AND partition_date < $end::DATE) AS hourly,
    (SELECT count(*) FROM rejected_daily_observations
     WHERE partition_date >= $start::DATE AND partition_date < $end::DATE) AS daily,
    (SELECT count(*) FROM rejected_air_quality
     WHERE partition_date >= $start::DATE AND partition_date < $end::DATE) AS air_quality,
    (SELECT count(*) FROM rejected_precipitation_15min
     WHERE partition_date >= $start::DATE AND partition_date < $end::DATE) AS precipitation_15min;
