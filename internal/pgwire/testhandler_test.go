package pgwire

import (
	"context"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sluice-dev/sluice/internal/columnar"
)

// TestHandler is a small real Handler for the tests (exported so that the
// pgwire_test package can use it): it answers a fixed set of statements
// from in-memory columnar batches and fails others with SQLSTATEs, like an
// engine would.
//
//	SELECT 1                        one bigint column "?column?"
//	SELECT fail()                   a plain Go error (XX000)
//	SELECT * FROM types             every wire type, incl. NULLs and special floats
//	SELECT * FROM series(N)         N rows (i bigint, t timestamp, v double, s text), in batches of 1000
//	SELECT sleep(MS)                waits MS milliseconds or until cancelled
//	SELECT $1::bigint AS a, ...     echoes its parameters (types from the casts)
//	SELECT version() / current_database() / current_setting('x')
//	SELECT * FROM <other>           42P01 undefined_table, positioned at <other>
//	anything else                   42601 syntax_error at character 1
type TestHandler struct {
	mu       sync.Mutex
	Queries  []string      // statements received by Query, in order
	Params   [][]Param     // their parameters
	sleeping chan struct{} // receives when a sleep starts
}

// NewTestHandler returns an empty TestHandler.
func NewTestHandler() *TestHandler { return &TestHandler{sleeping: make(chan struct{}, 16)} }

// Sleeping returns a channel that receives whenever a sleep() starts.
func (h *TestHandler) Sleeping() <-chan struct{} { return h.sleeping }

// LastQuery returns the last statement received by Query.
func (h *TestHandler) LastQuery() (string, []Param) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.Queries) == 0 {
		return "", nil
	}
	return h.Queries[len(h.Queries)-1], h.Params[len(h.Params)-1]
}

var (
	reSeries  = regexp.MustCompile(`^select \* from series\((\d+)\)$`)
	reSleep   = regexp.MustCompile(`^select sleep\((\d+)\)$`)
	reFrom    = regexp.MustCompile(`(?i)\bfrom\s+([a-z_][a-z0-9_.]*)`)
	reEcho    = regexp.MustCompile(`\$(\d+)(?:::([a-z ]+?))?(?: as ([a-z_0-9]+))?\s*(?:,|$)`)
	reSetting = regexp.MustCompile(`^select current_setting\( ?'([^']*)' ?\)$`)
)

var echoTypes = map[string]Type{
	"bigint": TypeInt64, "int8": TypeInt64, "int": TypeInt64, "integer": TypeInt64,
	"double": TypeFloat64, "float8": TypeFloat64, "double precision": TypeFloat64,
	"text": TypeText, "varchar": TypeText, "bool": TypeBool, "boolean": TypeBool,
	"timestamp": TypeTimestamp, "timestamptz": TypeTimestampTZ, "date": TypeDate, "interval": TypeInterval,
}

func norm(sql string) string { return strings.Join(strings.Fields(strings.ToLower(sql)), " ") }

// TypesColumns and TypesBatch are the content of "types".
var TypesColumns = []Column{
	{"b", TypeBool}, {"i", TypeInt64}, {"f", TypeFloat64}, {"s", TypeText},
	{"ts", TypeTimestamp}, {"tstz", TypeTimestampTZ}, {"d", TypeDate}, {"iv", TypeInterval},
}

// TypesTS is the timestamp of the first row of "types".
var TypesTS = time.Date(2026, 11, 26, 10, 0, 0, 123456789, time.UTC)

