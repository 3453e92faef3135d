package pgwire

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/sluice-dev/sluice/internal/columnar"
)

func TestAppendFloat(t *testing.T) {
	// Expected strings are PostgreSQL 16's float8out with the default
	// extra_float_digits = 1 (and 0 where efd is given).
	tests := []struct {
		f    float64
		efd  int
		want string
	}{
		{0.1, 1, "0.1"},
		{1.0 / 3, 1, "0.3333333333333333"},
		{100, 1, "100"},
		{1e14, 1, "100000000000000"},
		{123456789012345, 1, "123456789012345"},
		{1e15, 1, "1e+15"},
		{1.5e300, 1, "1.5e+300"},
		{0.0001, 1, "0.0001"},
		{0.00001, 1, "1e-05"},
		{1.2345e-7, 1, "1.2345e-07"},
		{-2.5, 1, "-2.5"},
		{0, 1, "0"},
		{math.Copysign(0, -1), 1, "-0"},
		{math.NaN(), 1, "NaN"},
		{math.Inf(1), 1, "Infinity"},
		{math.Inf(-1), 1, "-Infinity"},
		{math.MaxFloat64, 1, "1.7976931348623157e+308"},
		{5e-324, 1, "5e-324"},
		{1.0 / 3, 0, "0.333333333333333"},
		{1e15, 0, "1e+15"},
		{123456.5, -10, "1.2346e+05"},
	}
	for _, tt := range tests {
		if got := string(appendFloat(nil, tt.f, tt.efd)); got != tt.want {
			t.Errorf("appendFloat(%v, %d) = %q, want %q", tt.f, tt.efd, got, tt.want)
		}
	}
}

func TestTextFormatsUnit(t *testing.T) {
	ts := func(s string) int64 {
		v, err := time.Parse("2006-01-02 15:04:05.999999999", s)
		if err != nil {
			t.Fatal(err)
		}
		return v.UnixNano()
	}
	kolkata, err := time.LoadLocation("Asia/Kolkata")
	if err != nil {
		kolkata = time.FixedZone("IST", 5*3600+1800)
	}
	tests := []struct {
		t    Type
		v    int64
		loc  *time.Location
		want string
	}{
		{TypeTimestamp, ts("2026-11-26 10:00:00.123456789"), nil, "2026-11-26 10:00:00.123456"},
		{TypeTimestamp, ts("2026-11-26 10:00:00.1"), nil, "2026-11-26 10:00:00.1"},
		{TypeTimestamp, ts("1999-01-01 00:00:00"), nil, "1999-01-01 00:00:00"},
		{TypeTimestamp, -1, nil, "1969-12-31 23:59:59.999999"},
		{TypeTimestampTZ, ts("2026-11-26 10:00:00"), time.UTC, "2026-11-26 10:00:00+00"},
		{TypeTimestampTZ, ts("2026-11-26 10:00:00"), kolkata, "2026-11-26 15:30:00+05:30"},
		{TypeTimestampTZ, ts("2026-11-26 10:00:00"), time.FixedZone("x", -(3*3600 + 30*60 + 15)), "2026-11-26 06:29:45-03:30:15"},
		{TypeDate, ts("2026-11-26 23:59:59"), nil, "2026-11-26"},
		{TypeDate, -1, nil, "1969-12-31"},
		{TypeInterval, 0, nil, "00:00:00"},
		{TypeInterval, int64(90 * time.Minute), nil, "01:30:00"},
		{TypeInterval, int64(24 * time.Hour), nil, "1 day"},
		{TypeInterval, int64(50*time.Hour + 1500*time.Microsecond), nil, "2 days 02:00:00.0015"},
		{TypeInterval, -int64(25 * time.Hour), nil, "-1 days -01:00:00"},
		{TypeInterval, int64(1500 * time.Hour), nil, "62 days 12:00:00"},
		{TypeInterval, -int64(time.Microsecond), nil, "-00:00:00.000001"},
	}
	for _, tt := range tests {
		col := columnar.NewColumn(columnar.Int64, 1)
		col.AppendInt(tt.v)
		e := encoder{loc: tt.loc, floatDigits: 1}
		if got := string(e.appendText(nil, tt.t, col, 0)); got != tt.want {
			t.Errorf("%v %d = %q, want %q", tt.t, tt.v, got, tt.want)
		}
	}
}

