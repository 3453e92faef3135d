package parse_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/sluice-dev/sluice/internal/sql/parse"
)

func TestErrors(t *testing.T) {
	tests := []struct {
		in        string
		line, col int
		msg       string   // substring of Msg
		expected  []string // nil: not checked
	}{
		{"SELECT FROM t", 1, 8, "expected expression, found FROM", []string{"expression"}},
		{"SELECT a FROM", 1, 14, "found end of input", []string{"table name", "subquery"}},
		{"SELECT a FROM t WHERE", 1, 22, "expected expression", nil},
		{"SELECT a b c FROM t", 1, 12, `expected ";" or end of input, found identifier "c"`, []string{`";"`, "end of input"}},
		{"SELECT a FROM t GROUP a", 1, 23, "expected BY", []string{"BY"}},
		{"SELECT a FROM t ORDER BY a NULLS", 1, 33, "expected FIRST or LAST", []string{"FIRST", "LAST"}},
		{"SELECT * FROM a JOIN b", 1, 23, "expected ON or USING", []string{"ON", "USING"}},
		{"SELECT (1 + 2", 1, 14, `expected ")"`, []string{`")"`}},
		{"SELECT f(1, 2", 1, 14, `expected ")"`, nil},
		{"SELECT CASE a END", 1, 15, "expected WHEN", nil},
		{"SELECT CASE WHEN a THEN b", 1, 26, "expected WHEN, ELSE or END", nil},
		{"SELECT CAST(a AS blob)", 1, 18, `unknown type "blob"`, nil},
		{"SELECT a::geometry FROM t", 1, 11, `unknown type "geometry"`, nil},
		{"SELECT 'abc", 1, 8, "unterminated string", nil},
		{`SELECT "abc`, 1, 8, "unterminated quoted identifier", nil},
		{`SELECT ""`, 1, 8, "zero-length quoted identifier", nil},
		{"SELECT 1 /* open", 1, 10, "unterminated /* comment", nil},
		{"SELECT 5x", 1, 8, `invalid number or duration "5x"`, nil},
		{"SELECT 1.5h", 1, 8, `invalid number or duration "1.5h"`, nil},
		{"SELECT 2days", 1, 8, `"2days"`, nil},
		{"SELECT 99999999999999999999d", 1, 8, "duration out of range", nil},
		{"SELECT a\nFROM t\nWHERE a = ‘x’", 3, 11, "typographic quote ‘ (use ASCII ')", nil},
		{"SELECT “a” FROM t", 1, 8, `typographic quote “ (use ASCII ")`, nil},
		{"SELECT * FROM $__database.$__table", 1, 15, `unexpanded macro or template variable "$__database"`, nil},
		{"SELECT a FROM t WHERE $__timeFilter(ts)", 1, 23, `"$__timeFilter"`, nil},
		{"SELECT $0", 1, 8, "parameter number out of range", nil},
		{"SELECT a FROM t WHERE a IS 5", 1, 28, "expected NULL or DISTINCT FROM", nil},
		{"SELECT a FROM t WHERE a BETWEEN 1", 1, 34, "expected AND", nil},
		{"SELECT 1 UNION", 1, 15, "expected SELECT or \"(\"", nil},
		{"WITH x AS SELECT 1 SELECT 2", 1, 11, `expected "("`, nil},
		{"UPDATE t SET a = 1", 1, 1, "expected SELECT, WITH, SHOW, DESCRIBE, EXPLAIN, SET, CREATE, DROP or MSCK, found identifier \"UPDATE\"", nil},
		{"SHOW MEASURES db.t", 1, 15, "expected FROM", nil},
		{"SHOW TABLES LIKE x", 1, 18, "expected string", nil},
		{"SET x", 1, 6, `expected "=" or TO`, nil},
		{"SELECT a FROM t LIMIT 1 OFFSET", 1, 31, "expected expression", nil},
		{"SELECT count(*) OVER (ROWS 1)", 1, 29, "expected PRECEDING or FOLLOWING", nil},
		{"SELECT a FROM t; SELEC b", 1, 18, "expected SELECT", nil},
		{"SELECT a FROM select", 1, 15, "found SELECT", nil},
		{"SELECT a AS from FROM t", 1, 13, "expected alias, found FROM", nil},
		{"SELECT #", 1, 8, `unexpected character "#"`, nil},
		{"SELECT (SELECT 1 ORDER BY 1) ORDER BY 2 FROM t", 1, 41, `expected ";" or end of input`, nil},
		{"(SELECT 1 LIMIT 1) LIMIT 2", 1, 2, "clause given both inside and outside the parentheses", nil},
		{"SELECT a\n  FROM t\n  WHERE (a = 1", 3, 15, `expected ")", found end of input`, nil},
		{"SELECT\tä, €", 1, 11, `unexpected character "€"`, nil},
		{"SELECT " + strings.Repeat("(", 1000) + "1" + strings.Repeat(")", 1000), 1, 0, "nested too deeply", nil},
		{"SELECT " + strings.Repeat("- ", 2000) + "1", 1, 0, "nested too deeply", nil},
	}
	for _, tt := range tests {
		_, err := parse.Parse(tt.in)
		var perr *parse.Error
		if !errors.As(err, &perr) {
			t.Errorf("Parse(%q) = %v, want *parse.Error", tt.in, err)
			continue
		}
		if perr.Line != tt.line || tt.col != 0 && perr.Col != tt.col || !strings.Contains(perr.Msg, tt.msg) {
			t.Errorf("Parse(%q):\n got: %d:%d %s\nwant: %d:%d …%s…", tt.in, perr.Line, perr.Col, perr.Msg, tt.line, tt.col, tt.msg)
		}
		if tt.expected != nil && !reflect.DeepEqual(perr.Expected, tt.expected) {
			t.Errorf("Parse(%q): Expected = %q, want %q", tt.in, perr.Expected, tt.expected)
		}
		if l, c := parse.Position(tt.in, perr.Offset); l != perr.Line || c != perr.Col {
			t.Errorf("Parse(%q): Offset %d is %d:%d, error says %d:%d", tt.in, perr.Offset, l, c, perr.Line, perr.Col)
		}
	}
}

func TestErrorString(t *testing.T) {
	_, err := parse.Parse("SELECT a FROM t WHERE")
	want := "syntax error at line 1, column 22: expected expression, found end of input"
	if err == nil || err.Error() != want {
		t.Errorf("got %v, want %s", err, want)
	}
	if _, err := parse.ParseExpr("a +"); err == nil {
		t.Error("ParseExpr accepted a dangling operator")
	}
	if _, err := parse.ParseExpr("a b"); err == nil || !strings.Contains(err.Error(), "expected end of input") {
		t.Errorf("ParseExpr(a b) = %v", err)
	}
}
