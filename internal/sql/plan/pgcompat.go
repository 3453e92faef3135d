package plan

// PostgreSQL forms that wire-protocol clients send in their catalog
// queries (Grafana's PostgreSQL data source above all; reference/grafana.md
// §1.4): session functions (current_setting, user, version(), ...), array
// subscripts over the text arrays of sql/fn, and functions in FROM
// (generate_series, and any scalar function as a one-row table).
//
// Nothing here recognises query texts: Grafana's search_path constraint
//
//	quote_ident(table_schema) IN (
//	  SELECT CASE WHEN trim(s[i]) = '"$user"' THEN user ELSE trim(s[i]) END
//	  FROM generate_series(array_lower(string_to_array(current_setting('search_path'),','),1),
//	                       array_upper(string_to_array(current_setting('search_path'),','),1)) as i,
//	       string_to_array(current_setting('search_path'),',') s)
//
// runs as PostgreSQL runs it: current_setting folds to the session's value
// at bind time, string_to_array gives a text array, generate_series a
// table, the scalar function in FROM a one-row table, and s[i] picks the
// element.

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"

	"github.com/sluice-dev/sluice/internal/columnar"
	"github.com/sluice-dev/sluice/internal/sql/fn"
	"github.com/sluice-dev/sluice/internal/sql/parse"
)

func (b *Binder) setting(name string) (string, bool) {
	if b.Setting == nil {
		return "", false
	}
	return b.Setting(name)
}

func (b *Binder) sessionUser() string {
	if v, ok := b.setting("session_authorization"); ok && v != "" {
		return v
	}
	return "sluice"
}

func strConst(s string) *Const { return &Const{Val: s, T: columnar.String} }

// searchPath returns the schemas of the session's search_path, "$user"
// replaced by the session user, quoted names unquoted, others folded to
// lower case.
func (b *Binder) searchPath() []string {
	v, ok := b.setting("search_path")
	if !ok {
		return nil
	}
	var out []string
	for _, part := range strings.Split(v, ",") {
		part = strings.TrimSpace(part)
		switch {
		case part == `"$user"` || part == "$user":
			out = append(out, b.sessionUser())
		case len(part) >= 2 && part[0] == '"' && part[len(part)-1] == '"':
			out = append(out, strings.ReplaceAll(part[1:len(part)-1], `""`, `"`))
		case part != "":
			out = append(out, strings.ToLower(part))
		}
	}
	return out
}

// sessionIdent binds the SQL keywords PostgreSQL evaluates without
// parentheses (user, current_user, ...); ok is false for other names.
func (b *Binder) sessionIdent(name string) (Expr, bool) {
	switch name {
	case "user", "current_user", "session_user", "current_role":
		return strConst(b.sessionUser()), true
	case "current_schema":
		// The schema unqualified names resolve in: the default database.
		if b.DefaultDatabase == "" {
			return &Const{T: columnar.String}, true
		}
		return strConst(b.DefaultDatabase), true
	case "current_catalog":
		return strConst(b.currentDatabase()), true
	}
	return nil, false
}

func (b *Binder) currentDatabase() string {
	if b.DefaultDatabase != "" {
		return b.DefaultDatabase
	}
	return "sluice"
}

// bindSessionFunc binds the session functions; ok is false when f is not
// one of them.
func (b *Binder) bindSessionFunc(ctx context.Context, f *parse.Func, sc *scope, sub *subst) (Expr, bool, error) {
	name := f.Name.Norm
	if len(f.Args) == 0 {
		if x, ok := b.sessionIdent(name); ok {
			return x, true, nil
		}
		switch name {
		case "current_database":
			return strConst(b.currentDatabase()), true, nil
		case "version":
			v, _ := b.setting("server_version")
			if v == "" {
				v = "16.0 (sluice)"
			}
			return strConst(fmt.Sprintf("PostgreSQL %s on %s-%s, compiled by %s, 64-bit", v, runtime.GOARCH, runtime.GOOS, runtime.Version())), true, nil
		case "pg_backend_pid":
			return &Const{Val: int64(0), T: columnar.Int64}, true, nil
		}
	}
	if name != "current_setting" || len(f.Args) < 1 || len(f.Args) > 2 {
		return nil, false, nil
	}
	// current_setting(name [, missing_ok]) is constant within a statement,
	// so it folds here; that lets string_to_array(current_setting(...))
	// fold too and generate_series get constant bounds.
	var args []*Const
	for _, a := range f.Args {
		x, err := b.bindExpr(ctx, a, sc, sub)
		if err != nil {
			return nil, true, err
		}
		k, ok := x.(*Const)
		if !ok {
			return nil, true, errAt(a, "0A000", "current_setting takes a constant setting name")
		}
		args = append(args, k)
	}
	setting, ok := args[0].Val.(string)
	if !ok {
		if args[0].Val == nil {
			return &Const{T: columnar.String}, true, nil
		}
		return nil, true, errAt(f.Args[0], "42883", "current_setting takes a text setting name")
	}
	missingOK := false
	if len(args) == 2 {
		v, isBool := args[1].Val.(bool)
		if !isBool && args[1].Val != nil {
			return nil, true, errAt(f.Args[1], "42883", "current_setting's second argument (missing_ok) is a boolean")
		}
		missingOK = v
	}
	if v, ok := b.setting(setting); ok {
		return strConst(v), true, nil
	}
	if missingOK {
		return &Const{T: columnar.String}, true, nil
	}
	return nil, true, errAt(f, "42704", "unrecognized configuration parameter %q", setting)
}

