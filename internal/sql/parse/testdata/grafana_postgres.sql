-- What Grafana's PostgreSQL data source sends after macro expansion
-- (reference/grafana.md §1.3-1.5), one statement each, ';'-separated.
-- ping
;
SELECT current_setting('server_version_num')::int/100 as version;
SELECT extversion FROM pg_extension WHERE extname = 'timescaledb';
SET TIMEZONE TO 'UTC'; select 42;
SELECT
  CASE WHEN quote_ident(table_schema) IN (
    SELECT CASE WHEN trim(s[i]) = '"$user"' THEN user ELSE trim(s[i]) END
    FROM generate_series(
      array_lower(string_to_array(current_setting('search_path'),','),1),
      array_upper(string_to_array(current_setting('search_path'),','),1)
    ) as i,
    string_to_array(current_setting('search_path'),',') s )
    THEN quote_ident(table_name)
    ELSE quote_ident(table_schema) || '.' || quote_ident(table_name)
  END AS "table"
  FROM information_schema.tables
  WHERE quote_ident(table_schema) NOT IN ('information_schema','pg_catalog',
    '_timescaledb_cache','_timescaledb_catalog','_timescaledb_internal',
    '_timescaledb_config','timescaledb_information','timescaledb_experimental')
  ORDER BY CASE WHEN quote_ident(table_schema) IN (
    SELECT CASE WHEN trim(s[i]) = '"$user"' THEN user ELSE trim(s[i]) END
    FROM generate_series(
      array_lower(string_to_array(current_setting('search_path'),','),1),
      array_upper(string_to_array(current_setting('search_path'),','),1)
    ) as i,
    string_to_array(current_setting('search_path'),',') s ) THEN 0 ELSE 1 END, 1;
SELECT quote_ident(column_name) AS "column", data_type AS "type"
  FROM information_schema.columns
  WHERE CASE WHEN array_length(parse_ident('public.readings'),1) = 2
    THEN quote_ident(table_schema) = (parse_ident('public.readings'))[1]
      AND quote_ident(table_name) = (parse_ident('public.readings'))[2]
    ELSE quote_ident(table_name) = 'public.readings' AND quote_ident(table_schema) IN (
    SELECT CASE WHEN trim(s[i]) = '"$user"' THEN user ELSE trim(s[i]) END
    FROM generate_series(
      array_lower(string_to_array(current_setting('search_path'),','),1),
      array_upper(string_to_array(current_setting('search_path'),','),1)
    ) as i,
    string_to_array(current_setting('search_path'),',') s ) END;
SELECT schema_name FROM information_schema.schemata WHERE schema_name NOT LIKE 'pg_%' AND schema_name != 'information_schema' ORDER BY schema_name;
SELECT table_name FROM information_schema.tables WHERE table_schema = $1 AND table_type IN ('BASE TABLE','VIEW') ORDER BY table_name;
SELECT column_name, data_type, udt_name, numeric_precision, numeric_scale FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position;
SELECT 'c' AS col_name, "c"::text AS val FROM (SELECT DISTINCT "c" FROM "s"."t" WHERE "c" IS NOT NULL ORDER BY "c" LIMIT 100) sub_0 UNION ALL SELECT 'd' AS col_name, "d"::text AS val FROM (SELECT DISTINCT "d" FROM "s"."t" WHERE "d" IS NOT NULL ORDER BY "d" LIMIT 100) sub_1;
-- $__timeGroupAlias(ts,$__interval), $__timeFilter(ts)
SELECT floor(extract(epoch from ts)/300)*300 AS "time", device_id AS metric, avg(temp) AS temp FROM readings WHERE ts BETWEEN '2018-04-12T18:00:00Z' AND '2018-04-12T18:05:00.5Z' AND device_id IN ('a','b') GROUP BY 1,2 ORDER BY 1;
-- $__time(c), $__timeFrom(), $__timeTo()
SELECT ts AS "time", temp FROM readings WHERE ts >= '2018-04-12T18:00:00Z' AND ts <= '2018-04-12T18:05:00.123456789Z' ORDER BY 1;
-- $__timeEpoch(c), $__unixEpochFilter(c)
SELECT extract(epoch from ts) as "time", value FROM readings WHERE epoch_s >= 1523556000 AND epoch_s <= 1523556300;
-- $__unixEpochGroupAlias(c,'5m'), $__unixEpochNanoFilter(c)
SELECT floor((epoch_s)/300)*300 AS "time", max(value) FROM readings WHERE epoch_ns >= 1523556000000000000 AND epoch_ns <= 1523556300000000000 GROUP BY 1 ORDER BY 1;
-- TimescaleDB form of $__timeGroup
SELECT time_bucket('300.000s',ts) AS "time", avg(temp) FROM readings GROUP BY 1 ORDER BY 1;
-- builder SQL, SQLCommenter tag kept before the final ';'
SELECT device_id, avg(temp) FROM readings WHERE ts BETWEEN '2018-04-12T18:00:00Z' AND '2018-04-12T18:05:00Z' GROUP BY device_id ORDER BY device_id ASC LIMIT 50 /*application='grafana',source='bi'*/;
SELECT DISTINCT device_id FROM readings ORDER BY 1;
SELECT ts::timestamptz AS "time", temp::double precision FROM readings WHERE ts > now() - interval '1 hour';