func typesBatch() *columnar.Batch {
	b := &columnar.Batch{}
	cb := b.Add("b", columnar.NewColumn(columnar.Bool, 4))
	ci := b.Add("i", columnar.NewColumn(columnar.Int64, 4))
	cf := b.Add("f", columnar.NewColumn(columnar.Float64, 4))
	cs := b.Add("s", columnar.NewColumn(columnar.String, 4))
	cts := b.Add("ts", columnar.NewColumn(columnar.Timestamp, 4))
	ctz := b.Add("tstz", columnar.NewColumn(columnar.Timestamp, 4))
	cd := b.Add("d", columnar.NewColumn(columnar.Timestamp, 4))
	civ := b.Add("iv", columnar.NewColumn(columnar.Int64, 4))
	// Row 0: ordinary values.
	cb.AppendBool(true)
	ci.AppendInt(-42)
	cf.AppendFloat(0.1)
	cs.AppendString("héllo, 'world'")
	cts.AppendInt(TypesTS.UnixNano())
	ctz.AppendInt(TypesTS.UnixNano())
	cd.AppendInt(TypesTS.UnixNano())
	civ.AppendInt(int64(26*time.Hour + 3*time.Second + 500*time.Millisecond))
	// Row 1: NULLs everywhere.
	for _, c := range b.Cols {
		c.AppendNull()
	}
	// Row 2: extremes.
	cb.AppendBool(false)
	ci.AppendInt(math.MaxInt64)
	cf.AppendFloat(math.Inf(-1))
	cs.AppendString("")
	cts.AppendInt(0)
	ctz.AppendInt(-1) // 1969-12-31 23:59:59.999999999 → truncated to µs downwards
	cd.AppendInt(-nsPerDay)
	civ.AppendInt(-int64(time.Second))
	// Row 3: more floats.
	cb.AppendBool(true)
	ci.AppendInt(math.MinInt64)
	cf.AppendFloat(math.NaN())
	cs.AppendString("x")
	cts.AppendInt(1e15)
	ctz.AppendInt(1e15)
	cd.AppendInt(1e15)
	civ.AppendInt(0)
	return b
}

// Query implements Handler.
func (h *TestHandler) Query(ctx context.Context, s *Session, sql string, params []Param) (Rows, string, error) {
	h.mu.Lock()
	h.Queries = append(h.Queries, sql)
	h.Params = append(h.Params, params)
	h.mu.Unlock()
	_, cols, err := h.Describe(ctx, s, sql, nil)
	if err != nil {
		return nil, "", err
	}
	n := norm(sql)
	switch {
	case n == "select fail()":
		return nil, "", fmt.Errorf("test handler: failed on purpose")
	case n == "select 1":
		c := columnar.NewColumn(columnar.Int64, 1)
		c.AppendInt(1)
		return rowsOf(cols, c), "", nil
	case n == "select version()":
		v, _ := s.Setting("server_version")
		return textRows(cols, "PostgreSQL "+v+" on sluice"), "", nil
	case n == "select current_database()":
		return textRows(cols, s.Database), "", nil
	case reSetting.MatchString(n):
		v, _ := s.Setting(reSetting.FindStringSubmatch(n)[1])
		return textRows(cols, v), "", nil
	case n == "select * from types":
		return &TestRows{Cols: cols, Batches: []*columnar.Batch{typesBatch()}}, "", nil
	case reSeries.MatchString(n):
		total, _ := strconv.Atoi(reSeries.FindStringSubmatch(n)[1])
		return &seriesRows{cols: cols, total: total}, "", nil
	case reSleep.MatchString(n):
		ms, _ := strconv.Atoi(reSleep.FindStringSubmatch(n)[1])
		select {
		case h.sleeping <- struct{}{}:
		default:
		}
		select {
		case <-time.After(time.Duration(ms) * time.Millisecond):
		case <-ctx.Done():
			return nil, "", ctx.Err()
		}
		c := columnar.NewColumn(columnar.Int64, 1)
		c.AppendInt(int64(ms))
		return rowsOf(cols, c), "", nil
	case strings.HasPrefix(n, "select $"):
		b := &columnar.Batch{}
		for i, col := range cols {
			cc := columnar.NewColumn(col.Type.Columnar(), 1)
			var p Param
			if i < len(params) {
				p = params[i]
			}
			if p.Value == nil {
				cc.AppendNull()
			} else {
				switch v := p.Value.(type) {
				case bool:
					cc.Bools = append(cc.Bools, v)
				case int64:
					cc.Ints = append(cc.Ints, v)
				case float64:
					cc.Floats = append(cc.Floats, v)
				case string:
					cc.Strs = append(cc.Strs, v)
				}
				if p.Type != col.Type && !(p.Type == TypeUnknown && col.Type == TypeText) {
					return nil, "", &Error{Code: CodeDatatypeMismatch, Message: fmt.Sprintf("parameter $%d is %v, want %v", i+1, p.Type, col.Type)}
				}
			}
			b.Add(col.Name, cc)
		}
		return &TestRows{Cols: cols, Batches: []*columnar.Batch{b}}, "", nil
	}
	return nil, "", fmt.Errorf("test handler: no rows for %q", sql)
}

