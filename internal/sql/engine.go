// Package sql is sluice's SQL engine: it parses a statement (sql/parse),
// binds it to the catalog (sql/plan), runs it (sql/exec), and answers the
// catalog statements of Timestream's dialect (SHOW DATABASES, SHOW TABLES,
// SHOW MEASURES, DESCRIBE), information_schema and the pg_catalog tables
// PostgreSQL clients probe (pgcatalog.go). Front doors (HTTP /v1/query, the
// PostgreSQL wire protocol, the Timestream Query API) call Engine.Query; the
// PostgreSQL one passes its session's settings with WithSession, which
// current_setting, SHOW, user and search_path read. An Engine is safe for
// concurrent use.
package sql

import (
	"context"
	"errors"
	"fmt"
	"math"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/sluice-dev/sluice/internal/columnar"
	"github.com/sluice-dev/sluice/internal/lake"
	"github.com/sluice-dev/sluice/internal/sql/catalog"
	"github.com/sluice-dev/sluice/internal/sql/exec"
	"github.com/sluice-dev/sluice/internal/sql/parse"
	"github.com/sluice-dev/sluice/internal/sql/plan"
	"github.com/sluice-dev/sluice/internal/tsdb"
)

// Options configure an Engine.
type Options struct {
	DefaultDatabase string        // for table names without a database; "" = none
	MemoryLimit     int64         // per query; 0 = 1 GiB
	Timeout         time.Duration // per query; 0 = 60 s (Timestream's Query limit)
	Now             func() time.Time
	// Lake holds the lake's external tables (CREATE EXTERNAL TABLE); nil
	// means no lake: DDL statements fail and only tsdb tables exist.
	Lake *lake.Catalog
}

// Engine runs SQL over a tsdb.
type Engine struct {
	db   *tsdb.DB
	cat  *catalog.Catalog
	opts Options
}

// New returns an engine over db.
func New(db *tsdb.DB, opts Options) *Engine {
	if opts.Timeout <= 0 {
		opts.Timeout = 60 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Engine{db: db, cat: catalog.NewWithLake(db, opts.Lake), opts: opts}
}

// Result is the answer to one statement.
type Result struct {
	Columns []plan.Column
	Rows    *columnar.Batch // all rows; nil for statements without rows
	Tag     string          // command tag for statements without rows (e.g. "SET")
}

// Error is a query error with a SQLSTATE code and, when known, the byte
// offset in the statement that caused it.
type Error struct {
	Code   string
	Offset int // -1 when unknown
	Msg    string
	Line   int
	Col    int
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s (line %d, column %d)", e.Msg, e.Line, e.Col)
	}
	return e.Msg
}

// Query parses and runs sql, which must hold exactly one statement.
func (e *Engine) Query(ctx context.Context, sql string, params []any) (*Result, error) {
	stmts, err := parse.Parse(sql)
	if err != nil {
		var pe *parse.Error
		if errors.As(err, &pe) {
			return nil, &Error{Code: "42601", Offset: pe.Offset, Line: pe.Line, Col: pe.Col, Msg: pe.Error()}
		}
		return nil, &Error{Code: "42601", Offset: -1, Msg: err.Error()}
	}
	if len(stmts) == 0 {
		return &Result{Tag: "EMPTY"}, nil
	}
	if len(stmts) > 1 {
		return nil, &Error{Code: "42601", Offset: stmts[1].Start(), Msg: "send one statement at a time"}
	}
	res, err := e.run(ctx, stmts[0], params)
	if err != nil {
		return nil, e.wrap(sql, err)
	}
	return res, nil
}

// Describe returns the columns a query would produce, without running it.
func (e *Engine) Describe(ctx context.Context, sql string, params []any) ([]plan.Column, error) {
	stmt, err := parse.ParseOne(sql)
	if err != nil {
		return nil, e.wrap(sql, err)
	}
	switch s := stmt.(type) {
	case parse.Query:
		b := e.binder(ctx, params, e.opts.Now())
		b.Describing = true
		n, err := b.Bind(ctx, s)
		if err != nil {
			return nil, e.wrap(sql, err)
		}
		return n.Schema(), nil
	case *parse.Explain:
		return []plan.Column{{Name: "plan", Type: columnar.String}}, nil
	case *parse.MsckRepair:
		return msckColumns, nil
	case *parse.CreateExternalTable, *parse.CreateDatabase, *parse.DropTable, *parse.DropDatabase:
		return nil, nil // DDL yields no rows; describing must not run it
	}
	res, err := e.run(ctx, stmt, params)
	if err != nil {
		return nil, e.wrap(sql, err)
	}
	return res.Columns, nil
}