// bindIndex binds x[i] over the text arrays of sql/fn.
func (b *Binder) bindIndex(ctx context.Context, e *parse.Index, sc *scope, sub *subst) (Expr, error) {
	x, err := b.bindExpr(ctx, e.X, sc, sub)
	if err != nil {
		return nil, err
	}
	i, err := b.bindExpr(ctx, e.Index, sc, sub)
	if err != nil {
		return nil, err
	}
	if t := x.Type(); t != columnar.String && t != columnar.Unknown {
		return nil, errAt(e, "42804", "cannot subscript a value of type %v (text arrays such as string_to_array(...) can be)", t)
	}
	if t := i.Type(); t != columnar.Int64 && t != columnar.Unknown {
		return nil, errAt(e.Index, "42804", "array subscript must be an integer, not %v", t)
	}
	return b.call("[]", e, x, i)
}

// bindTableFunc binds a function call in FROM. generate_series is a table
// function; any scalar function is, as in PostgreSQL, a table of one row
// whose column is named after the alias (else the function).
func (b *Binder) bindTableFunc(ctx context.Context, r *parse.TableFunc) (Node, *scope, error) {
	f := r.Func
	name := f.Name.Norm
	if _, ok := InsightArgs[name]; ok {
		return b.bindInsights(ctx, r)
	}
	colName := name
	if !r.Alias.Name.IsZero() {
		colName = r.Alias.Name.Name
	}
	switch len(r.Alias.Columns) {
	case 0:
	case 1:
		colName = r.Alias.Columns[0].Name
	default:
		return nil, nil, errAt(r, "42601", "%s returns one column but the alias names %d", name, len(r.Alias.Columns))
	}
	qualifier := name
	if !r.Alias.Name.IsZero() {
		qualifier = r.Alias.Name.Name
	}
	if f.Over != nil || f.Star || f.Distinct || fn.IsAggregate(name) {
		return nil, nil, errAt(r, "0A000", "%s is not allowed in FROM", f.String())
	}
	var n Node
	var t columnar.Type
	if name == "generate_series" {
		tf, err := b.bindGenerateSeries(ctx, f, colName)
		if err != nil {
			return nil, nil, err
		}
		n, t = tf, tf.Cols[0].Type
	} else {
		x, err := b.bindFunc(ctx, f, &scope{}, nil)
		if err != nil {
			var pe *Error
			if errors.As(err, &pe) && pe.Code == "42883" && strings.Contains(pe.Msg, "unknown function") {
				return nil, nil, errAt(r, "0A000", "table function %s is not available yet", f.Name.Name)
			}
			return nil, nil, err
		}
		t = x.Type()
		if t == columnar.Unknown {
			t = columnar.String
			x = coerce(x, t)
		}
		n = &Values{Cols: []Column{{Name: colName, Type: t}}, Rows: [][]Expr{{x}}}
	}
	return n, &scope{cols: []scopeCol{{qualifier: qualifier, name: colName, typ: t}}}, nil
}

// bindGenerateSeries binds generate_series(start, stop [, step]) over
// integers (step 1 by default) or timestamps (step an interval). The
// engine supplies the table function (see Engine's TableFuncs).
func (b *Binder) bindGenerateSeries(ctx context.Context, f *parse.Func, colName string) (*TableFunc, error) {
	if len(f.Args) < 2 || len(f.Args) > 3 {
		return nil, errAt(f, "42883", "generate_series takes (start, stop [, step])")
	}
	var args []Expr
	for _, a := range f.Args {
		x, err := b.bindExpr(ctx, a, &scope{}, nil)
		if err != nil {
			return nil, err
		}
		args = append(args, x)
	}
	t := columnar.Int64
	for _, a := range args[:2] {
		if a.Type() == columnar.Timestamp || a.Type() == columnar.Date {
			t = columnar.Timestamp
		}
	}
	for i := range args[:2] {
		x := args[i]
		switch {
		case x.Type() == t:
		case x.Type() == columnar.Unknown || t == columnar.Timestamp && (x.Type() == columnar.String || x.Type() == columnar.Date):
			if _, isConst := x.(*Const); !isConst && x.Type() == columnar.String {
				return nil, errAt(f.Args[i], "42804", "generate_series bounds must both be integers or both timestamps")
			}
			args[i] = coerce(x, t)
		default:
			return nil, errAt(f.Args[i], "42804", "generate_series bounds must both be integers or both timestamps, not %v", x.Type())
		}
	}
	step := columnar.Int64
	if t == columnar.Timestamp {
		step = columnar.Interval
	}
	if len(args) == 3 {
		if s := args[2].Type(); s != step && s != columnar.Unknown {
			return nil, errAt(f.Args[2], "42804", "generate_series step must be %v here, not %v", step, s)
		}
		args[2] = coerce(args[2], step)
	} else if t == columnar.Timestamp {
		return nil, errAt(f, "42883", "generate_series over timestamps needs an interval step")
	}
	name := "generate_series"
	if t == columnar.Timestamp {
		name = "generate_series_ts"
	}
	return &TableFunc{Name: name, Args: args, Cols: []Column{{Name: colName, Type: t}}}, nil
}
