-- Insert a validated forecast snapshot held in the registered relation `snapshot`.
INSERT INTO forecasts BY NAME
SELECT * FROM snapshot;
