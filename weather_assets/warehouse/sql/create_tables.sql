-- Warehouse tables (docs/design.md §2). Names and columns are a contract with users' queries.
-- Idempotent: safe to run before every write. DuckLake tables have no PRIMARY KEY or UNIQUE
-- constraints: each write replaces its key range (delete + insert in one transaction), and the
-- blocking unique_key checks verify the keys after every load.

CREATE TABLE IF NOT EXISTS sites (
    site_id       VARCHAR NOT NULL,   -- key: one row per site (upsert_sites.sql)
    name          VARCHAR NOT NULL,
    latitude      DOUBLE NOT NULL,
    longitude     DOUBLE NOT NULL,
    timezone      VARCHAR NOT NULL,   -- IANA name; defines the site's local day
    elevation_m   DOUBLE,
    stations      VARCHAR,            -- JSON object: provider -> station id
    active        BOOLEAN NOT NULL,   -- false once a site leaves the catalog (its history stays)
    updated_at    TIMESTAMPTZ NOT NULL
);

CREATE TABLE IF NOT EXISTS observations (
    site_id                VARCHAR NOT NULL,
    source                 VARCHAR NOT NULL,
    observed_at            TIMESTAMP NOT NULL,  -- UTC, hourly grain (end of the hour for accumulations)
    temperature_c          DOUBLE,
    relative_humidity_pct  DOUBLE,
    dew_point_c            DOUBLE,
    pressure_msl_hpa       DOUBLE,
    wind_speed_ms          DOUBLE,
    wind_direction_deg     DOUBLE,
    wind_gust_ms           DOUBLE,
    precipitation_mm       DOUBLE,              -- total over the preceding hour
    cloud_cover_pct        DOUBLE,
    weather_code           INTEGER,
    weather_code_system    VARCHAR,
    ingestion_run_id       VARCHAR NOT NULL,
    ingested_at            TIMESTAMPTZ NOT NULL
    -- Key (site_id, source, observed_at): unique by construction (one lake file per source and day,
    -- each validated unique) and verified by the blocking `unique_key` check after every load. No
    -- PRIMARY KEY index: it would slow multi-year loads and the check reports duplicates by name.
);

CREATE TABLE IF NOT EXISTS rejected_observations (
    partition_date    DATE NOT NULL,      -- UTC day of the partition the row arrived in
    site_id           VARCHAR,
    source            VARCHAR NOT NULL,
    observed_at       TIMESTAMP,
    failed_check      VARCHAR NOT NULL,   -- pandera check, e.g. in_range(-90, 60)
    failed_column     VARCHAR,
    failure_case      VARCHAR,            -- the offending value, as text
    record            VARCHAR NOT NULL,   -- the whole normalised row, as JSON
    ingestion_run_id  VARCHAR NOT NULL,
    ingested_at       TIMESTAMPTZ NOT NULL
);

CREATE TABLE IF NOT EXISTS forecasts (
    site_id                VARCHAR NOT NULL,
    source                 VARCHAR NOT NULL,
    issued_at              TIMESTAMP NOT NULL,  -- UTC
    valid_at               TIMESTAMP NOT NULL,  -- UTC, hourly grain
    temperature_c          DOUBLE,
    relative_humidity_pct  DOUBLE,
    dew_point_c            DOUBLE,
    pressure_msl_hpa       DOUBLE,
    wind_speed_ms          DOUBLE,
    wind_direction_deg     DOUBLE,
    wind_gust_ms           DOUBLE,
    precipitation_mm       DOUBLE,
    cloud_cover_pct        DOUBLE,
    weather_code           INTEGER,
    weather_code_system    VARCHAR,
    ingestion_run_id       VARCHAR NOT NULL,
    ingested_at            TIMESTAMPTZ NOT NULL
    -- Key (site_id, source, issued_at, valid_at): one snapshot replaces its (source, issued_at) whole.
);

-- Issue 3: coded forecasts (7Timer) flag the measures that are class-midpoint estimates.
ALTER TABLE forecasts ADD COLUMN IF NOT EXISTS estimated_fields VARCHAR;  -- comma list; NULL: none

CREATE TABLE IF NOT EXISTS daily_observations (
    site_id              VARCHAR NOT NULL,
    source               VARCHAR NOT NULL,
    date                 DATE NOT NULL,       -- the station's observation day (GHCND: local day)
    station_id           VARCHAR NOT NULL,
    temperature_min_c    DOUBLE,
    temperature_max_c    DOUBLE,
    temperature_mean_c   DOUBLE,
    precipitation_mm     DOUBLE,              -- total over the observation day
    snowfall_mm          DOUBLE,
    snow_depth_mm        DOUBLE,
    wind_speed_mean_ms   DOUBLE,
    ingestion_run_id     VARCHAR NOT NULL,
    ingested_at          TIMESTAMPTZ NOT NULL
    -- Key (site_id, source, date), verified by the blocking `unique_key` check after every load.
);

