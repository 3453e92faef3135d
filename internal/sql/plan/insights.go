package plan

import (
	"context"
	"fmt"
	"strings"

	"github.com/sluice-dev/sluice/internal/columnar"
	"github.com/sluice-dev/sluice/internal/sql/parse"
)

// The insight table functions, anomalies(…) and forecast(…), read one
// relation of (time, value) rows, optionally with key columns that split it
// into several series, and return per point: the keys, time, value,
// expected, lower, upper, score, is_anomaly. The relation is either a query,
//
//	anomalies(SELECT time, measure_value::double FROM iot.telemetry WHERE …)
//
// or named by table, measure and dimension values,
//
//	forecast(table => 'iot.telemetry', measure => 'temperature',
//	         DeviceID => 'dev-0001', horizon => 48, level => 95)
//
// Options are named (sensitivity; horizon, level, model, period) or follow
// a parenthesized query positionally: anomalies((q), sensitivity),
// forecast((q), horizon, level). A query written without parentheses runs
// to the closing parenthesis (its FROM, GROUP BY and ORDER BY lists take
// commas), so named options go before it:
//
//	forecast(horizon => 48, level => 95, SELECT time, value FROM …)
//
// The executor gets its options as constant arguments in the order
// of InsightArgs, NULL where not given.

// InsightArgs lists, per insight function, the options passed to the
// executor as TableFunc.Args, in order.
var InsightArgs = map[string][]string{
	"anomalies": {"sensitivity"},
	"forecast":  {"horizon", "level", "model", "period"},
}

// InsightColumns are the columns an insight function appends to the keys.
var InsightColumns = []Column{
	{Name: "time", Type: columnar.Timestamp},
	{Name: "value", Type: columnar.Float64},
	{Name: "expected", Type: columnar.Float64},
	{Name: "lower", Type: columnar.Float64},
	{Name: "upper", Type: columnar.Float64},
	{Name: "score", Type: columnar.Float64},
	{Name: "is_anomaly", Type: columnar.Bool},
}

// InsightInput finds the time and value columns of an insight function's
// input: the first TIMESTAMP column and the first numeric column. Every
// other column is a key. ok is false when either is missing.
func InsightInput(types []columnar.Type) (timeCol, valueCol int, ok bool) {
	timeCol, valueCol = -1, -1
	for i, t := range types {
		switch {
		case t == columnar.Timestamp && timeCol < 0:
			timeCol = i
		case (t == columnar.Float64 || t == columnar.Int64) && valueCol < 0:
			valueCol = i
		}
	}
	return timeCol, valueCol, timeCol >= 0 && valueCol >= 0
}

func (b *Binder) bindInsights(ctx context.Context, r *parse.TableFunc) (Node, *scope, error) {
	f := r.Func
	name := f.Name.Norm
	if f.Over != nil || f.Star || f.Distinct || f.Filter != nil {
		return nil, nil, errAt(r, "0A000", "%s is not allowed in FROM", f.String())
	}
	opts := InsightArgs[name]
	var (
		query      parse.Query
		positional []parse.Expr
		named      = map[string]parse.Expr{}
		dims       []*parse.NamedArg
	)
	for _, a := range f.Args {
		switch a := a.(type) {
		case *parse.Subquery:
			if query != nil || len(positional) > 0 {
				return nil, nil, errAt(a, "42601", "%s: the query must be the first argument after any named options", name)
			}
			query = a.Query
		case *parse.NamedArg:
			key := strings.ToLower(a.Name.Name)
			switch {
			case key == "table" || key == "measure" || key == "from" || key == "to" || contains(opts, key):
				if _, dup := named[key]; dup {
					return nil, nil, errAt(a, "42601", "%s: argument %s is given twice", name, key)
				}
				named[key] = a.Value
			default:
				dims = append(dims, a)
			}
		default:
			if query == nil {
				return nil, nil, errAt(a, "42601", "%s: the first argument must be a query (SELECT time, value …) or table => 'db.table'", name)
			}
			positional = append(positional, a)
		}
	}
	if len(positional) > len(opts) {
		return nil, nil, errAt(r, "42601", "%s takes at most %d options after the query (%s), got %d", name, len(opts), strings.Join(opts, ", "), len(positional))
	}
	if query == nil {
		var err error
		if query, err = b.insightQuery(ctx, r, named, dims); err != nil {
			return nil, nil, err
		}
	} else if len(dims) > 0 || named["table"] != nil || named["measure"] != nil || named["from"] != nil || named["to"] != nil {
		bad := "table"
		if len(dims) > 0 {
			bad = dims[0].Name.Name
		}
		return nil, nil, errAt(r, "42601", "%s: argument %s does not go with a query; put the condition into the query", name, bad)
	}
	in, err := b.bindQuery(ctx, query)
	if err != nil {
		return nil, nil, err
	}
	schema := in.Schema()
	types := make([]columnar.Type, len(schema))
	for i, c := range schema {
		types[i] = c.Type
	}
	tc, vc, ok := InsightInput(types)
	if !ok {
		return nil, nil, errAt(r, "42804", "%s: the query must return a TIMESTAMP column and a numeric (DOUBLE or BIGINT) column, got %s", name, describeSchema(schema))
	}
	tf := &TableFunc{Name: name, Input: in}
	for i, c := range schema {
		if i != tc && i != vc {
			tf.Cols = append(tf.Cols, Column{Name: c.Name, Type: c.Type})
		}
	}
	tf.Cols = append(tf.Cols, InsightColumns...)
	for i, o := range opts {
		var e parse.Expr
		if i < len(positional) {
			e = positional[i]
		}
		if n, ok := named[o]; ok {
			if e != nil {
				return nil, nil, errAt(n, "42601", "%s: %s is given both by position and by name", name, o)
			}
			e = n
		}
		if e == nil {
			tf.Args = append(tf.Args, &Const{T: columnar.Unknown})
			continue
		}
		x, err := b.bindExpr(ctx, e, &scope{}, nil)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %s: %w", name, o, err)
		}
		if _, isConst := x.(*Const); !isConst {
			return nil, nil, errAt(e, "42601", "%s: %s must be a constant", name, o)
		}
		tf.Args = append(tf.Args, x)
	}
	qualifier := name
	if !r.Alias.Name.IsZero() {
		qualifier = r.Alias.Name.Name
	}
	return aliased(tf, r.Alias, qualifier)
}