func (e *Engine) wrap(sql string, err error) error {
	var pe *parse.Error
	var be *plan.Error
	var ee *Error
	switch {
	case errors.As(err, &ee):
		return ee
	case errors.As(err, &pe):
		return &Error{Code: "42601", Offset: pe.Offset, Line: pe.Line, Col: pe.Col, Msg: pe.Error()}
	case errors.As(err, &be):
		line, col := parse.Position(sql, be.Offset)
		return &Error{Code: be.Code, Offset: be.Offset, Line: line, Col: col, Msg: be.Msg}
	case errors.Is(err, exec.ErrMemoryLimit):
		return &Error{Code: "53200", Offset: -1, Msg: err.Error()}
	case errors.Is(err, context.DeadlineExceeded):
		return &Error{Code: "57014", Offset: -1, Msg: fmt.Sprintf("query exceeded its time limit of %v", e.opts.Timeout)}
	case errors.Is(err, context.Canceled):
		return &Error{Code: "57014", Offset: -1, Msg: "query cancelled"}
	}
	return &Error{Code: "XX000", Offset: -1, Msg: err.Error()}
}

func (e *Engine) binder(ctx context.Context, params []any, now time.Time) *plan.Binder {
	return &plan.Binder{Catalog: e.cat, DefaultDatabase: e.opts.DefaultDatabase, Params: params, Virtual: e.virtual, Now: now,
		Setting: settingFunc(ctx)}
}

func (e *Engine) run(ctx context.Context, stmt parse.Statement, params []any) (*Result, error) {
	ctx, cancel := context.WithTimeout(ctx, e.opts.Timeout)
	defer cancel()
	now := e.opts.Now()
	switch s := stmt.(type) {
	case parse.Query:
		n, err := e.binder(ctx, params, now).Bind(ctx, s)
		if err != nil {
			return nil, err
		}
		plan.UseLatest(n)
		b, err := exec.Collect(ctx, n, exec.Options{MemoryLimit: e.opts.MemoryLimit, Now: func() time.Time { return now }, TableFuncs: execTableFuncs})
		if err != nil {
			return nil, err
		}
		return &Result{Columns: visible(n.Schema()), Rows: b}, nil
	case *parse.Explain:
		q, ok := s.Stmt.(parse.Query)
		if !ok {
			return nil, &Error{Code: "0A000", Offset: s.Start(), Msg: "EXPLAIN takes a query"}
		}
		n, err := e.binder(ctx, params, now).Bind(ctx, q)
		if err != nil {
			return nil, err
		}
		plan.UseLatest(n)
		return textRows("plan", strings.Split(strings.TrimRight(plan.Explain(n), "\n"), "\n")), nil
	case *parse.ShowDatabases:
		names := e.cat.Databases(ctx)
		return textRows("Database", filterLike(names, s.Like)), nil
	case *parse.ShowTables:
		db := e.opts.DefaultDatabase
		if !s.Database.IsZero() {
			db = s.Database.Name
		}
		if db == "" {
			return nil, &Error{Code: "42601", Offset: s.Start(), Msg: "SHOW TABLES needs FROM database"}
		}
		names, err := e.cat.Tables(ctx, db)
		if err != nil {
			return nil, &Error{Code: "3D000", Offset: s.Start(), Msg: err.Error()}
		}
		return textRows("Table", filterLike(names, s.Like)), nil
	case *parse.ShowMeasures:
		return e.showMeasures(ctx, s)
	case *parse.Describe:
		return e.describe(ctx, s.Table)
	case *parse.Set:
		return &Result{Tag: "SET"}, nil
	case *parse.ShowSetting:
		return showSetting(ctx, s)
	case *parse.CreateExternalTable, *parse.CreateDatabase, *parse.DropTable, *parse.DropDatabase, *parse.MsckRepair:
		return e.lakeDDL(ctx, stmt)
	}
	return nil, &Error{Code: "0A000", Offset: stmt.Start(), Msg: fmt.Sprintf("%T statements are not supported here", stmt)}
}

// visible drops the executor's hidden helper columns, if any.
func visible(cols []plan.Column) []plan.Column { return cols }

func filterLike(names []string, like *parse.Literal) []string {
	sort.Strings(names)
	if like == nil {
		return names
	}
	var out []string
	pat := likeToGlob(like.Value)
	for _, n := range names {
		if ok, _ := path.Match(pat, n); ok {
			out = append(out, n)
		}
	}
	return out
}

func likeToGlob(p string) string {
	r := strings.NewReplacer("%", "*", "_", "?", "*", "\\*", "?", "\\?", "[", "\\[")
	return r.Replace(p)
}

func textRows(name string, vals []string) *Result {
	b := &columnar.Batch{}
	c := b.Add(name, columnar.NewColumn(columnar.String, len(vals)))
	for _, v := range vals {
		c.AppendString(v)
	}
	return &Result{Columns: []plan.Column{{Name: name, Type: columnar.String}}, Rows: b}
}

