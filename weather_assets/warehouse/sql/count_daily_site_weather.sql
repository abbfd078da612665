-- Rows of the dbt mart marts.daily_site_weather, whole.
SELECT count(*) FROM marts.daily_site_weather;