// insightQuery builds SELECT time, <measure column> FROM table WHERE
// measure_name = measure AND dim = value … [AND time >= from] [AND time <=
// to] for the table form of an insight function.
func (b *Binder) insightQuery(ctx context.Context, r *parse.TableFunc, named map[string]parse.Expr, dims []*parse.NamedArg) (parse.Query, error) {
	name := r.Func.Name.Norm
	str := func(key string) (string, error) {
		e := named[key]
		if e == nil {
			return "", errAt(r, "42601", "%s needs a query or table => 'db.table' and measure => 'name'", name)
		}
		lit, ok := e.(*parse.Literal)
		if !ok || lit.Kind != parse.LitString {
			return "", errAt(e, "42601", "%s: %s must be a string literal", name, key)
		}
		return lit.Value, nil
	}
	table, err := str("table")
	if err != nil {
		return nil, err
	}
	measure, err := str("measure")
	if err != nil {
		return nil, err
	}
	db, tbl := b.DefaultDatabase, table
	if i := strings.LastIndexByte(table, '.'); i >= 0 {
		db, tbl = table[:i], table[i+1:]
	}
	if db == "" {
		return nil, errAt(named["table"], "42601", "%s: table %q has no database; write db.table", name, table)
	}
	t, err := b.Catalog.Table(ctx, db, tbl)
	if err != nil {
		return nil, errAt(named["table"], "42P01", "%s: %v", name, err)
	}
	// A multi-measure table has a column per measure; a single-measure one
	// keeps the value in measure_value::double.
	valueCol := "measure_value::double"
	for _, c := range t.Columns() {
		if strings.EqualFold(c.Name, measure) {
			valueCol = c.Name
		}
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "SELECT time, %s AS value FROM %s.%s WHERE ", quoteIdent(valueCol), quoteIdent(db), quoteIdent(tbl))
	if valueCol == "measure_value::double" {
		fmt.Fprintf(&sb, "measure_name = %s", quoteString(measure))
	} else {
		fmt.Fprintf(&sb, "%s IS NOT NULL", quoteIdent(valueCol))
	}
	for _, d := range dims {
		lit, ok := d.Value.(*parse.Literal)
		if !ok || lit.Kind != parse.LitString {
			return nil, errAt(d.Value, "42601", "%s: dimension %s must be compared with a string literal", name, d.Name.Name)
		}
		fmt.Fprintf(&sb, " AND %s = %s", quoteIdent(d.Name.Name), quoteString(lit.Value))
	}
	for _, k := range []string{"from", "to"} {
		if e := named[k]; e != nil {
			op := ">="
			if k == "to" {
				op = "<="
			}
			fmt.Fprintf(&sb, " AND time %s (%s)", op, e.String())
		}
	}
	stmt, err := parse.ParseOne(sb.String())
	if err != nil {
		return nil, errAt(r, "42601", "%s: %v", name, err)
	}
	q, ok := stmt.(parse.Query)
	if !ok {
		return nil, errAt(r, "XX000", "%s: built a %T, not a query", name, stmt)
	}
	return q, nil
}

func quoteIdent(s string) string  { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }
func quoteString(s string) string { return `'` + strings.ReplaceAll(s, `'`, `''`) + `'` }

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func describeSchema(cols []Column) string {
	parts := make([]string, len(cols))
	for i, c := range cols {
		parts[i] = c.Name + " " + c.Type.String()
	}
	return "(" + strings.Join(parts, ", ") + ")"
}
