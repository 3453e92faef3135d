package differential

import (
	"fmt"
	"strings"
	"time"
)

// query is one differential case. SQL is written once; the placeholders
// below are the only dialect translations:
//
//	{bin1m}, {bin5m}  sluice bin(time, 1m) / bin(time, 5m);
//	                  PostgreSQL date_bin(INTERVAL '1 minute', time, TIMESTAMP '1970-01-01')
//	{t0}, {t5}, {t10}, {t20}  the data set's base time plus 0/5/10/20
//	                  minutes, as TIMESTAMP 'YYYY-MM-DD HH:MM:SS' on both sides
//
// The measure column is written "measure_value::double" (quoted) on both
// sides; sluice accepts the quoted name. Ordered is set only where ORDER BY
// makes the order of the compared rows total.
type query struct {
	SQL     string
	Ordered bool
}

// translate fills the placeholders for one side.
func translate(sql string, base time.Time, pg bool) string {
	ts := func(d time.Duration) string { return "TIMESTAMP '" + base.Add(d).Format("2006-01-02 15:04:05") + "'" }
	r := []string{"{t0}", ts(0), "{t5}", ts(5 * time.Minute), "{t10}", ts(10 * time.Minute), "{t20}", ts(20 * time.Minute)}
	if pg {
		r = append(r, "{bin1m}", "date_bin(INTERVAL '1 minute', time, TIMESTAMP '1970-01-01')",
			"{bin5m}", "date_bin(INTERVAL '5 minutes', time, TIMESTAMP '1970-01-01')")
	} else {
		r = append(r, "{bin1m}", "bin(time, 1m)", "{bin5m}", "bin(time, 5m)")
	}
	return strings.NewReplacer(r...).Replace(sql)
}

const mv = `"measure_value::double"`

// knownDiffs maps a query (as written, before translation) to why sluice's
// answer differs from PostgreSQL's. Listed queries run as skipped sub-tests.
var knownDiffs = map[string]string{
	`SELECT "DeviceID" FROM iot.devices d WHERE EXISTS (SELECT 1 FROM iot.events e WHERE e."DeviceID" = d."DeviceID" AND e.code = 12)`:                                                                "correlated subquery (EXISTS) unsupported: column \"d.\\\"DeviceID\\\"\" does not exist",
	`SELECT measure_name, "DeviceID", avg(` + mv + `) - (SELECT avg(` + mv + `) FROM iot.telemetry t2 WHERE t2.measure_name = t.measure_name) FROM iot.telemetry t GROUP BY measure_name, "DeviceID"`: "correlated scalar subquery unsupported: column \"t.measure_name\" does not exist",
	`SELECT CAST(level AS bigint) FROM iot.events`:                                                                                                       "CAST(DOUBLE AS BIGINT) rounds halves away from zero (Trino: -1.5 -> -2, 0.5 -> 1); PostgreSQL rounds halves to even (-1.5 -> -2, 0.5 -> 0, 2.5 -> 2)",
	`SELECT CAST(level * 2 AS bigint), CAST(-level AS integer) FROM iot.events WHERE level <> floor(level)`:                                              "CAST(DOUBLE AS BIGINT/INTEGER) rounds halves away from zero; PostgreSQL to even",
	`SELECT concat("DeviceID", '/', msg), "DeviceID" || ':' || measure_name FROM iot.events`:                                                             "concat with a NULL argument is NULL (Trino/Timestream); PostgreSQL skips NULL arguments",
	`SELECT ltrim(msg, 'l'), rtrim(msg, 'p') FROM iot.events`:                                                                                            "ltrim/rtrim take one argument only; PostgreSQL's second argument (characters to trim) unsupported",
	`SELECT position('o' IN msg) FROM iot.events`:                                                                                                        "position(x IN y) syntax unsupported (parse error)",
	`SELECT "DeviceID", string_agg(DISTINCT msg, ',' ORDER BY msg) FROM iot.events GROUP BY "DeviceID"`:                                                  "string_agg unsupported (not an aggregate; ORDER BY inside an aggregate is a parse error)",
	`SELECT round(` + mv + `), sign(` + mv + `), mod(code, 3) FROM iot.telemetry t JOIN iot.events e ON t."DeviceID" = e."DeviceID" AND t.time = e.time`: "round(DOUBLE) rounds halves away from zero (Trino: -12.5 -> -13); PostgreSQL's round(double precision) rounds to even (-12.5 -> -12)",
	`SELECT sum(code) / count(code), avg(CAST(code AS double precision)) FROM iot.events`:                                                                "sum(BIGINT) is BIGINT (Trino), so sum/count divides integers (6); PostgreSQL's sum(bigint) is numeric (6.0444…)",
	`SELECT to_char(time, 'YYYY-MM-DD HH24:MI:SS') FROM iot.devices`:                                                                                     "to_char unsupported (PostgreSQL-only; Timestream has date_format)",
}