func TestSplitStatements(t *testing.T) {
	tests := []struct {
		sql  string
		want []string
	}{
		{"", nil},
		{"-- ping", nil},
		{" ; ;/* x */;", nil},
		{"select 1", []string{"select 1"}},
		{"SET TIMEZONE TO 'UTC'; select 42", []string{"SET TIMEZONE TO 'UTC'", "select 42"}},
		{"select ';' ; select 'it''s;'", []string{"select ';'", "select 'it''s;'"}},
		{`select e'a\';b'; select 2`, []string{`select e'a\';b'`, "select 2"}},
		{`select "a;""b" from t`, []string{`select "a;""b" from t`}},
		{"select $$a;b$$, $x$c;$$;d$x$; select 2", []string{"select $$a;b$$, $x$c;$$;d$x$", "select 2"}},
		{"select $1;select $2", []string{"select $1", "select $2"}},
		{"/* a; /* nested; */ still; */ select 1 -- c; d\n; select 2", []string{"select 1", "select 2"}},
		{"select 1 /*application='grafana'*/;", []string{"select 1"}},
		{"select 'unterminated; x", []string{"select 'unterminated; x"}},
	}
	for _, tt := range tests {
		var got []string
		for _, sp := range splitStatements(nil, tt.sql) {
			got = append(got, tt.sql[sp.start:sp.end])
		}
		if strings.Join(got, "|") != strings.Join(tt.want, "|") || len(got) != len(tt.want) {
			t.Errorf("split %q = %q, want %q", tt.sql, got, tt.want)
		}
	}
	if n := maxParam("select $1, '$9', $12 -- $99"); n != 12 {
		t.Errorf("maxParam = %d", n)
	}
}

func TestParseBuiltin(t *testing.T) {
	sess := newSession("u", "d", 1, "", "16.2 (sluice)")
	tests := []struct {
		sql        string
		kind       builtinKind
		key, value string
		tag        string
	}{
		{"BEGIN", bBegin, "", "", "BEGIN"},
		{"start transaction isolation level read committed", bBegin, "", "", "BEGIN"},
		{"COMMIT", bCommit, "", "", "COMMIT"},
		{"end", bCommit, "", "", "COMMIT"},
		{"ROLLBACK TO SAVEPOINT a", bRollbackTo, "", "", "ROLLBACK"},
		{"abort", bRollback, "", "", "ROLLBACK"},
		{"SET TIME ZONE 'UTC'", bSet, "timezone", "UTC", "SET"},
		{"SET TIMEZONE TO 'UTC'", bSet, "timezone", "UTC", "SET"},
		{"set search_path = \"$user\", public", bSet, "search_path", `"$user", public`, "SET"},
		{"SET LOCAL statement_timeout = 1000", bSet, "statement_timeout", "1000", "SET"},
		{"set extra_float_digits to -2", bSet, "extra_float_digits", "-2", "SET"},
		{"SET my.opt = 'a'", bSet, "my.opt", "a", "SET"},
		{"SET NAMES 'UTF8'", bSet, "client_encoding", "UTF8", "SET"},
		{"SET datestyle = DEFAULT", bReset, "datestyle", "", "SET"},
		{"RESET ALL", bReset, "all", "", "RESET"},
		{"SHOW server_version_num", bShow, "server_version_num", "", "SHOW"},
		{`SHOW "TimeZone"`, bShow, "timezone", "", "SHOW"},
		{"show time zone", bShow, "timezone", "", "SHOW"},
		{"show transaction isolation level", bShow, "transaction_isolation", "", "SHOW"},
		{"SHOW ALL", bShow, "all", "", "SHOW"},
		{"DISCARD ALL", bDiscard, "", "", "DISCARD ALL"},
		{"DEALLOCATE PREPARE s1", bDeallocate, "s1", "", "DEALLOCATE"},
	}
	for _, tt := range tests {
		b, err := parseBuiltin(tt.sql, sess)
		if err != nil || b == nil {
			t.Errorf("%q: %v, %v", tt.sql, b, err)
			continue
		}
		if b.kind != tt.kind || b.key != tt.key || b.value != tt.value || b.tag != tt.tag {
			t.Errorf("%q = %+v", tt.sql, *b)
		}
	}
	for _, sql := range []string{"SHOW TABLES", "SHOW MEASURES FROM iot.telemetry", "select 1", "starting", "COMMIT PREPARED 'x'"} {
		if b, err := parseBuiltin(sql, sess); b != nil || err != nil {
			t.Errorf("%q is not a builtin: %+v %v", sql, b, err)
		}
	}
	if _, err := parseBuiltin("SET x", sess); err == nil {
		t.Error("SET x: no error")
	}
	if v, _ := sess.Setting("server_version_num"); v != "160002" {
		t.Errorf("server_version_num = %q", v)
	}
}

