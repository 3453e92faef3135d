package parse_test

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/sluice-dev/sluice/internal/sql/parse"
)

// FuzzParse checks that no input makes the parser panic or report an
// internal error, and that for every input that parses, print → parse →
// print is a fixed point that keeps the tree. ParseExpr gets the same input.
//
//	go test ./internal/sql/parse -run '^$' -fuzz FuzzParse -fuzztime 60s
func FuzzParse(f *testing.F) {
	for _, tt := range parseTests {
		f.Add(tt.in)
	}
	files, _ := filepath.Glob("testdata/*.sql")
	for _, path := range files {
		b, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
		for _, part := range strings.Split(string(b), ";") {
			f.Add(part)
		}
	}
	for _, in := range []string{"a OR b AND NOT c = d IS NULL", "x -> x.value > 1", "-(-1)::int", "s[1][2] || 'x'"} {
		f.Add(in)
	}
	f.Fuzz(func(t *testing.T, sql string) {
		stmts, err := parse.Parse(sql)
		if err != nil {
			if strings.Contains(err.Error(), "internal parser error") {
				t.Fatalf("Parse(%q): %v", sql, err)
			}
		}
		for _, st := range stmts {
			s1 := st.String()
			again, err := parse.ParseOne(s1)
			if err != nil {
				t.Fatalf("Parse(%q) printed %q, which does not parse: %v", sql, s1, err)
			}
			if s2 := again.String(); s2 != s1 {
				t.Fatalf("Parse(%q): print is not a fixed point:\n%s\n%s", sql, s1, s2)
			}
			if !reflect.DeepEqual(stripPos(st), stripPos(again)) {
				t.Fatalf("Parse(%q): printed %q parses to a different tree", sql, s1)
			}
		}
		e, err := parse.ParseExpr(sql)
		if err != nil {
			if strings.Contains(err.Error(), "internal parser error") {
				t.Fatalf("ParseExpr(%q): %v", sql, err)
			}
			return
		}
		s1 := e.String()
		again, err := parse.ParseExpr(s1)
		if err != nil {
			t.Fatalf("ParseExpr(%q) printed %q, which does not parse: %v", sql, s1, err)
		}
		if s2 := again.String(); s2 != s1 {
			t.Fatalf("ParseExpr(%q): print is not a fixed point:\n%s\n%s", sql, s1, s2)
		}
		if !reflect.DeepEqual(stripPos(e), stripPos(again)) {
			t.Fatalf("ParseExpr(%q): printed %q parses to a different tree", sql, s1)
		}
	})
}
