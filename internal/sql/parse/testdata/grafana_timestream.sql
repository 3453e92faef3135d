-- What Grafana's Timestream plugin sends after macro expansion
-- (reference/aws-compat.md §4.7, §5; reference/grafana.md §4).
SELECT 1;
SHOW DATABASES;
SHOW TABLES FROM "iot";
SHOW MEASURES FROM "iot"."telemetry";
DESCRIBE "iot"."telemetry";
SELECT * FROM "iot"."telemetry" LIMIT 10;
SELECT BIN(time, 60000ms) AS t, AVG(measure_value::double) AS avg_temp
  FROM "iot"."telemetry"
  WHERE time BETWEEN from_milliseconds(1764151200000) AND from_milliseconds(1764154800000)
    AND measure_name = 'temperature'
  GROUP BY BIN(time, 60000ms) ORDER BY t ASC;
SELECT device_id, max_by(measure_value::double, time) AS last FROM "iot"."t" WHERE measure_name='temp' AND time > ago(1h) GROUP BY device_id;
SELECT region, CASE WHEN measure_name = 'cpu_user' THEN measure_value::double END AS cpu, ROUND(APPROX_PERCENTILE(measure_value::double, 0.9), 2) AS p90
  FROM iot.telemetry WHERE time > ago(15m) AND measure_name IN ('cpu_user', 'cpu_system') GROUP BY region, 2 ORDER BY 2 DESC;
SELECT measure_value::varchar AS status, COUNT(DISTINCT device_id) FROM iot.telemetry WHERE time >= from_iso8601_timestamp('2026-11-26T10:00:00Z') GROUP BY measure_value::varchar ORDER BY 2 DESC;
WITH per_device AS (
  SELECT device_id, AVG(measure_value::double) AS avg_value FROM iot.telemetry
  WHERE measure_name = 'temperature' AND time > ago(2h) GROUP BY device_id
), ranked AS (
  SELECT device_id, avg_value, DENSE_RANK() OVER (PARTITION BY device_id ORDER BY avg_value DESC) AS rnk FROM per_device
)
SELECT r.device_id, r.avg_value FROM ranked r INNER JOIN per_device p ON r.device_id = p.device_id WHERE rnk <= 3 HAVING COUNT(*) > 0 LIMIT 10;
SELECT device_id, CREATE_TIME_SERIES(time, measure_value::double) AS temp FROM iot.telemetry WHERE measure_name = 'temperature' AND time BETWEEN from_milliseconds(1764151200000) AND from_milliseconds(1764154800000) GROUP BY device_id;
WITH series AS (
  SELECT device_id, INTERPOLATE_LOCF(CREATE_TIME_SERIES(time, measure_value::double), SEQUENCE(ago(1h), now(), 1m)) AS ts
  FROM iot.telemetry WHERE measure_name = 'temperature' GROUP BY device_id
)
SELECT device_id, t.time, t.value FROM series CROSS JOIN UNNEST(ts) AS t (time, value);
SELECT filter(CREATE_TIME_SERIES(time, measure_value::double), x -> x.value > 10.0) FROM iot.telemetry GROUP BY device_id;
SELECT time, measure_value::double FROM iot.telemetry WHERE time >= from_iso8601_timestamp('2026-11-26T10:00:00Z') ORDER BY time DESC LIMIT 1;
SELECT bin(time, 5m) AS binned, avg(measure_value::double) FROM iot.telemetry WHERE time > ago(15m) AND time <= now() - 30s GROUP BY 1 ORDER BY 1;
SELECT date_trunc('hour', time), date_diff('second', ago(1d), now()), to_milliseconds(time), from_nanoseconds(1764151200000000000) FROM iot.telemetry WHERE time > ago(2day) AND time < ago(12second);