func TestDecodeParam(t *testing.T) {
	tests := []struct {
		t      Type
		format int16
		in     []byte
		want   any
		code   string
	}{
		{TypeInt64, 0, []byte(" 42 "), int64(42), ""},
		{TypeInt64, 1, []byte{0xff, 0xfe}, int64(-2), ""},
		{TypeInt64, 1, []byte{0, 0, 0, 7}, int64(7), ""},
		{TypeInt64, 0, []byte("99999999999999999999"), nil, "22003"},
		{TypeFloat64, 0, []byte("NaN"), nil, ""}, // NaN != NaN; checked below
		{TypeFloat64, 1, []byte{0x40, 0x20, 0, 0}, float64(2.5), ""},
		{TypeBool, 0, []byte("yes"), true, ""},
		{TypeBool, 0, []byte("maybe"), nil, "22P02"},
		{TypeText, 1, []byte("héllo"), "héllo", ""},
		{TypeTimestamp, 0, []byte("2026-01-02T03:04:05.123456789Z"), time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.UTC).UnixNano(), ""},
		{TypeTimestampTZ, 0, []byte("2026-01-02 05:04:05+02"), time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).UnixNano(), ""},
		{TypeDate, 0, []byte("2026-01-02"), time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC).UnixNano(), ""},
		{TypeDate, 1, []byte{0, 0, 0, 1}, time.Date(2000, 1, 2, 0, 0, 0, 0, time.UTC).UnixNano(), ""},
		{TypeTimestamp, 1, []byte{0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, nil, "22008"}, // infinity
		{TypeTimestamp, 0, []byte("9999-01-01"), nil, "22008"},
		{TypeInterval, 1, []byte{0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0}, int64(24*time.Hour + time.Microsecond), ""},
		{TypeUnknown, 1, []byte{1}, "\x01", ""},
		{TypeInt64, 2, []byte("1"), nil, "08P01"},
	}
	for _, tt := range tests {
		p, err := decodeParam(tt.t, tt.format, tt.in)
		if tt.code != "" {
			if errCode(err) != tt.code {
				t.Errorf("%v %q: error %v, want %s", tt.t, tt.in, err, tt.code)
			}
			continue
		}
		if err != nil {
			t.Errorf("%v %q: %v", tt.t, tt.in, err)
			continue
		}
		if tt.want == nil {
			if f, ok := p.Value.(float64); !ok || !math.IsNaN(f) {
				t.Errorf("%v %q = %v", tt.t, tt.in, p.Value)
			}
			continue
		}
		if p.Value != tt.want {
			t.Errorf("%v %q = %#v, want %#v", tt.t, tt.in, p.Value, tt.want)
		}
	}
	if p, _ := decodeParam(TypeInt64, 0, nil); p.Value != nil {
		t.Error("NULL decoded as a value")
	}
}
