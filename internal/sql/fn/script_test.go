package fn_test

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluice-dev/sluice/internal/columnar"
	"github.com/sluice-dev/sluice/internal/sql/fn"
)

// TestScripts runs testdata/*.txt: one case a line, `expr => result`.
// expr is a literal or name(args...) where name is a function or operator
// (`+(1, 2)`, `is null(NULL)`); cast(x, TYPE) and try_cast(x, TYPE) cast.
// Literals: 12 (BIGINT), 1.5 (DOUBLE), 'text', true, false, NULL,
// ts'2020-01-01 00:00:00', date'2020-01-01', iv'5m'. result is `TYPE value`
// as fn.FormatValue prints it, `NULL`, or `error: substring`.
// Every case is evaluated twice: with one-row constant arguments broadcast
// to three rows, and with arguments materialised to three rows.
func TestScripts(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.txt")
	if len(files) == 0 {
		t.Fatal("no scripts")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			fh, err := os.Open(f)
			if err != nil {
				t.Fatal(err)
			}
			defer fh.Close()
			sc := bufio.NewScanner(fh)
			line := 0
			for sc.Scan() {
				line++
				text := strings.TrimSpace(sc.Text())
				if text == "" || strings.HasPrefix(text, "#") {
					continue
				}
				expr, want, ok := strings.Cut(text, "=>")
				if !ok {
					t.Errorf("%s:%d: no =>", f, line)
					continue
				}
				want = strings.TrimSpace(want)
				for _, materialise := range []bool{false, true} {
					got := evalScript(strings.TrimSpace(expr), materialise)
					if !matches(got, want) {
						t.Errorf("%s:%d: %s\n got: %s\nwant: %s (materialised=%v)", f, line, expr, got, want, materialise)
					}
				}
			}
		})
	}
}

func matches(got, want string) bool {
	if strings.HasPrefix(want, "error:") {
		return strings.HasPrefix(got, "error:") && strings.Contains(got, strings.TrimSpace(strings.TrimPrefix(want, "error:")))
	}
	return got == want
}

var scriptNow = time.Date(2024, 5, 29, 16, 26, 30, 0, time.UTC)

func evalScript(expr string, materialise bool) (out string) {
	defer func() {
		if r := recover(); r != nil {
			out = fmt.Sprintf("error: panic: %v", r)
		}
	}()
	p := &sparser{s: expr}
	n := 3
	col, err := p.expr(n, materialise, fn.NewContext(scriptNow))
	if err == nil && p.pos != len(p.s) {
		err = fmt.Errorf("trailing input %q", p.s[p.pos:])
	}
	if err != nil {
		return "error: " + err.Error()
	}
	if col.Len() != n && !(col.Type == columnar.Unknown && len(col.Nulls) == n) {
		return fmt.Sprintf("error: result has %d rows, want %d", col.Len(), n)
	}
	first := render(col, 0)
	for i := 1; i < n; i++ {
		if r := render(col, i); r != first {
			return fmt.Sprintf("error: rows differ: %q vs %q", first, r)
		}
	}
	return first
}

func render(c *columnar.Column, i int) string {
	if c.Type == columnar.Unknown || c.IsNull(i) {
		return "NULL"
	}
	return c.Type.String() + " " + fn.FormatValue(c.Type, c.Value(i))
}

type sparser struct {
	s   string
	pos int
}

func (p *sparser) ws() {
	for p.pos < len(p.s) && p.s[p.pos] == ' ' {
		p.pos++
	}
}

func (p *sparser) quoted() (string, error) {
	if p.pos >= len(p.s) || p.s[p.pos] != '\'' {
		return "", fmt.Errorf("want quote at %d", p.pos)
	}
	var b strings.Builder
	for i := p.pos + 1; i < len(p.s); i++ {
		if p.s[i] == '\'' {
			if i+1 < len(p.s) && p.s[i+1] == '\'' {
				b.WriteByte('\'')
				i++
				continue
			}
			p.pos = i + 1
			return b.String(), nil
		}
		b.WriteByte(p.s[i])
	}
	return "", fmt.Errorf("unterminated string")
}