func (e *Engine) resolveTable(ctx context.Context, t *parse.TableName) (*catalog.Table, error) {
	pt, err := e.resolveAnyTable(ctx, t)
	if err != nil {
		return nil, err
	}
	ct, ok := pt.(*catalog.Table)
	if !ok {
		return nil, &Error{Code: "0A000", Offset: t.Start(), Msg: fmt.Sprintf("%s is a lake table, not a time-series table", t.String())}
	}
	return ct, nil
}

func (e *Engine) resolveAnyTable(ctx context.Context, t *parse.TableName) (plan.Table, error) {
	db := e.opts.DefaultDatabase
	if len(t.Qualifier) > 0 {
		db = t.Qualifier[len(t.Qualifier)-1].Name
	}
	pt, err := e.cat.Table(ctx, db, t.Name.Name)
	if err != nil {
		return nil, &Error{Code: "42P01", Offset: t.Start(), Msg: err.Error()}
	}
	return pt, nil
}

// describe answers DESCRIBE db.table as Timestream does: Column, Type,
// Timestream attribute type.
func (e *Engine) describe(ctx context.Context, name *parse.TableName) (*Result, error) {
	pt, err := e.resolveAnyTable(ctx, name)
	if err != nil {
		return nil, err
	}
	if lt, ok := pt.(*lake.Table); ok {
		return describeLake(lt), nil
	}
	t := pt.(*catalog.Table)
	b := &columnar.Batch{}
	cn := b.Add("Column", columnar.NewColumn(columnar.String, 0))
	ct := b.Add("Type", columnar.NewColumn(columnar.String, 0))
	ca := b.Add("Timestream attribute type", columnar.NewColumn(columnar.String, 0))
	for i, c := range t.Columns() {
		cn.AppendString(c.Name)
		ct.AppendString(strings.ToLower(c.Type.String()))
		attr := map[string]string{"time": "TIMESTAMP", "measure_name": "MEASURE_NAME", "dimension": "DIMENSION", "measure": "MULTI"}[t.Kind(i)]
		if strings.HasPrefix(c.Name, "measure_value::") {
			attr = "MEASURE_VALUE"
		}
		ca.AppendString(attr)
	}
	return &Result{Columns: []plan.Column{{Name: "Column", Type: columnar.String}, {Name: "Type", Type: columnar.String}, {Name: "Timestream attribute type", Type: columnar.String}}, Rows: b}, nil
}

// showMeasures answers SHOW MEASURES FROM db.table: measure_name,
// data_type, dimensions (as Timestream prints them).
func (e *Engine) showMeasures(ctx context.Context, s *parse.ShowMeasures) (*Result, error) {
	t, err := e.resolveTable(ctx, s.Table)
	if err != nil {
		return nil, err
	}
	dbName, tbl := t.Name()
	// One pass over the newest point of every series gives each measure's
	// type and dimensions without reading history.
	type info struct {
		typ  string
		dims map[string]bool
	}
	measures := map[string]*info{}
	err = e.db.Latest(ctx, tsdb.ScanRequest{Database: dbName, Table: tbl, MinTime: math.MinInt64, MaxTime: math.MaxInt64}, func(b *columnar.Batch) error {
		mn := b.Col("measure_name")
		for i := 0; i < b.Len(); i++ {
			m := measures[mn.Strs[i]]
			if m == nil {
				m = &info{dims: map[string]bool{}}
				measures[mn.Strs[i]] = m
			}
			for j, name := range b.Names {
				c := b.Cols[j]
				if c.IsNull(i) || name == "time" || name == "measure_name" {
					continue
				}
				if strings.HasPrefix(name, "measure_value::") {
					m.typ = strings.TrimPrefix(name, "measure_value::")
					continue
				}
				if k := kindOf(t, name); k == "dimension" {
					m.dims[name] = true
				} else if m.typ == "" {
					m.typ = "multi"
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	var names []string
	for n := range measures {
		names = append(names, n)
	}
	names = filterLike(names, s.Like)
	b := &columnar.Batch{}
	cn := b.Add("measure_name", columnar.NewColumn(columnar.String, 0))
	ct := b.Add("data_type", columnar.NewColumn(columnar.String, 0))
	cd := b.Add("dimensions", columnar.NewColumn(columnar.String, 0))
	for _, n := range names {
		m := measures[n]
		var dims []string
		for d := range m.dims {
			dims = append(dims, fmt.Sprintf(`{"dimension_name":%q,"data_type":"varchar"}`, d))
		}
		sort.Strings(dims)
		cn.AppendString(n)
		ct.AppendString(m.typ)
		cd.AppendString("[" + strings.Join(dims, ",") + "]")
	}
	return &Result{Columns: []plan.Column{{Name: "measure_name", Type: columnar.String}, {Name: "data_type", Type: columnar.String}, {Name: "dimensions", Type: columnar.String}}, Rows: b}, nil
}

func kindOf(t *catalog.Table, name string) string {
	for i, c := range t.Columns() {
		if c.Name == name {
			return t.Kind(i)
		}
	}
	return ""
}
