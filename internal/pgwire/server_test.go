package pgwire_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluice-dev/sluice/internal/pgwire"
)

func testLogger() *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

type testServer struct {
	*pgwire.Server
	h   *pgwire.TestHandler
	reg *prometheus.Registry
}

// startServer starts a server on a free port with the test handler and
// shuts it down at cleanup.
func startServer(t testing.TB, opts pgwire.Options) *testServer {
	t.Helper()
	h := pgwire.NewTestHandler()
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	opts.Logger = testLogger()
	reg := prometheus.NewRegistry()
	s, err := pgwire.NewServer(h, opts, reg)
	if err != nil {
		t.Fatalf("NewServer: %v", err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	return &testServer{Server: s, h: h, reg: reg}
}

func (s *testServer) url(user, password, extra string) string {
	host, port, _ := net.SplitHostPort(s.Addr())
	u := fmt.Sprintf("postgres://%s@%s:%s/iot?sslmode=disable", user, host, port)
	if password != "" {
		u = fmt.Sprintf("postgres://%s:%s@%s:%s/iot?sslmode=disable", user, password, host, port)
	}
	if extra != "" {
		u = strings.Replace(u, "sslmode=disable", extra, 1)
	}
	return u
}

var modes = []struct {
	name string
	mode pgx.QueryExecMode
}{
	{"extended", pgx.QueryExecModeCacheStatement},
	{"simple", pgx.QueryExecModeSimpleProtocol},
	{"describe", pgx.QueryExecModeDescribeExec},
}

func connect(t testing.TB, s *testServer, mode pgx.QueryExecMode) *pgx.Conn {
	t.Helper()
	cfg, err := pgx.ParseConfig(s.url("grafana", "", ""))
	if err != nil {
		t.Fatal(err)
	}
	cfg.DefaultQueryExecMode = mode
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

func pgErr(t testing.TB, err error) *pgconn.PgError {
	t.Helper()
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		t.Fatalf("want a *pgconn.PgError, got %T: %v", err, err)
	}
	return pe
}

func TestTypesRoundTrip(t *testing.T) {
	s := startServer(t, pgwire.Options{})
	for _, m := range modes {
		t.Run("mode="+m.name, func(t *testing.T) {
			c := connect(t, s, m.mode)
			rows, err := c.Query(context.Background(), "SELECT * FROM types")
			if err != nil {
				t.Fatal(err)
			}
			type row struct {
				b    *bool
				i    *int64
				f    *float64
				s    *string
				ts   *time.Time
				tstz *time.Time
				d    *time.Time
				iv   *time.Duration
			}
			var got []row
			for rows.Next() {
				var r row
				if err := rows.Scan(&r.b, &r.i, &r.f, &r.s, &r.ts, &r.tstz, &r.d, &r.iv); err != nil {
					t.Fatal(err)
				}
				got = append(got, r)
			}
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}
			if tag := rows.CommandTag().String(); tag != "SELECT 4" {
				t.Errorf("tag = %q", tag)
			}
			fds := rows.FieldDescriptions()
			wantOIDs := []uint32{16, 20, 701, 25, 1114, 1184, 1082, 1186}
			for i, fd := range fds {
				if fd.DataTypeOID != wantOIDs[i] {
					t.Errorf("column %s OID = %d, want %d", fd.Name, fd.DataTypeOID, wantOIDs[i])
				}
				wantFormat := int16(1)
				if m.mode == pgx.QueryExecModeSimpleProtocol || fd.DataTypeOID == 25 {
					wantFormat = 0
				}
				if fd.Format != wantFormat {
					t.Errorf("column %s format = %d, want %d", fd.Name, fd.Format, wantFormat)
				}
			}
			if len(got) != 4 {
				t.Fatalf("got %d rows", len(got))
			}
			r := got[0]
			us := pgwire.TypesTS.Truncate(time.Microsecond)
			if !*r.b || *r.i != -42 || *r.f != 0.1 || *r.s != "héllo, 'world'" || !r.ts.Equal(us) || !r.tstz.Equal(us) ||
				!r.d.Equal(time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)) || *r.iv != 26*time.Hour+3500*time.Millisecond {
				t.Errorf("row 0 = %v %v %v %q %v %v %v %v", *r.b, *r.i, *r.f, *r.s, r.ts, r.tstz, r.d, *r.iv)
			}
			n := got[1]
			if n.b != nil || n.i != nil || n.f != nil || n.s != nil || n.ts != nil || n.tstz != nil || n.d != nil || n.iv != nil {
				t.Errorf("row 1 has non-NULL values")
			}
			r = got[2]
			if *r.b || *r.i != math.MaxInt64 || !math.IsInf(*r.f, -1) || *r.s != "" || !r.ts.Equal(time.Unix(0, 0)) ||
				!r.tstz.Equal(time.Unix(0, 0).Add(-time.Microsecond)) || !r.d.Equal(time.Date(1969, 12, 31, 0, 0, 0, 0, time.UTC)) || *r.iv != -time.Second {
				t.Errorf("row 2 = %v %v %v %q %v %v %v %v", *r.b, *r.i, *r.f, *r.s, r.ts, r.tstz, r.d, *r.iv)
			}
			if r := got[3]; !math.IsNaN(*r.f) || *r.i != math.MinInt64 {
				t.Errorf("row 3 = %v %v", *r.f, *r.i)
			}
		})
	}
}