// Describe implements Handler.
func (h *TestHandler) Describe(ctx context.Context, s *Session, sql string, paramTypes []Type) ([]Type, []Column, error) {
	n := norm(sql)
	switch {
	case n == "select 1":
		return nil, []Column{{"?column?", TypeInt64}}, nil
	case n == "select version()":
		return nil, []Column{{"version", TypeText}}, nil
	case n == "select fail()":
		return nil, []Column{{"fail", TypeText}}, nil
	case n == "select current_database()":
		return nil, []Column{{"current_database", TypeText}}, nil
	case reSetting.MatchString(n):
		return nil, []Column{{"current_setting", TypeText}}, nil
	case n == "select * from types":
		return nil, TypesColumns, nil
	case reSeries.MatchString(n):
		return nil, []Column{{"i", TypeInt64}, {"t", TypeTimestamp}, {"v", TypeFloat64}, {"s", TypeText}}, nil
	case reSleep.MatchString(n):
		return nil, []Column{{"sleep", TypeInt64}}, nil
	case strings.HasPrefix(n, "select $"):
		var params []Type
		var cols []Column
		for _, m := range reEcho.FindAllStringSubmatch(strings.TrimPrefix(n, "select "), -1) {
			t, ok := echoTypes[m[2]]
			if m[2] == "" {
				t, ok = TypeUnknown, true
			}
			if !ok {
				return nil, nil, &Error{Code: CodeUndefinedObject, Message: fmt.Sprintf("type %q does not exist", m[2])}
			}
			params = append(params, t)
			name := m[3]
			if name == "" {
				name = "?column?"
			}
			ct := t
			if ct == TypeUnknown {
				ct = TypeText
			}
			cols = append(cols, Column{name, ct})
		}
		return params, cols, nil
	}
	if m := reFrom.FindStringSubmatchIndex(sql); m != nil && strings.HasPrefix(n, "select") {
		return nil, nil, &Error{Code: CodeUndefinedTable, Message: fmt.Sprintf("relation %q does not exist", sql[m[2]:m[3]]), Position: len([]rune(sql[:m[2]])) + 1}
	}
	return nil, nil, &Error{Code: CodeSyntaxError, Message: fmt.Sprintf("syntax error at or near %q", strings.Fields(sql + " x")[0]), Position: 1}
}

func rowsOf(cols []Column, c *columnar.Column) Rows {
	b := &columnar.Batch{}
	b.Add(cols[0].Name, c)
	return &TestRows{Cols: cols, Batches: []*columnar.Batch{b}}
}

func textRows(cols []Column, v string) Rows {
	c := columnar.NewColumn(columnar.String, 1)
	c.AppendString(v)
	return rowsOf(cols, c)
}

// TestRows serves fixed batches.
type TestRows struct {
	Cols    []Column
	Batches []*columnar.Batch
	Closed  bool
}

func (r *TestRows) Columns() []Column { return r.Cols }

func (r *TestRows) Next(ctx context.Context) (*columnar.Batch, error) {
	if len(r.Batches) == 0 {
		return nil, nil
	}
	b := r.Batches[0]
	r.Batches = r.Batches[1:]
	return b, nil
}

func (r *TestRows) Close() error { r.Closed = true; return nil }

// seriesRows generates rows in batches of 1000, reusing one batch.
type seriesRows struct {
	cols  []Column
	total int
	next  int
	batch *columnar.Batch
}

func (r *seriesRows) Columns() []Column { return r.cols }

func (r *seriesRows) Next(ctx context.Context) (*columnar.Batch, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if r.next >= r.total {
		return nil, nil
	}
	if r.batch == nil {
		r.batch = &columnar.Batch{}
		r.batch.Add("i", columnar.NewColumn(columnar.Int64, 1000))
		r.batch.Add("t", columnar.NewColumn(columnar.Timestamp, 1000))
		r.batch.Add("v", columnar.NewColumn(columnar.Float64, 1000))
		r.batch.Add("s", columnar.NewColumn(columnar.String, 1000))
	}
	for _, c := range r.batch.Cols {
		c.Reset()
	}
	base := TypesTS.UnixNano()
	for k := 0; k < 1000 && r.next < r.total; k++ {
		i := int64(r.next)
		r.batch.Cols[0].AppendInt(i)
		r.batch.Cols[1].AppendInt(base + i*int64(time.Second))
		r.batch.Cols[2].AppendFloat(float64(i) * 0.5)
		r.batch.Cols[3].AppendString("device-" + strconv.Itoa(r.next%100))
		r.next++
	}
	return r.batch, nil
}

func (r *seriesRows) Close() error { return nil }
