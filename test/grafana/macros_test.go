package grafana

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// This file expands a panel's rawSql as Grafana does before sending it
// (reference/grafana.md §1.5): template variables (frontend), then the
// global $__interval/$__unixEpochFrom() replacements (sqleng Interpolate),
// then the PostgreSQL macro engine (grafana-postgresql-datasource
// macros.go), which it follows line by line, TimescaleDB off.

// timeRange is a dashboard's time range.
type timeRange struct{ from, to time.Time }

// expandVariables replaces $name and ${name} the way Grafana's SQL data
// sources interpolate a multi-value variable: each value quoted with ”
// for ', joined by commas.
func expandVariables(sql string, vars map[string][]string) string {
	for name, values := range vars {
		quoted := make([]string, len(values))
		for i, v := range values {
			quoted[i] = "'" + strings.ReplaceAll(v, "'", "''") + "'"
		}
		repl := strings.Join(quoted, ",")
		sql = strings.ReplaceAll(sql, "${"+name+"}", repl)
		sql = regexp.MustCompile(`\$`+regexp.QuoteMeta(name)+`\b`).ReplaceAllLiteralString(sql, repl)
	}
	return sql
}

// interpolateGlobals is sqleng's Interpolate.
func interpolateGlobals(sql string, tr timeRange, interval time.Duration) string {
	sql = strings.ReplaceAll(sql, "$__interval_ms", strconv.FormatInt(interval.Milliseconds(), 10))
	sql = strings.ReplaceAll(sql, "$__interval", formatInterval(interval))
	sql = strings.ReplaceAll(sql, "$__unixEpochFrom()", fmt.Sprintf("%d", tr.from.UTC().Unix()))
	sql = strings.ReplaceAll(sql, "$__unixEpochTo()", fmt.Sprintf("%d", tr.to.UTC().Unix()))
	return sql
}

// formatInterval is gtime.FormatInterval for the whole units it prints.
func formatInterval(d time.Duration) string {
	switch {
	case d >= 24*time.Hour && d%(24*time.Hour) == 0:
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	case d >= time.Hour && d%time.Hour == 0:
		return fmt.Sprintf("%dh", d/time.Hour)
	case d >= time.Minute && d%time.Minute == 0:
		return fmt.Sprintf("%dm", d/time.Minute)
	case d >= time.Second && d%time.Second == 0:
		return fmt.Sprintf("%ds", d/time.Second)
	}
	return fmt.Sprintf("%dms", d/time.Millisecond)
}

// parseInterval is gtime.ParseInterval for the units dashboards use.
func parseInterval(s string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		v, err := strconv.Atoi(n)
		return time.Duration(v) * 24 * time.Hour, err
	}
	if n, ok := strings.CutSuffix(s, "w"); ok {
		v, err := strconv.Atoi(n)
		return time.Duration(v) * 7 * 24 * time.Hour, err
	}
	return time.ParseDuration(s)
}

var macroRe = regexp.MustCompile(`\$([_a-zA-Z0-9]+)\(([^\)]*)\)`)

// expandMacros is postgresMacroEngine.Interpolate.
func expandMacros(sql string, tr timeRange) (string, error) {
	var macroErr error
	var b strings.Builder
	last := 0
	for _, m := range macroRe.FindAllStringSubmatchIndex(sql, -1) {
		groups := []string{sql[m[0]:m[1]], sql[m[2]:m[3]], sql[m[4]:m[5]]}
		// $__timeGroup followed by ',' is the pre-5.3 alias form (Grafana
		// looks at the first occurrence of the same text).
		if groups[1] == "__timeGroup" {
			if i := strings.Index(sql, groups[0]); i >= 0 {
				i += len(groups[0])
				if len(sql) > i && sql[i] == ',' {
					groups[1] = "__timeGroupAlias"
				}
			}
		}
		args := strings.Split(groups[2], ",")
		for i, a := range args {
			args[i] = strings.Trim(a, " ")
		}
		res, err := evaluateMacro(tr, groups[1], args)
		if err != nil && macroErr == nil {
			macroErr = err
			res = "macro_error()"
		}
		b.WriteString(sql[last:m[0]])
		b.WriteString(res)
		last = m[1]
	}
	b.WriteString(sql[last:])
	if macroErr != nil {
		return "", macroErr
	}
	return b.String(), nil
}