func q(sql string) query  { return query{SQL: strings.ReplaceAll(sql, "$MV", mv)} }
func qo(sql string) query { return query{SQL: strings.ReplaceAll(sql, "$MV", mv), Ordered: true} }

// queries builds the cases: systematic families first, then hand-written.
func queries() []query {
	var qs []query
	ops := []string{"=", "<>", "<", "<=", ">", ">="}

	// Comparison filters on the measure value, per measure.
	consts := map[string][]string{"temperature": {"20", "21.5"}, "humidity": {"42.25", "50"}, "voltage": {"221.2"}, "watt": {"0", "-11.75"}}
	for _, m := range measures {
		for _, c := range consts[m] {
			for _, op := range ops {
				qs = append(qs, q(fmt.Sprintf(`SELECT count(*), sum($MV), min($MV) FROM iot.telemetry WHERE measure_name = '%s' AND $MV %s %s`, m, op, c)))
			}
		}
		qs = append(qs, q(fmt.Sprintf(`SELECT "DeviceID", count(*) FROM iot.telemetry WHERE measure_name = '%s' AND $MV BETWEEN %s AND %s + 5 GROUP BY "DeviceID"`, m, consts[m][0], consts[m][0])))
		qs = append(qs, q(fmt.Sprintf(`SELECT count(*) FROM iot.telemetry WHERE measure_name = '%s' AND $MV NOT BETWEEN %s AND %s + 5`, m, consts[m][0], consts[m][0])))
	}
	// Filters on the dimension and measure name.
	for _, w := range []string{
		`"DeviceID" = 'dev-2'`, `"DeviceID" <> 'dev-2'`, `"DeviceID" < 'dev-2'`, `"DeviceID" <= 'dev-2'`, `"DeviceID" > 'dev-2'`, `"DeviceID" >= 'dev-2'`,
		`"DeviceID" IN ('dev-1', 'dev-3', 'dev-7')`, `"DeviceID" NOT IN ('dev-1', 'dev-3')`, `"DeviceID" BETWEEN 'dev-1' AND 'dev-3'`,
		`"DeviceID" LIKE 'dev-%'`, `"DeviceID" LIKE '%3'`, `"DeviceID" LIKE 'dev-_'`, `"DeviceID" NOT LIKE '%1'`, `measure_name LIKE '%t%'`,
		`measure_name IN ('watt', 'voltage')`, `measure_name NOT IN ('watt')`, `measure_name > 'temperature'`,
		`"DeviceID" IS NULL`, `"DeviceID" IS NOT NULL`, `$MV IS NULL`, `$MV IS NOT NULL`,
		`NOT ("DeviceID" = 'dev-0' OR measure_name = 'watt')`, `"DeviceID" = 'dev-0' AND measure_name = 'watt' OR $MV > 70`,
	} {
		qs = append(qs, q(`SELECT measure_name, count(*), max($MV) FROM iot.telemetry WHERE `+w+` GROUP BY measure_name`))
	}
	// Time filters.
	for _, w := range []string{
		`time = {t5}`, `time <> {t5}`, `time < {t5}`, `time <= {t5}`, `time > {t20}`, `time >= {t20}`,
		`time BETWEEN {t5} AND {t10}`, `time IN ({t0}, {t10}, {t20})`, `time > {t5} + INTERVAL '30 second'`,
		`time < {t20} - INTERVAL '2 minutes'`, `time - INTERVAL '1 hour' > {t0} - INTERVAL '50 minutes'`,
	} {
		qs = append(qs, q(`SELECT "DeviceID", count(*), min(time), max(time) FROM iot.telemetry WHERE `+w+` GROUP BY "DeviceID"`))
	}
	// Events: each column with NULL tests and comparisons.
	evFilters := map[string][]string{
		"code":     {"= 3", "<> 3", "< 5", ">= 10", "IN (1, 2, 12)", "BETWEEN 4 AND 8"},
		"level":    {"= 2.5", "> 0", "<= -1", "NOT IN (-3, 8)"},
		"msg":      {"= 'overheat'", "LIKE '%ink%'", "LIKE 'ok\\%%' ESCAPE '\\'", "> 'a'", "IN ('Boot OK', 'link up')"},
		"ok":       {"= true", "= false", "<> true"},
		"firmware": {"= 'v1.1'", "<> 'v1.1'", "IN ('v1.1', 'v1.2')"},
	}
	for _, col := range []string{"code", "level", "msg", "ok", "firmware"} {
		for _, w := range append([]string{"IS NULL", "IS NOT NULL"}, evFilters[col]...) {
			qs = append(qs, q(fmt.Sprintf(`SELECT "DeviceID", count(*), count(%s), count(code), sum(level) FROM iot.events WHERE %s %s GROUP BY "DeviceID"`, col, col, w)))
		}
	}
	// Aggregates per grouping.
	aggs := []string{"count(*)", "count($MV)", "sum($MV)", "avg($MV)", "min($MV)", "max($MV)", "stddev_samp($MV)", "variance($MV)", "stddev($MV)", "stddev_pop($MV)", "var_pop($MV)", "var_samp($MV)"}
	groups := []string{"", `"DeviceID"`, "measure_name", `"DeviceID", measure_name`}
	for _, a := range aggs {
		for _, g := range groups {
			if g == "" {
				qs = append(qs, q(`SELECT `+a+` FROM iot.telemetry`))
				continue
			}
			qs = append(qs, q(`SELECT `+g+`, `+a+` FROM iot.telemetry GROUP BY `+g))
		}
	}
	// Aggregates over NULL-holding columns, grouped by a NULL-holding
	// dimension (a NULL group) and by device.
	for _, a := range []string{"count(code)", "sum(code)", "avg(code)", "min(level)", "max(level)", "stddev_samp(level)", "variance(code)", "min(msg)", "max(msg)", "count(DISTINCT msg)", "sum(DISTINCT code)", "bool_and(ok)", "bool_or(ok)"} {
		qs = append(qs, q(`SELECT firmware, `+a+` FROM iot.events GROUP BY firmware`))
		qs = append(qs, q(`SELECT `+a+` FROM iot.events WHERE "DeviceID" = 'dev-9'`)) // empty input
	}
	// NULL ordering, total thanks to the (time, DeviceID) tiebreak.
	for _, col := range []string{"code", "level", "msg", "ok", "firmware"} {
		for _, dir := range []string{"ASC", "DESC"} {
			for _, nulls := range []string{" NULLS FIRST", " NULLS LAST"} {
				qs = append(qs, qo(fmt.Sprintf(`SELECT %s, time, "DeviceID" FROM iot.events ORDER BY %s %s%s, time, "DeviceID" LIMIT 40 OFFSET 3`, col, col, dir, nulls)))
			}
		}
	}
	// Time bins.
	for _, b := range []string{"date_trunc('minute', time)", "date_trunc('hour', time)", "{bin1m}", "{bin5m}"} {
		qs = append(qs, qo(`SELECT `+b+` AS t, avg($MV), count(*) FROM iot.telemetry WHERE measure_name = 'temperature' GROUP BY 1 ORDER BY 1`))
		qs = append(qs, qo(`SELECT "DeviceID", `+b+` AS t, max($MV) - min($MV) FROM iot.telemetry WHERE measure_name = 'watt' GROUP BY "DeviceID", `+b+` ORDER BY "DeviceID", t`))
	}
	return append(qs, handWritten()...)
}