func constCol(t columnar.Type, v any, n int, materialise bool) *columnar.Column {
	rows := 1
	if materialise {
		rows = n
	}
	c := columnar.NewColumn(t, rows)
	for i := 0; i < rows; i++ {
		switch x := v.(type) {
		case nil:
			c.AppendNull()
		case bool:
			c.AppendBool(x)
		case int64:
			c.AppendInt(x)
		case float64:
			c.AppendFloat(x)
		case string:
			c.AppendString(x)
		}
	}
	if t == columnar.Unknown {
		c.Nulls = make([]bool, rows)
		for i := range c.Nulls {
			c.Nulls[i] = true
		}
	}
	return c
}

func (p *sparser) expr(n int, mat bool, ctx *fn.Context) (*columnar.Column, error) {
	p.ws()
	rest := p.s[p.pos:]
	switch {
	case strings.HasPrefix(rest, "'"):
		s, err := p.quoted()
		return constCol(columnar.String, s, n, mat), err
	case strings.HasPrefix(rest, "ts'"), strings.HasPrefix(rest, "date'"), strings.HasPrefix(rest, "iv'"):
		k := strings.IndexByte(rest, '\'')
		kind := rest[:k]
		p.pos += k
		s, err := p.quoted()
		if err != nil {
			return nil, err
		}
		switch kind {
		case "ts":
			v, err := fn.ParseTimestamp(s)
			return constCol(columnar.Timestamp, v, n, mat), err
		case "date":
			v, err := fn.ParseDate(s)
			return constCol(columnar.Date, v, n, mat), err
		default:
			v, err := fn.ParseInterval(s)
			return constCol(columnar.Interval, v, n, mat), err
		}
	}
	// number or word
	end := p.pos
	for end < len(p.s) && p.s[end] != '(' && p.s[end] != ',' && p.s[end] != ')' {
		end++
	}
	word := strings.TrimSpace(p.s[p.pos:end])
	if end < len(p.s) && p.s[end] == '(' && word != "" {
		p.pos = end + 1
		var args []*columnar.Column
		var castTo columnar.Type
		for {
			p.ws()
			if p.pos < len(p.s) && p.s[p.pos] == ')' {
				p.pos++
				break
			}
			if (word == "cast" || word == "try_cast") && len(args) == 1 {
				e := p.pos
				for e < len(p.s) && p.s[e] != ')' {
					e++
				}
				t, err := columnar.ParseType(strings.TrimSpace(p.s[p.pos:e]))
				if err != nil {
					return nil, err
				}
				castTo = t
				p.pos = e
				continue
			}
			a, err := p.expr(n, mat, ctx)
			if err != nil {
				return nil, err
			}
			args = append(args, a)
			p.ws()
			if p.pos < len(p.s) && p.s[p.pos] == ',' {
				p.pos++
			}
		}
		if word == "cast" || word == "try_cast" {
			c, err := fn.Cast(args[0], castTo, word == "try_cast")
			if err != nil {
				return nil, err
			}
			if c.Len() == 1 || (c.Type == columnar.Unknown && len(c.Nulls) == 1) {
				c = fn.Broadcast(c, n)
			}
			return c, nil
		}
		types := make([]columnar.Type, len(args))
		for i, a := range args {
			types[i] = a.Type
		}
		_, impl, err := fn.Resolve(word, types)
		if err != nil {
			return nil, err
		}
		return impl(args, n, ctx)
	}
	p.pos = end
	switch strings.ToLower(word) {
	case "null":
		return constCol(columnar.Unknown, nil, n, mat), nil
	case "true", "false":
		return constCol(columnar.Bool, word == "true", n, mat), nil
	}
	if v, err := strconv.ParseInt(word, 10, 64); err == nil {
		return constCol(columnar.Int64, v, n, mat), nil
	}
	if v, err := strconv.ParseFloat(word, 64); err == nil {
		return constCol(columnar.Float64, v, n, mat), nil
	}
	return nil, fmt.Errorf("bad literal %q", word)
}