CREATE TABLE IF NOT EXISTS rejected_daily_observations (
    partition_date    DATE NOT NULL,
    site_id           VARCHAR,
    source            VARCHAR NOT NULL,
    observed_at       TIMESTAMP,          -- the rejected row's observation day, at midnight
    failed_check      VARCHAR NOT NULL,
    failed_column     VARCHAR,
    failure_case      VARCHAR,
    record            VARCHAR NOT NULL,
    ingestion_run_id  VARCHAR NOT NULL,
    ingested_at       TIMESTAMPTZ NOT NULL
);

CREATE TABLE IF NOT EXISTS current_conditions (
    site_id                VARCHAR NOT NULL,
    source                 VARCHAR NOT NULL,
    observed_at            TIMESTAMP NOT NULL,  -- UTC, the report's own time (not rounded to the hour)
    temperature_c          DOUBLE,
    relative_humidity_pct  DOUBLE,
    dew_point_c            DOUBLE,
    pressure_msl_hpa       DOUBLE,
    wind_speed_ms          DOUBLE,
    wind_direction_deg     DOUBLE,
    wind_gust_ms           DOUBLE,
    precipitation_mm       DOUBLE,              -- as reported over the preceding hour
    cloud_cover_pct        DOUBLE,
    weather_code           INTEGER,
    weather_code_system    VARCHAR,
    ingestion_run_id       VARCHAR NOT NULL,
    ingested_at            TIMESTAMPTZ NOT NULL
    -- Key (site_id, source, observed_at): upsert_current_conditions.sql replaces rows with the same key.
);

CREATE TABLE IF NOT EXISTS air_quality (
    site_id                VARCHAR NOT NULL,
    source                 VARCHAR NOT NULL,
    observed_at            TIMESTAMP NOT NULL,  -- UTC, on the hour: the model's value at that instant
    pm10_ugm3              DOUBLE,              -- µg/m³, particulate matter < 10 µm, near the surface
    pm2_5_ugm3             DOUBLE,              -- µg/m³, particulate matter < 2.5 µm
    carbon_monoxide_ugm3   DOUBLE,              -- µg/m³
    nitrogen_dioxide_ugm3  DOUBLE,              -- µg/m³
    sulphur_dioxide_ugm3   DOUBLE,              -- µg/m³
    ozone_ugm3             DOUBLE,              -- µg/m³
    european_aqi           DOUBLE,              -- European Air Quality Index (0-20 good .. >100 extremely poor)
    us_aqi                 DOUBLE,              -- US EPA AQI (0-50 good .. 301-500 hazardous)
    ingestion_run_id       VARCHAR NOT NULL,
    ingested_at            TIMESTAMPTZ NOT NULL
    -- Key (site_id, source, observed_at), verified by the blocking `unique_key` check after every load.
);

CREATE TABLE IF NOT EXISTS rejected_air_quality (
    partition_date    DATE NOT NULL,      -- UTC day of the partition the row arrived in
    site_id           VARCHAR,
    source            VARCHAR NOT NULL,
    observed_at       TIMESTAMP,
    failed_check      VARCHAR NOT NULL,
    failed_column     VARCHAR,
    failure_case      VARCHAR,
    record            VARCHAR NOT NULL,
    ingestion_run_id  VARCHAR NOT NULL,
    ingested_at       TIMESTAMPTZ NOT NULL
);

CREATE TABLE IF NOT EXISTS precipitation_15min (
    site_id           VARCHAR NOT NULL,
    source            VARCHAR NOT NULL,
    observed_at       TIMESTAMP NOT NULL,  -- UTC, the END of the 15-minute interval (xx:00, :15, :30, :45)
    station_id        VARCHAR NOT NULL,    -- the provider's station ("COOP:313630")
    precipitation_mm  DOUBLE,              -- over the interval; 0 when dry; NULL when unknown (missing_reason)
    gauge_mm          DOUBLE,              -- the gauge's reading at the interval's end, where listed
    accumulated_mm    DOUBLE,              -- on an accumulation's last interval: its total over the whole period
    listed            BOOLEAN NOT NULL,    -- the provider listed the interval (false: filled in as dry / in a period)
    sentinel          BOOLEAN NOT NULL,    -- listed with the "no value" number (NOAA: 99999)
    measurement_flag  VARCHAR,             -- the provider's flags as listed
    quality_flag      VARCHAR,
    missing_reason    VARCHAR,             -- missing_period | deleted_period | accumulation | quality_flag |
                                           -- sentinel | not_reported; NULL when the amount is known
    ingestion_run_id  VARCHAR NOT NULL,
    ingested_at       TIMESTAMPTZ NOT NULL
    -- Key (site_id, source, observed_at), verified by the blocking `unique_key` check after every load.
);

CREATE TABLE IF NOT EXISTS rejected_precipitation_15min (
    partition_date    DATE NOT NULL,      -- UTC day of the partition the row arrived in
    site_id           VARCHAR,
    source            VARCHAR NOT NULL,
    observed_at       TIMESTAMP,
    failed_check      VARCHAR NOT NULL,
    failed_column     VARCHAR,
    failure_case      VARCHAR,
    record            VARCHAR NOT NULL,
    ingestion_run_id  VARCHAR NOT NULL,
    ingested_at       TIMESTAMPTZ NOT NULL
);