func handWritten() []query {
	return []query{
		// ORDER BY, LIMIT, OFFSET.
		qo(`SELECT "DeviceID", measure_name, time, $MV FROM iot.telemetry ORDER BY $MV DESC, time, "DeviceID", measure_name LIMIT 10`),
		qo(`SELECT "DeviceID", measure_name, time, $MV FROM iot.telemetry ORDER BY time DESC, "DeviceID", measure_name LIMIT 7 OFFSET 13`),
		qo(`SELECT "DeviceID", $MV FROM iot.telemetry WHERE measure_name = 'watt' ORDER BY 2, 1 DESC, time LIMIT 12`),
		q(`SELECT "DeviceID", measure_name, time, $MV FROM iot.telemetry ORDER BY time, "DeviceID", measure_name OFFSET 3590`),
		qo(`SELECT code, level FROM iot.events ORDER BY code, level DESC NULLS LAST, time, "DeviceID" LIMIT 25`),
		qo(`SELECT code, level, time FROM iot.events ORDER BY level * 2 + code NULLS FIRST, time, "DeviceID" LIMIT 30`),
		// Default NULL placement (PostgreSQL: NULLS LAST ascending, FIRST descending).
		qo(`SELECT code, time, "DeviceID" FROM iot.events ORDER BY code, time, "DeviceID" LIMIT 300`),
		qo(`SELECT code, time, "DeviceID" FROM iot.events ORDER BY code DESC, time, "DeviceID" LIMIT 300`),
		// Joins.
		q(`SELECT t."DeviceID", d.region, count(*) FROM iot.telemetry t JOIN iot.devices d ON t."DeviceID" = d."DeviceID" GROUP BY t."DeviceID", d.region`),
		q(`SELECT t."DeviceID", d.region, count(*) FROM iot.telemetry t LEFT JOIN iot.devices d ON t."DeviceID" = d."DeviceID" GROUP BY t."DeviceID", d.region`),
		q(`SELECT d."DeviceID", count(t.time) FROM iot.devices d LEFT JOIN iot.telemetry t ON t."DeviceID" = d."DeviceID" AND t.measure_name = 'watt' GROUP BY d."DeviceID"`),
		q(`SELECT d.region, avg(t.$MV), max(d.lat) FROM iot.telemetry t INNER JOIN iot.devices d ON t."DeviceID" = d."DeviceID" WHERE t.measure_name = 'humidity' GROUP BY d.region`),
		q(`SELECT e."DeviceID", e.code, d.floor FROM iot.events e JOIN iot.devices d ON e."DeviceID" = d."DeviceID" AND e.code = d.floor`),
		q(`SELECT e."DeviceID", count(*), count(d.region) FROM iot.events e LEFT JOIN iot.devices d ON e."DeviceID" = d."DeviceID" GROUP BY e."DeviceID"`),
		q(`SELECT a."DeviceID", b."DeviceID" FROM iot.devices a JOIN iot.devices b ON a.region = b.region AND a."DeviceID" < b."DeviceID"`),
		q(`SELECT t.time, t.$MV, e.code FROM iot.telemetry t JOIN iot.events e ON t."DeviceID" = e."DeviceID" AND t.time = e.time WHERE t.measure_name = 'voltage'`),
		q(`SELECT d.region, e.msg, count(*) FROM iot.events e LEFT JOIN iot.devices d ON d."DeviceID" = e."DeviceID" GROUP BY d.region, e.msg`),
		// Subqueries.
		q(`SELECT "DeviceID", count(*) FROM iot.telemetry WHERE "DeviceID" IN (SELECT "DeviceID" FROM iot.devices WHERE region = 'north') GROUP BY "DeviceID"`),
		q(`SELECT "DeviceID", count(*) FROM iot.telemetry WHERE "DeviceID" NOT IN (SELECT "DeviceID" FROM iot.devices WHERE region = 'north') GROUP BY "DeviceID"`),
		q(`SELECT count(*) FROM iot.telemetry WHERE measure_name = 'watt' AND $MV > (SELECT avg($MV) FROM iot.telemetry WHERE measure_name = 'watt')`),
		q(`SELECT "DeviceID", (SELECT max(lat) FROM iot.devices) AS m FROM iot.devices`),
		q(`SELECT dev, n FROM (SELECT "DeviceID" AS dev, count(*) AS n FROM iot.events WHERE code IS NOT NULL GROUP BY "DeviceID") s WHERE n > 40`),
		q(`SELECT avg(m) FROM (SELECT "DeviceID", max($MV) AS m FROM iot.telemetry WHERE measure_name = 'temperature' GROUP BY "DeviceID") x`),
		q(`SELECT "DeviceID" FROM iot.devices d WHERE EXISTS (SELECT 1 FROM iot.events e WHERE e."DeviceID" = d."DeviceID" AND e.code = 12)`),
		q(`SELECT "DeviceID", region FROM iot.devices WHERE lat > (SELECT avg(lat) FROM iot.devices)`),
		// CTEs.
		q(`WITH w AS (SELECT "DeviceID", avg($MV) AS a FROM iot.telemetry WHERE measure_name = 'watt' GROUP BY "DeviceID") SELECT "DeviceID", a FROM w WHERE a > (SELECT avg(a) FROM w)`),
		q(`WITH e AS (SELECT "DeviceID", code FROM iot.events WHERE code > 6), d AS (SELECT "DeviceID", region FROM iot.devices) SELECT d.region, count(*) FROM e JOIN d ON e."DeviceID" = d."DeviceID" GROUP BY d.region`),
		qo(`WITH b AS (SELECT date_trunc('minute', time) AS t, avg($MV) AS v FROM iot.telemetry WHERE measure_name = 'voltage' GROUP BY 1) SELECT t, v, v - lag(v) OVER (ORDER BY t) FROM b ORDER BY t`),
		// Window functions.
		qo(`SELECT "DeviceID", time, row_number() OVER (PARTITION BY "DeviceID" ORDER BY time) FROM iot.events ORDER BY "DeviceID", time`),
		qo(`SELECT "DeviceID", time, code, rank() OVER (PARTITION BY "DeviceID" ORDER BY code) FROM iot.events WHERE code IS NOT NULL ORDER BY "DeviceID", time`),
		qo(`SELECT "DeviceID", time, code, dense_rank() OVER (ORDER BY code DESC) FROM iot.events WHERE code IS NOT NULL ORDER BY "DeviceID", time`),
		qo(`SELECT "DeviceID", time, $MV, lag($MV) OVER (PARTITION BY "DeviceID" ORDER BY time), lead($MV) OVER (PARTITION BY "DeviceID" ORDER BY time) FROM iot.telemetry WHERE measure_name = 'watt' ORDER BY "DeviceID", time`),
		qo(`SELECT "DeviceID", time, lag($MV, 3) OVER (PARTITION BY "DeviceID" ORDER BY time), lead($MV, 2, -1) OVER (PARTITION BY "DeviceID" ORDER BY time) FROM iot.telemetry WHERE measure_name = 'humidity' ORDER BY "DeviceID", time`),
		qo(`SELECT "DeviceID", time, lead($MV, 2, -1.0) OVER (PARTITION BY "DeviceID" ORDER BY time) FROM iot.telemetry WHERE measure_name = 'humidity' ORDER BY "DeviceID", time`),
		qo(`SELECT "DeviceID", time, sum($MV) OVER (PARTITION BY "DeviceID") FROM iot.telemetry WHERE measure_name = 'voltage' ORDER BY "DeviceID", time`),
		qo(`SELECT "DeviceID", time, sum($MV) OVER (PARTITION BY "DeviceID" ORDER BY time) FROM iot.telemetry WHERE measure_name = 'watt' ORDER BY "DeviceID", time`),
		qo(`SELECT "DeviceID", time, avg($MV) OVER (PARTITION BY "DeviceID" ORDER BY time ROWS BETWEEN 5 PRECEDING AND CURRENT ROW) FROM iot.telemetry WHERE measure_name = 'temperature' ORDER BY "DeviceID", time`),
		qo(`SELECT "DeviceID", time, avg($MV) OVER (PARTITION BY "DeviceID" ORDER BY time ROWS BETWEEN 2 PRECEDING AND 2 FOLLOWING) FROM iot.telemetry WHERE measure_name = 'temperature' ORDER BY "DeviceID", time`),
		qo(`SELECT "DeviceID", time, max($MV) OVER (PARTITION BY "DeviceID" ORDER BY time ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) FROM iot.telemetry WHERE measure_name = 'humidity' ORDER BY "DeviceID", time`),
		qo(`SELECT "DeviceID", time, count(code) OVER (PARTITION BY "DeviceID" ORDER BY time ROWS BETWEEN 3 PRECEDING AND 1 PRECEDING) FROM iot.events ORDER BY "DeviceID", time`),
		qo(`SELECT "DeviceID", time, first_value(level) OVER (PARTITION BY "DeviceID" ORDER BY time), last_value(level) OVER (PARTITION BY "DeviceID" ORDER BY time ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING) FROM iot.events ORDER BY "DeviceID", time`),
		qo(`SELECT "DeviceID", time, ntile(4) OVER (PARTITION BY "DeviceID" ORDER BY time) FROM iot.events ORDER BY "DeviceID", time`),
		qo(`SELECT "DeviceID", time, level, sum(level) OVER (PARTITION BY firmware ORDER BY time, "DeviceID") FROM iot.events ORDER BY "DeviceID", time`),
		qo(`SELECT * FROM (SELECT "DeviceID", time, $MV AS v, row_number() OVER (PARTITION BY "DeviceID" ORDER BY $MV DESC, time) AS rn FROM iot.telemetry WHERE measure_name = 'watt') x WHERE rn <= 2 ORDER BY "DeviceID", rn`),
		qo(`SELECT "DeviceID", time, percent_rank() OVER (PARTITION BY "DeviceID" ORDER BY code), cume_dist() OVER (PARTITION BY "DeviceID" ORDER BY code) FROM iot.events WHERE code IS NOT NULL ORDER BY "DeviceID", time`),
		qo(`SELECT "DeviceID", time, count(*) OVER (), count(msg) OVER (PARTITION BY firmware) FROM iot.events ORDER BY "DeviceID", time`),
		qo(`SELECT "DeviceID", time, avg(level) OVER (PARTITION BY "DeviceID" ORDER BY time ROWS BETWEEN 1 PRECEDING AND 1 FOLLOWING), min(code) OVER (PARTITION BY "DeviceID" ORDER BY time ROWS BETWEEN CURRENT ROW AND 2 FOLLOWING) FROM iot.events ORDER BY "DeviceID", time`),
		qo(`SELECT "DeviceID", time, rank() OVER (ORDER BY level DESC NULLS LAST), row_number() OVER (ORDER BY level NULLS FIRST, time, "DeviceID") FROM iot.events ORDER BY "DeviceID", time`),
		qo(`SELECT "DeviceID", measure_name, time, $MV - avg($MV) OVER (PARTITION BY "DeviceID", measure_name) FROM iot.telemetry ORDER BY "DeviceID", measure_name, time`),
		// CASE, coalesce, nullif, arithmetic.
		q(`SELECT CASE WHEN $MV > 50 THEN 'high' WHEN $MV > 20 THEN 'mid' ELSE 'low' END AS band, count(*) FROM iot.telemetry GROUP BY 1`),
		q(`SELECT CASE measure_name WHEN 'watt' THEN 1 WHEN 'voltage' THEN 2 END, count(*) FROM iot.telemetry GROUP BY 1`),
		q(`SELECT coalesce(msg, firmware, 'none'), count(*) FROM iot.events GROUP BY 1`),
		q(`SELECT coalesce(code, -1), coalesce(level, 0.5), nullif(code, 3), nullif(msg, 'overheat') FROM iot.events`),
		q(`SELECT sum(CASE WHEN ok THEN 1 ELSE 0 END), sum(CASE WHEN NOT ok THEN 1 END), count(CASE WHEN ok IS NULL THEN 1 END) FROM iot.events`),
		q(`SELECT code + 1, code - level, code * 2, level / 4, code / 4, code % 5, -level, abs(level) FROM iot.events`),
		q(`SELECT "DeviceID", round(avg($MV) * 100) / 100, floor(min($MV)), ceil(max($MV)) FROM iot.telemetry GROUP BY "DeviceID"`),
		q(`SELECT $MV * 1.8 + 32, sqrt($MV), power($MV, 2), ln($MV), exp($MV / 100) FROM iot.telemetry WHERE measure_name = 'temperature' AND "DeviceID" = 'dev-1'`),
		q(`SELECT round($MV), sign($MV), mod(code, 3) FROM iot.telemetry t JOIN iot.events e ON t."DeviceID" = e."DeviceID" AND t.time = e.time`),
		q(`SELECT code IS NULL, level > 0 AND ok, level > 0 OR ok, NOT ok FROM iot.events`),
		q(`SELECT greatest(code, 5), least(level, 1) FROM iot.events WHERE code IS NOT NULL AND level IS NOT NULL`),
		q(`SELECT CAST(code AS double precision) / 3, CAST(code AS varchar) FROM iot.events`),
		q(`SELECT CAST(level AS bigint) FROM iot.events`),
		q(`SELECT CAST(level * 2 AS bigint), CAST(-level AS integer) FROM iot.events WHERE level <> floor(level)`),
		// Strings.
		q(`SELECT lower(msg), upper(msg), length(msg), substr(msg, 2, 3), substr(msg, 3) FROM iot.events`),
		q(`SELECT concat("DeviceID", '/', msg), "DeviceID" || ':' || measure_name FROM iot.events`),
		q(`SELECT replace(msg, 'o', '0'), trim('  ' || msg || ' '), ltrim(' ' || msg), rtrim(msg || '  '), reverse(msg) FROM iot.events`),
		q(`SELECT ltrim(msg, 'l'), rtrim(msg, 'p') FROM iot.events`),
		q(`SELECT strpos(msg, 'ink'), lpad(msg, 10, '*'), rpad(msg, 12, '-') FROM iot.events`),
		q(`SELECT position('o' IN msg) FROM iot.events`),
		q(`SELECT concat("DeviceID", '/', firmware) FROM iot.events WHERE firmware IS NOT NULL`),
		q(`SELECT split_part(msg, ' ', 1), starts_with(msg, 'l'), msg LIKE 'L%', upper(msg) LIKE 'L%' FROM iot.events`),
		q(`SELECT "DeviceID", string_agg(DISTINCT msg, ',' ORDER BY msg) FROM iot.events GROUP BY "DeviceID"`),
		// Time functions.
		q(`SELECT extract(epoch FROM time), extract(minute FROM time), extract(second FROM time), extract(hour FROM time) FROM iot.events WHERE "DeviceID" = 'dev-2'`),
		q(`SELECT extract(year FROM time), extract(month FROM time), extract(day FROM time), extract(dow FROM time), extract(doy FROM time) FROM iot.devices`),
		q(`SELECT time + INTERVAL '1 hour', time - INTERVAL '90 seconds', time + INTERVAL '1 day' FROM iot.devices`),
		q(`SELECT date_trunc('second', time), date_trunc('hour', time), date_trunc('day', time), date_trunc('month', time) FROM iot.events WHERE "DeviceID" = 'dev-3'`),
		q(`SELECT "DeviceID", max(time) - min(time) FROM iot.events GROUP BY "DeviceID"`),
		q(`SELECT count(*) FROM iot.telemetry WHERE time >= {t0} + INTERVAL '10 minutes' AND time < {t0} + INTERVAL '11 minutes'`),
		q(`SELECT "DeviceID", min(time), max(time) FROM iot.telemetry WHERE time BETWEEN {t10} - INTERVAL '1 minute' AND {t10} GROUP BY "DeviceID"`),
		q(`SELECT to_char(time, 'YYYY-MM-DD HH24:MI:SS') FROM iot.devices`),
		q(`SELECT extract(epoch FROM max(time)) - extract(epoch FROM min(time)) FROM iot.telemetry`),
		// DISTINCT.
		q(`SELECT DISTINCT "DeviceID" FROM iot.telemetry`),
		q(`SELECT DISTINCT measure_name, "DeviceID" FROM iot.telemetry`),
		q(`SELECT DISTINCT firmware FROM iot.events`),
		q(`SELECT DISTINCT code, ok FROM iot.events`),
		q(`SELECT count(DISTINCT $MV), count(DISTINCT "DeviceID") FROM iot.telemetry`),
		q(`SELECT measure_name, count(DISTINCT $MV) FROM iot.telemetry GROUP BY measure_name`),
		qo(`SELECT DISTINCT msg FROM iot.events ORDER BY msg NULLS FIRST`),
		// UNION ALL / UNION.
		q(`SELECT "DeviceID" FROM iot.devices UNION ALL SELECT DISTINCT "DeviceID" FROM iot.events`),
		q(`SELECT "DeviceID" FROM iot.devices UNION SELECT "DeviceID" FROM iot.events`),
		q(`SELECT 'max', max(code) FROM iot.events UNION ALL SELECT 'min', min(code) FROM iot.events UNION ALL SELECT 'nulls', count(*) FROM iot.events WHERE code IS NULL`),
		qo(`SELECT "DeviceID", time FROM iot.devices UNION ALL SELECT "DeviceID", time FROM iot.events WHERE code = 12 ORDER BY 2, 1`),
		q(`SELECT x FROM (SELECT code AS x FROM iot.events UNION ALL SELECT floor FROM iot.devices) u WHERE x IS NOT NULL`),
		// HAVING.
		q(`SELECT "DeviceID", avg($MV) FROM iot.telemetry WHERE measure_name = 'watt' GROUP BY "DeviceID" HAVING avg($MV) > 16`),
		q(`SELECT firmware, count(*) FROM iot.events GROUP BY firmware HAVING count(*) > 60`),
		q(`SELECT msg, count(*) FROM iot.events GROUP BY msg HAVING count(code) >= 30 AND max(level) > 5`),
		q(`SELECT "DeviceID", measure_name FROM iot.telemetry GROUP BY "DeviceID", measure_name HAVING min($MV) < 16 OR max($MV) > 260`),
		// Mixed.
		qo(`SELECT "DeviceID", date_trunc('minute', time) AS m, count(code), avg(level) FROM iot.events GROUP BY 1, 2 ORDER BY 1, 2 LIMIT 50`),
		q(`SELECT measure_name, "DeviceID", avg($MV) - (SELECT avg($MV) FROM iot.telemetry t2 WHERE t2.measure_name = t.measure_name) FROM iot.telemetry t GROUP BY measure_name, "DeviceID"`),
		q(`SELECT count(*) FROM iot.telemetry WHERE ($MV > 100) = (measure_name = 'voltage')`),
		// NULL logic and edge cases.
		q(`SELECT count(*) FROM iot.events WHERE code IN (1, NULL)`),
		q(`SELECT count(*) FROM iot.events WHERE code NOT IN (1, NULL)`),
		q(`SELECT count(*) FROM iot.events WHERE code = NULL`),
		q(`SELECT count(*) FROM iot.events WHERE code IS DISTINCT FROM 3`),
		q(`SELECT count(*) FROM iot.events WHERE firmware IS NOT DISTINCT FROM NULL`),
		q(`SELECT count(*) FILTER (WHERE ok), count(level) FILTER (WHERE code > 5), sum(code) FILTER (WHERE msg LIKE 'l%') FROM iot.events`),
		q(`SELECT "DeviceID", time FROM iot.events ORDER BY time LIMIT 0`),
		q(`SELECT "DeviceID", time FROM iot.events ORDER BY time, "DeviceID" OFFSET 1000`),
		qo(`SELECT "DeviceID" AS d, count(*) AS n FROM iot.telemetry GROUP BY "DeviceID" ORDER BY n DESC, d`),
		qo(`SELECT firmware, count(*) FROM iot.events GROUP BY firmware ORDER BY firmware`),
		qo(`SELECT firmware, count(*) FROM iot.events GROUP BY firmware ORDER BY firmware DESC`),
		q(`SELECT sum(code) / count(code), avg(CAST(code AS double precision)) FROM iot.events`),
		q(`SELECT CAST(sum(code) AS double precision) / count(code) FROM iot.events`),
		q(`SELECT level FROM iot.events WHERE level BETWEEN -1 AND 1 AND NOT (level = 0)`),
		q(`SELECT CASE WHEN code IS NULL THEN 'none' WHEN code < 5 THEN 'low' ELSE 'high' END, count(*), count(DISTINCT "DeviceID") FROM iot.events GROUP BY 1`),
		q(`SELECT 1 + 2 * 3, 7 / 2, 7.0 / 2, -7 % 3, 'a' || 'b', NULL IS NULL, CAST('12' AS bigint) + 1`),
		q(`SELECT count(*), count(code), sum(code), avg(level) FROM iot.events WHERE msg IS NULL AND ok IS NOT NULL`),
	}
}