// TestTextFormats checks the exact text PostgreSQL would print, over the
// simple protocol (what Grafana uses) and the extended one with text results.
func TestTextFormats(t *testing.T) {
	s := startServer(t, pgwire.Options{})
	c := connect(t, s, pgx.QueryExecModeSimpleProtocol)
	want := [][]string{
		{"t", "-42", "0.1", "héllo, 'world'", "2026-11-26 10:00:00.123456", "2026-11-26 10:00:00.123456+00", "2026-11-26", "1 day 02:00:03.5"},
		{"NULL", "NULL", "NULL", "NULL", "NULL", "NULL", "NULL", "NULL"},
		{"f", "9223372036854775807", "-Infinity", "", "1970-01-01 00:00:00", "1969-12-31 23:59:59.999999+00", "1969-12-31", "-00:00:01"},
		{"t", "-9223372036854775808", "NaN", "x", "1970-01-12 13:46:40", "1970-01-12 13:46:40+00", "1970-01-12", "00:00:00"},
	}
	check := func(t *testing.T, rr *pgconn.ResultReader) {
		t.Helper()
		res := rr.Read()
		if res.Err != nil {
			t.Fatal(res.Err)
		}
		for i, row := range res.Rows {
			for j, v := range row {
				got := "NULL"
				if v != nil {
					got = string(v)
				}
				if got != want[i][j] {
					t.Errorf("row %d column %s = %q, want %q", i, res.FieldDescriptions[j].Name, got, want[i][j])
				}
			}
		}
	}
	t.Run("protocol=simple", func(t *testing.T) {
		mrr := c.PgConn().Exec(context.Background(), "SELECT * FROM types")
		if !mrr.NextResult() {
			t.Fatal(mrr.Close())
		}
		check(t, mrr.ResultReader())
		if err := mrr.Close(); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("protocol=extended", func(t *testing.T) {
		check(t, c.PgConn().ExecParams(context.Background(), "SELECT * FROM types", nil, nil, nil, []int16{0}))
	})
	t.Run("timezone", func(t *testing.T) {
		if _, err := c.Exec(context.Background(), "SET TIME ZONE 'Asia/Kolkata'"); err != nil {
			t.Skipf("no time zone database: %v", err)
		}
		defer c.Exec(context.Background(), "SET TIME ZONE 'UTC'")
		if got := c.PgConn().ParameterStatus("TimeZone"); got != "Asia/Kolkata" {
			t.Errorf("ParameterStatus TimeZone = %q", got)
		}
		res := c.PgConn().ExecParams(context.Background(), "SELECT * FROM types", nil, nil, nil, nil).Read()
		if res.Err != nil {
			t.Fatal(res.Err)
		}
		if got := string(res.Rows[0][5]); got != "2026-11-26 15:30:00.123456+05:30" {
			t.Errorf("timestamptz in Asia/Kolkata = %q", got)
		}
	})
}

func TestParameters(t *testing.T) {
	s := startServer(t, pgwire.Options{})
	ts := time.Date(2026, 1, 2, 3, 4, 5, 678901000, time.UTC)
	for _, m := range modes {
		if m.mode == pgx.QueryExecModeSimpleProtocol {
			continue // pgx interpolates; see TestSimpleProtocolInterpolation
		}
		t.Run("mode="+m.name, func(t *testing.T) {
			c := connect(t, s, m.mode)
			var (
				i   int64
				f   float64
				str string
				b   bool
				t1  time.Time
				t2  time.Time
				d   time.Time
				iv  time.Duration
				u   string
				nul *int64
			)
			err := c.QueryRow(context.Background(),
				"SELECT $1::bigint AS i, $2::double AS f, $3::text AS s, $4::bool AS b, $5::timestamp AS t1, $6::timestamptz AS t2, $7::date AS d, $8::interval AS iv, $9 AS u, $10::bigint AS n",
				int32(7), 2.5, "it's", true, ts, ts, ts, 90*time.Minute, "untyped", nil,
			).Scan(&i, &f, &str, &b, &t1, &t2, &d, &iv, &u, &nul)
			if err != nil {
				t.Fatal(err)
			}
			if i != 7 || f != 2.5 || str != "it's" || !b || !t1.Equal(ts) || !t2.Equal(ts) || !d.Equal(ts.Truncate(24*time.Hour)) || iv != 90*time.Minute || u != "untyped" || nul != nil {
				t.Errorf("got %v %v %q %v %v %v %v %v %q %v", i, f, str, b, t1, t2, d, iv, u, nul)
			}
			_, params := s.h.LastQuery()
			if params[0].Value != int64(7) || params[4].Value != ts.UnixNano() || params[8].Type != pgwire.TypeUnknown {
				t.Errorf("handler got params %+v", params)
			}
		})
	}
	t.Run("declared=text", func(t *testing.T) {
		// Parameters declared by the client and sent as text.
		c := connect(t, s, pgx.QueryExecModeExec)
		res := c.PgConn().ExecParams(context.Background(), "SELECT $1::bigint AS a, $2::timestamptz AS b",
			[][]byte{[]byte("12"), []byte("2026-01-02T03:04:05.5Z")}, []uint32{20, 1184}, []int16{0}, []int16{0}).Read()
		if res.Err != nil {
			t.Fatal(res.Err)
		}
		if a, b := string(res.Rows[0][0]), string(res.Rows[0][1]); a != "12" || b != "2026-01-02 03:04:05.5+00" {
			t.Errorf("got %q %q", a, b)
		}
		res = c.PgConn().ExecParams(context.Background(), "SELECT $1::bigint AS a", [][]byte{[]byte("x")}, []uint32{20}, nil, nil).Read()
		if pe := pgErr(t, res.Err); pe.Code != "22P02" {
			t.Errorf("bad int8 text: %v", pe)
		}
	})
}

func TestSimpleProtocolInterpolation(t *testing.T) {
	s := startServer(t, pgwire.Options{})
	c := connect(t, s, pgx.QueryExecModeSimpleProtocol)
	// pgx interpolates arguments itself, relying on
	// standard_conforming_strings=on and client_encoding=UTF8.
	var v string
	err := c.QueryRow(context.Background(), "SELECT current_setting($1)", "server_version_num").Scan(&v)
	if err != nil {
		t.Fatal(err)
	}
	if v != "160000" {
		t.Errorf("server_version_num = %q", v)
	}
	if q, _ := s.h.LastQuery(); q != "SELECT current_setting( 'server_version_num' )" {
		t.Errorf("handler got %q", q)
	}
}

func TestMultipleStatements(t *testing.T) {
	s := startServer(t, pgwire.Options{})
	c := connect(t, s, pgx.QueryExecModeSimpleProtocol)
	// What Grafana sends: several statements, comments, a SET first.
	sql := "SET TIMEZONE TO 'UTC'; /* grafana */ select 1 ; -- note\n SELECT * FROM series(3);;SHOW timezone"
	res, err := c.PgConn().Exec(context.Background(), sql).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var tags []string
	for _, r := range res {
		tags = append(tags, r.CommandTag.String())
	}
	if got := strings.Join(tags, ","); got != "SET,SELECT 1,SELECT 3,SHOW" {
		t.Errorf("tags = %s", got)
	}
	if len(res[2].Rows) != 3 || string(res[2].Rows[2][3]) != "device-2" || string(res[3].Rows[0][0]) != "UTC" {
		t.Errorf("rows = %q / %q", res[2].Rows, res[3].Rows)
	}
	if res[3].FieldDescriptions[0].Name != "TimeZone" {
		t.Errorf("SHOW column = %q", res[3].FieldDescriptions[0].Name)
	}
	// An error stops the batch; the earlier results stand.
	res, err = c.PgConn().Exec(context.Background(), "select 1; SELECT * FROM nowhere; select 1").ReadAll()
	if len(res) != 1 || res[0].CommandTag.String() != "SELECT 1" {
		t.Errorf("results before the error: %d", len(res))
	}
	pe := pgErr(t, err)
	if pe.Code != "42P01" || pe.Position != 25 || pe.Severity != "ERROR" {
		t.Errorf("error = %+v", pe)
	}
}

func TestEmptyQueryAndPing(t *testing.T) {
	s := startServer(t, pgwire.Options{})
	for _, m := range modes {
		t.Run("mode="+m.name, func(t *testing.T) {
			c := connect(t, s, m.mode)
			if err := c.Ping(context.Background()); err != nil {
				t.Fatalf("Ping: %v", err)
			}
			for _, q := range []string{"-- ping", ";", "", " /* x */ ; "} {
				res, err := c.PgConn().Exec(context.Background(), q).ReadAll()
				if err != nil {
					t.Fatalf("%q: %v", q, err)
				}
				if len(res) != 1 || len(res[0].Rows) != 0 || res[0].CommandTag.String() != "" {
					t.Errorf("%q: results %+v", q, res)
				}
			}
			var one int
			if err := c.QueryRow(context.Background(), "select 1").Scan(&one); err != nil || one != 1 {
				t.Fatalf("select 1 = %d, %v", one, err)
			}
		})
	}
}

func TestErrors(t *testing.T) {
	s := startServer(t, pgwire.Options{})
	for _, m := range modes {
		t.Run("mode="+m.name, func(t *testing.T) {
			c := connect(t, s, m.mode)
			tests := []struct {
				sql  string
				code string
				pos  int32
			}{
				{"SELEC 1", "42601", 1},
				{"SELECT x FROM nowhere", "42P01", 15},
				{"  SELECT é FROM nowhere", "42P01", 17}, // characters, not bytes; leading space counts
				{"SELECT $1::nosuch", "42704", 0},
			}
			for _, tt := range tests {
				var args []any
				if strings.Contains(tt.sql, "$1") {
					if m.mode == pgx.QueryExecModeSimpleProtocol {
						continue
					}
					args = append(args, 1)
				}
				_, err := c.Exec(context.Background(), tt.sql, args...)
				pe := pgErr(t, err)
				if pe.Code != tt.code || pe.Position != tt.pos {
					t.Errorf("%q: code %s position %d, want %s %d (%s)", tt.sql, pe.Code, pe.Position, tt.code, tt.pos, pe.Message)
				}
			}
			// The connection is still usable, and a transaction that failed
			// refuses statements until ROLLBACK.
			tx, err := c.Begin(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if c.PgConn().TxStatus() != 'T' {
				t.Errorf("TxStatus after BEGIN = %c", c.PgConn().TxStatus())
			}
			_, err = tx.Exec(context.Background(), "SELECT * FROM nowhere")
			pgErr(t, err)
			if c.PgConn().TxStatus() != 'E' {
				t.Errorf("TxStatus after error = %c", c.PgConn().TxStatus())
			}
			_, err = tx.Exec(context.Background(), "select 1")
			if pe := pgErr(t, err); pe.Code != "25P02" {
				t.Errorf("in failed tx: %v", pe)
			}
			if err := tx.Rollback(context.Background()); err != nil {
				t.Fatal(err)
			}
			if c.PgConn().TxStatus() != 'I' {
				t.Errorf("TxStatus after ROLLBACK = %c", c.PgConn().TxStatus())
			}
			tag, err := c.Exec(context.Background(), "BEGIN; COMMIT")
			if m.mode == pgx.QueryExecModeSimpleProtocol && (err != nil || tag.String() != "COMMIT") {
				t.Errorf("BEGIN; COMMIT: %q %v", tag, err)
			}
		})
	}
}

func TestHandlerErrorsAreInternal(t *testing.T) {
	s := startServer(t, pgwire.Options{})
	c := connect(t, s, pgx.QueryExecModeSimpleProtocol)
	_, err := c.Exec(context.Background(), "SELECT fail()")
	pe := pgErr(t, err)
	if pe.Code != "XX000" || pe.Message != "test handler: failed on purpose" {
		t.Errorf("got %+v", pe)
	}
}

func TestSettings(t *testing.T) {
	s := startServer(t, pgwire.Options{})
	c := connect(t, s, pgx.QueryExecModeCacheStatement)
	ps := c.PgConn().ParameterStatus
	for k, v := range map[string]string{
		"server_version": "16.0 (sluice)", "server_encoding": "UTF8", "client_encoding": "UTF8", "DateStyle": "ISO, MDY",
		"TimeZone": "UTC", "integer_datetimes": "on", "standard_conforming_strings": "on", "IntervalStyle": "postgres",
		"is_superuser": "off", "session_authorization": "grafana",
	} {
		if got := ps(k); got != v {
			t.Errorf("ParameterStatus %s = %q, want %q", k, got, v)
		}
	}
	show := func(name string) string {
		t.Helper()
		var v string
		if err := c.QueryRow(context.Background(), "SHOW "+name).Scan(&v); err != nil {
			t.Fatalf("SHOW %s: %v", name, err)
		}
		return v
	}
	steps := []struct {
		sql, show, want string
	}{
		{"SET application_name = 'grafana'", "application_name", "grafana"},
		{"SET search_path TO iot, public", "search_path", "iot, public"},
		{"SET statement_timeout = 5000", "statement_timeout", "5s"},
		{"set statement_timeout to '250ms'", "statement_timeout", "250ms"},
		{"SET extra_float_digits = 3", "extra_float_digits", "3"},
		{"SET SESSION DateStyle = 'ISO, DMY'", "DateStyle", "ISO, DMY"},
		{"SET my.custom = 'x'", "my.custom", "x"},
		{"RESET statement_timeout", "statement_timeout", "0"},
		{"SET TRANSACTION ISOLATION LEVEL READ COMMITTED", "server_version_num", "160000"},
	}
	for _, st := range steps {
		if _, err := c.Exec(context.Background(), st.sql); err != nil {
			t.Fatalf("%s: %v", st.sql, err)
		}
		if got := show(st.show); got != st.want {
			t.Errorf("after %s: SHOW %s = %q, want %q", st.sql, st.show, got, st.want)
		}
	}
	if got := ps("application_name"); got != "grafana" {
		t.Errorf("ParameterStatus application_name = %q", got)
	}
	for _, bad := range []string{"SET client_encoding = 'LATIN1'", "SET DateStyle = 'German'", "SET server_version = '1'", "SET statement_timeout = 'soon'", "SET TIME ZONE 'Nowhere/Else'"} {
		if _, err := c.Exec(context.Background(), bad); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
	rows, err := c.Query(context.Background(), "SHOW ALL")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for rows.Next() {
		n++
	}
	if rows.Err() != nil || n < 20 {
		t.Errorf("SHOW ALL: %d rows, %v", n, rows.Err())
	}
	// SHOW of something that is not a setting is the engine's.
	_, err = c.Exec(context.Background(), "SHOW TABLES")
	if pe := pgErr(t, err); pe.Code != "42601" {
		t.Errorf("SHOW TABLES: %v", pe)
	}
	if q, _ := s.h.LastQuery(); q != "SHOW TABLES" {
		t.Errorf("handler last got %q", q)
	}
	// extra_float_digits 0 → 15 significant digits.
	if _, err := c.Exec(context.Background(), "SET extra_float_digits = 0"); err != nil {
		t.Fatal(err)
	}
	res := c.PgConn().ExecParams(context.Background(), "SELECT * FROM series(2)", nil, nil, nil, nil).Read()
	if res.Err != nil || string(res.Rows[1][2]) != "0.5" {
		t.Errorf("float with extra_float_digits 0: %q %v", res.Rows, res.Err)
	}
}

func TestCancel(t *testing.T) {
	s := startServer(t, pgwire.Options{})
	t.Run("CancelRequest", func(t *testing.T) {
		c := connect(t, s, pgx.QueryExecModeCacheStatement)
		go func() {
			<-s.h.Sleeping()
			_ = c.PgConn().CancelRequest(context.Background())
		}()
		start := time.Now()
		_, err := c.Exec(context.Background(), "SELECT sleep(10000)")
		pe := pgErr(t, err)
		if pe.Code != "57014" || pe.Message != "canceling statement due to user request" {
			t.Errorf("got %+v", pe)
		}
		if time.Since(start) > 5*time.Second {
			t.Errorf("cancel took %v", time.Since(start))
		}
		var one int
		if err := c.QueryRow(context.Background(), "select 1").Scan(&one); err != nil {
			t.Errorf("after cancel: %v", err)
		}
	})
	t.Run("context", func(t *testing.T) {
		cfg, _ := pgx.ParseConfig(s.url("grafana", "", ""))
		cfg.DefaultQueryExecMode = pgx.QueryExecModeSimpleProtocol
		cfg.BuildContextWatcherHandler = func(pc *pgconn.PgConn) ctxwatch.Handler {
			return &pgconn.CancelRequestContextWatcherHandler{Conn: pc, CancelRequestDelay: 0, DeadlineDelay: 5 * time.Second}
		}
		c, err := pgx.ConnectConfig(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close(context.Background())
		ctx, cancel := context.WithCancel(context.Background())
		go func() { <-s.h.Sleeping(); cancel() }()
		_, err = c.Exec(ctx, "SELECT sleep(10000)")
		if pe := pgErr(t, err); pe.Code != "57014" {
			t.Errorf("got %+v", pe)
		}
		if err := c.Ping(context.Background()); err != nil {
			t.Errorf("after cancel: %v", err)
		}
	})
	t.Run("wrong key", func(t *testing.T) {
		c := connect(t, s, pgx.QueryExecModeSimpleProtocol)
		other := connect(t, s, pgx.QueryExecModeSimpleProtocol)
		go func() {
			<-s.h.Sleeping()
			_ = other.PgConn().CancelRequest(context.Background()) // cancels nothing: other is idle
		}()
		if _, err := c.Exec(context.Background(), "SELECT sleep(200)"); err != nil {
			t.Errorf("a cancel for another session cancelled this one: %v", err)
		}
	})
	if got := metricValue(t, s.reg, "sluice_pgwire_queries_total", "canceled"); got < 2 {
		t.Errorf("canceled queries metric = %v", got)
	}
}

// metricValue returns the value of a counter or gauge, optionally the
// series with the given label value.
func metricValue(t *testing.T, reg *prometheus.Registry, name, label string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.Metric {
			match := label == ""
			for _, l := range m.Label {
				match = match || l.GetValue() == label
			}
			if !match {
				continue
			}
			if m.Counter != nil {
				return m.Counter.GetValue()
			}
			return m.Gauge.GetValue()
		}
	}
	return 0
}

func TestStatementTimeout(t *testing.T) {
	s := startServer(t, pgwire.Options{})
	for _, m := range modes {
		t.Run("mode="+m.name, func(t *testing.T) {
			c := connect(t, s, m.mode)
			if _, err := c.Exec(context.Background(), "SET statement_timeout = '100ms'"); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			_, err := c.Exec(context.Background(), "SELECT sleep(5000)")
			pe := pgErr(t, err)
			if pe.Code != "57014" || pe.Message != "canceling statement due to statement timeout" {
				t.Errorf("got %+v", pe)
			}
			if d := time.Since(start); d < 100*time.Millisecond || d > 3*time.Second {
				t.Errorf("timed out after %v", d)
			}
			if _, err := c.Exec(context.Background(), "SELECT sleep(10)"); err != nil {
				t.Errorf("a fast query: %v", err)
			}
		})
	}
}
