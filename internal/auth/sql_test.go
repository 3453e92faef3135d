package auth

import (
	"strings"
	"testing"
)

func TestCheckSQL(t *testing.T) {
	s := testService(t, Options{Keys: []*Key{
		{ID: "grafana", Secret: NewSecret("g"), Policy: mustPolicy(t, `Statement: [{Effect: Allow, Action: "timestream:Select", Resource: "arn:aws:timestream:*:*:database/iot/table/*"}]`)},
		{ID: "writer", Secret: NewSecret("w"), Policy: mustPolicy(t, `Statement: [{Effect: Allow, Action: "timestream:WriteRecords", Resource: "*"}]`)},
	}})
	g, w := s.Key("grafana"), s.Key("writer")
	dbs := map[string]bool{"iot": true, "sluice": true, "ops": true}
	exists := func(n string) bool { return dbs[strings.ToLower(n)] }
	session := func(vals map[string]string) func(string) (string, bool) {
		return func(n string) (string, bool) { v, ok := vals[strings.ToLower(n)]; return v, ok }
	}
	http := SQLScope{DefaultDatabase: "iot", DatabaseExists: exists}
	for _, c := range []struct {
		name string
		p    Principal
		sql  string
		sc   SQLScope
		ok   bool
	}{
		{"qualified", g, `SELECT * FROM iot.telemetry`, http, true},
		{"unqualified in default db", g, `SELECT * FROM telemetry`, http, true},
		{"other db", g, `SELECT * FROM sluice.dead_letters`, http, false},
		{"quoted names", g, `SELECT * FROM "sluice"."dead_letters"`, http, false},
		{"join", g, `SELECT * FROM iot.a JOIN ops.b ON a.x = b.x`, http, false},
		{"subquery in WHERE", g, `SELECT 1 FROM iot.a WHERE x IN (SELECT x FROM ops.secret)`, http, false},
		{"scalar subquery in select list", g, `SELECT (SELECT max(x) FROM ops.secret) FROM iot.a`, http, false},
		{"union", g, `SELECT x FROM iot.a UNION ALL SELECT x FROM ops.b`, http, false},
		{"CTE name is not a table", g, `WITH secret AS (SELECT * FROM iot.a) SELECT * FROM secret`, http, true},
		{"CTE body checked", g, `WITH x AS (SELECT * FROM ops.secret) SELECT * FROM x`, http, false},
		{"later CTE name not visible earlier", g, `WITH a AS (SELECT * FROM b), b AS (SELECT 1) SELECT * FROM a`,
			SQLScope{DefaultDatabase: "ops", DatabaseExists: exists}, false},
		{"CTE out of scope", g, `SELECT * FROM (WITH s AS (SELECT 1) SELECT * FROM s) x, s`, SQLScope{DefaultDatabase: "ops", DatabaseExists: exists}, false},
		{"EXPLAIN", g, `EXPLAIN SELECT * FROM ops.secret`, http, false},
		{"DESCRIBE", g, `DESCRIBE ops.secret`, http, false},
		{"SHOW MEASURES", g, `SHOW MEASURES FROM iot.telemetry`, http, true},
		{"SHOW TABLES", g, `SHOW TABLES FROM ops`, http, true},
		{"catalog views", g, `SELECT table_name FROM information_schema.tables`, http, true},
		{"SELECT 1", g, `SELECT 1`, http, true},
		{"table function names an allowed table", g, `SELECT * FROM anomalies(table => 'iot.telemetry', measure => 'temperature')`, http, true},
		{"table function names another table", g, `SELECT * FROM anomalies(table => 'ops.secret', measure => 'v')`, http, false},
		{"table function names another table, unqualified", g, `SELECT * FROM forecast(TABLE => 'secret', measure => 'v')`, SQLScope{DefaultDatabase: "ops", DatabaseExists: exists}, false},
		{"table function over a query", g, `SELECT * FROM forecast(horizon => 3, SELECT time, v FROM ops.secret)`, http, false},
		{"search_path leads elsewhere", g, `SELECT * FROM dead_letters`, SQLScope{DefaultDatabase: "iot", DatabaseExists: exists, Setting: session(map[string]string{"search_path": "sluice"})}, false},
		{"$user leads elsewhere", g, `SELECT * FROM dead_letters`, SQLScope{DefaultDatabase: "iot", DatabaseExists: exists, Setting: session(map[string]string{"search_path": `"$user"`, "session_authorization": "sluice"})}, false},
		{"search_path of missing dbs", g, `SELECT * FROM telemetry`, SQLScope{DefaultDatabase: "iot", DatabaseExists: exists, Setting: session(map[string]string{"search_path": `"$user", public`, "session_authorization": "grafana"})}, true},
		{"unparsable is left to the engine", g, `SELEKT`, http, true},
		{"no Select anywhere", w, `SELECT 1`, http, false},
	} {
		err := CheckSQL(c.p, c.sql, c.sc)
		if (err == nil) != c.ok {
			t.Errorf("%s: %s: %v, want ok=%v", c.name, c.sql, err, c.ok)
		}
		if err != nil && code(err) != CodeAccessDenied {
			t.Errorf("%s: %v", c.name, err)
		}
	}
}