func evaluateMacro(tr timeRange, name string, args []string) (string, error) {
	from, to := tr.from.UTC(), tr.to.UTC()
	switch name {
	case "__time":
		if len(args) == 0 || args[0] == "" {
			return "", fmt.Errorf("missing time column argument for macro %v", name)
		}
		return fmt.Sprintf("%s AS \"time\"", args[0]), nil
	case "__timeEpoch":
		if len(args) == 0 || args[0] == "" {
			return "", fmt.Errorf("missing time column argument for macro %v", name)
		}
		return fmt.Sprintf("extract(epoch from %s) as \"time\"", args[0]), nil
	case "__timeFilter":
		if len(args) == 0 || args[0] == "" {
			return "", fmt.Errorf("missing time column argument for macro %v", name)
		}
		return fmt.Sprintf("%s BETWEEN '%s' AND '%s'", args[0], from.Format(time.RFC3339Nano), to.Format(time.RFC3339Nano)), nil
	case "__timeFrom":
		return fmt.Sprintf("'%s'", from.Format(time.RFC3339Nano)), nil
	case "__timeTo":
		return fmt.Sprintf("'%s'", to.Format(time.RFC3339Nano)), nil
	case "__timeGroup":
		if len(args) < 2 {
			return "", fmt.Errorf("macro %v needs time column and interval and optional fill value", name)
		}
		interval, err := parseInterval(strings.Trim(args[1], `'`))
		if err != nil {
			return "", fmt.Errorf("error parsing interval %v", args[1])
		}
		return fmt.Sprintf("floor(extract(epoch from %s)/%v)*%v", args[0], interval.Seconds(), interval.Seconds()), nil
	case "__timeGroupAlias":
		tg, err := evaluateMacro(tr, "__timeGroup", args)
		if err != nil {
			return "", err
		}
		return tg + " AS \"time\"", nil
	case "__unixEpochFilter":
		if len(args) == 0 || args[0] == "" {
			return "", fmt.Errorf("missing time column argument for macro %v", name)
		}
		return fmt.Sprintf("%s >= %d AND %s <= %d", args[0], from.Unix(), args[0], to.Unix()), nil
	case "__unixEpochNanoFilter":
		if len(args) == 0 || args[0] == "" {
			return "", fmt.Errorf("missing time column argument for macro %v", name)
		}
		return fmt.Sprintf("%s >= %d AND %s <= %d", args[0], from.UnixNano(), args[0], to.UnixNano()), nil
	case "__unixEpochNanoFrom":
		return fmt.Sprintf("%d", from.UnixNano()), nil
	case "__unixEpochNanoTo":
		return fmt.Sprintf("%d", to.UnixNano()), nil
	case "__unixEpochGroup":
		if len(args) < 2 {
			return "", fmt.Errorf("macro %v needs time column and interval and optional fill value", name)
		}
		interval, err := parseInterval(strings.Trim(args[1], `'`))
		if err != nil {
			return "", fmt.Errorf("error parsing interval %v", args[1])
		}
		return fmt.Sprintf("floor((%s)/%v)*%v", args[0], interval.Seconds(), interval.Seconds()), nil
	case "__unixEpochGroupAlias":
		tg, err := evaluateMacro(tr, "__unixEpochGroup", args)
		if err != nil {
			return "", err
		}
		return tg + " AS \"time\"", nil
	}
	return "", fmt.Errorf("unknown macro %q", name)
}

// expand runs all three steps.
func expand(sql string, tr timeRange, interval time.Duration, vars map[string][]string) (string, error) {
	return expandMacros(interpolateGlobals(expandVariables(sql, vars), tr, interval), tr)
}

// TestMacroExpansion pins the expander to the expansions Grafana's
// macros_test.go expects (range 2018-04-12 18:00 to 18:05 UTC).
func TestMacroExpansion(t *testing.T) {
	tr := timeRange{time.Date(2018, 4, 12, 18, 0, 0, 0, time.UTC), time.Date(2018, 4, 12, 18, 5, 0, 0, time.UTC)}
	for _, c := range []struct{ in, want string }{
		{"select $__time(time_column)", `select time_column AS "time"`},
		{"select $__timeEpoch(time)", `select extract(epoch from time) as "time"`},
		{"WHERE $__timeFilter(time_column)", "WHERE time_column BETWEEN '2018-04-12T18:00:00Z' AND '2018-04-12T18:05:00Z'"},
		{"WHERE time_column BETWEEN $__timeFrom() AND $__timeTo()", "WHERE time_column BETWEEN '2018-04-12T18:00:00Z' AND '2018-04-12T18:05:00Z'"},
		{"GROUP BY $__timeGroup(time_column,'5m')", "GROUP BY floor(extract(epoch from time_column)/300)*300"},
		{"GROUP BY $__timeGroup(time_column, '5m', NULL)", "GROUP BY floor(extract(epoch from time_column)/300)*300"},
		{"SELECT $__timeGroup(time_column,'5m'), value", `SELECT floor(extract(epoch from time_column)/300)*300 AS "time", value`},
		{"SELECT $__timeGroupAlias(time_column,'5m')", `SELECT floor(extract(epoch from time_column)/300)*300 AS "time"`},
		{"select $__unixEpochFilter(time)", "select time >= 1523556000 AND time <= 1523556300"},
		{"select $__unixEpochNanoFilter(time)", "select time >= 1523556000000000000 AND time <= 1523556300000000000"},
		{"select $__unixEpochNanoFrom()", "select 1523556000000000000"},
		{"SELECT $__unixEpochGroupAlias(time_column,'5m')", `SELECT floor((time_column)/300)*300 AS "time"`},
		{"select $__unixEpochFrom(), $__interval_ms, $__interval", "select 1523556000, 60000, 1m"},
		{"WHERE d IN ($device) AND e = ${device}", "WHERE d IN ('a','b''c') AND e = 'a','b''c'"},
	} {
		got, err := expand(c.in, tr, time.Minute, map[string][]string{"device": {"a", "b'c"}})
		if err != nil || got != c.want {
			t.Errorf("%s:\n got %q, %v\nwant %q", c.in, got, err, c.want)
		}
	}
	if _, err := expand("select $__nope(x)", tr, time.Minute, nil); err == nil {
		t.Error("unknown macro: no error")
	}
	frac := timeRange{tr.from.Add(500 * time.Millisecond), tr.to.Add(123456789)}
	if got, _ := expand("$__timeFilter(t)", frac, time.Minute, nil); got != "t BETWEEN '2018-04-12T18:00:00.5Z' AND '2018-04-12T18:05:00.123456789Z'" {
		t.Errorf("fractions: %s", got)
	}
}
