package sql

// The catalog as PostgreSQL clients see it: information_schema (schemata,
// tables, columns) and a few pg_catalog tables, with PostgreSQL's type
// names, so that Grafana's PostgreSQL data source lists tables and columns
// (reference/grafana.md §1.4). A sluice database is a schema; the whole
// instance is the catalog "sluice".

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/sluice-dev/sluice/internal/columnar"
	"github.com/sluice-dev/sluice/internal/sql/catalog"
	"github.com/sluice-dev/sluice/internal/sql/exec"
	"github.com/sluice-dev/sluice/internal/sql/parse"
	"github.com/sluice-dev/sluice/internal/sql/plan"
)

// catalogName is information_schema's table_catalog for every table.
const catalogName = "sluice"

// pgType describes a column type as information_schema.columns does.
type pgType struct {
	dataType, udtName string
	precision, radix  int64 // numeric_precision(_radix); 0 = NULL
	scale             int64 // numeric_scale; -1 = NULL
	datetimePrecision int64 // -1 = NULL
}

// pgTypes follow the OIDs the PostgreSQL front door sends for each type
// (VARCHAR as text, TIMESTAMP as timestamp without time zone).
var pgTypes = map[columnar.Type]pgType{
	columnar.Bool:      {"boolean", "bool", 0, 0, -1, -1},
	columnar.Int64:     {"bigint", "int8", 64, 2, 0, -1},
	columnar.Float64:   {"double precision", "float8", 53, 2, -1, -1},
	columnar.String:    {"text", "text", 0, 0, -1, -1},
	columnar.Timestamp: {"timestamp without time zone", "timestamp", 0, 0, -1, 6},
	columnar.Date:      {"date", "date", 0, 0, -1, 0},
	columnar.Interval:  {"interval", "interval", 0, 0, -1, 6},
}

var (
	tText = columnar.String
	tInt  = columnar.Int64
	tBool = columnar.Bool
)

func cols(spec ...any) []plan.Column {
	out := make([]plan.Column, 0, len(spec)/2)
	for i := 0; i < len(spec); i += 2 {
		out = append(out, plan.Column{Name: spec[i].(string), Type: spec[i+1].(columnar.Type)})
	}
	return out
}

// val makes a constant; nil is a NULL of type t.
func val(v any, t columnar.Type) plan.Expr { return &plan.Const{Val: v, T: t} }

func txt(s string) plan.Expr { return val(s, tText) }

func optInt(v int64, null bool) plan.Expr {
	if null {
		return val(nil, tInt)
	}
	return val(v, tInt)
}

// systemSchemas are the schemas the virtual tables live in.
var systemSchemas = []string{"information_schema", "pg_catalog"}

var infoSchemaTables = []string{"columns", "schemata", "tables"}

var pgCatalogTables = []string{"pg_extension", "pg_namespace", "pg_settings", "pg_tables"}

// virtual serves information_schema and pg_catalog tables.
func (e *Engine) virtual(ctx context.Context, database, name string) (plan.Node, error) {
	switch {
	case strings.EqualFold(database, "information_schema"):
		return e.infoSchema(ctx, strings.ToLower(name))
	case strings.EqualFold(database, "pg_catalog"):
		return e.pgCatalog(ctx, strings.ToLower(name))
	}
	return nil, nil
}

func (e *Engine) infoSchema(ctx context.Context, name string) (plan.Node, error) {
	switch name {
	case "schemata":
		v := &plan.Values{Cols: cols("catalog_name", tText, "schema_name", tText, "schema_owner", tText)}
		for _, s := range e.schemas(ctx) {
			v.Rows = append(v.Rows, []plan.Expr{txt(catalogName), txt(s), txt("sluice")})
		}
		return v, nil
	case "tables":
		v := &plan.Values{Cols: cols("table_catalog", tText, "table_schema", tText, "table_name", tText, "table_type", tText, "is_insertable_into", tText)}
		for _, db := range e.cat.Databases(ctx) {
			tables, err := e.cat.Tables(ctx, db)
			if err != nil {
				return nil, err
			}
			for _, t := range tables {
				v.Rows = append(v.Rows, []plan.Expr{txt(catalogName), txt(db), txt(t), txt("BASE TABLE"), txt("NO")})
			}
		}
		for _, t := range infoSchemaTables {
			v.Rows = append(v.Rows, []plan.Expr{txt(catalogName), txt("information_schema"), txt(t), txt("VIEW"), txt("NO")})
		}
		for _, t := range pgCatalogTables {
			v.Rows = append(v.Rows, []plan.Expr{txt(catalogName), txt("pg_catalog"), txt(t), txt("BASE TABLE"), txt("NO")})
		}
		return v, nil
	case "columns":
		v := &plan.Values{Cols: cols("table_catalog", tText, "table_schema", tText, "table_name", tText, "column_name", tText,
			"ordinal_position", tInt, "column_default", tText, "is_nullable", tText, "data_type", tText,
			"character_maximum_length", tInt, "numeric_precision", tInt, "numeric_precision_radix", tInt,
			"numeric_scale", tInt, "datetime_precision", tInt, "udt_catalog", tText, "udt_schema", tText, "udt_name", tText)}
		add := func(schema, table string, i int, name string, t columnar.Type, nullable bool) {
			pt, ok := pgTypes[t]
			if !ok {
				pt = pgTypes[columnar.String]
			}
			yes := "YES"
			if !nullable {
				yes = "NO"
			}
			v.Rows = append(v.Rows, []plan.Expr{txt(catalogName), txt(schema), txt(table), txt(name),
				val(int64(i+1), tInt), val(nil, tText), txt(yes), txt(pt.dataType),
				val(nil, tInt), optInt(pt.precision, pt.precision == 0), optInt(pt.radix, pt.radix == 0),
				optInt(pt.scale, pt.scale < 0), optInt(pt.datetimePrecision, pt.datetimePrecision < 0),
				txt(catalogName), txt("pg_catalog"), txt(pt.udtName)})
		}
		for _, db := range e.cat.Databases(ctx) {
			tables, err := e.cat.Tables(ctx, db)
			if err != nil {
				return nil, err
			}
			for _, tn := range tables {
				pt, err := e.cat.Table(ctx, db, tn)
				if err != nil {
					continue // dropped meanwhile
				}
				t, _ := pt.(*catalog.Table)
				for i, c := range pt.Columns() {
					nullable := true
					if t != nil {
						k := t.Kind(i)
						nullable = k != "time" && k != "measure_name"
					}
					add(db, tn, i, c.Name, c.Type, nullable)
				}
			}
		}
		// The virtual tables describe themselves too, as in PostgreSQL.
		for _, s := range systemSchemas {
			names := infoSchemaTables
			if s == "pg_catalog" {
				names = pgCatalogTables
			}
			for _, tn := range names {
				schema := v.Cols // information_schema.columns itself
				if tn != "columns" {
					n, err := e.virtual(ctx, s, tn)
					if err != nil || n == nil {
						continue
					}
					schema = n.Schema()
				}
				for i, c := range schema {
					add(s, tn, i, c.Name, c.Type, true)
				}
			}
		}
		return v, nil
	}
	return nil, &plan.Error{Code: "42P01", Msg: fmt.Sprintf("information_schema.%s does not exist (%s do)", name, strings.Join(infoSchemaTables, ", "))}
}

// schemas lists the databases and the system schemas, sorted.
func (e *Engine) schemas(ctx context.Context) []string {
	out := append(e.cat.Databases(ctx), systemSchemas...)
	sort.Strings(out)
	return out
}

func (e *Engine) pgCatalog(ctx context.Context, name string) (plan.Node, error) {
	switch name {
	case "pg_extension":
		// No extensions: Grafana's TimescaleDB probe finds none.
		return &plan.Values{Cols: cols("oid", tInt, "extname", tText, "extowner", tInt, "extnamespace", tInt,
			"extrelocatable", tBool, "extversion", tText)}, nil
	case "pg_namespace":
		v := &plan.Values{Cols: cols("oid", tInt, "nspname", tText, "nspowner", tInt)}
		for i, s := range e.schemas(ctx) {
			v.Rows = append(v.Rows, []plan.Expr{val(int64(16384+i), tInt), txt(s), val(int64(10), tInt)})
		}
		return v, nil
	case "pg_tables":
		v := &plan.Values{Cols: cols("schemaname", tText, "tablename", tText, "tableowner", tText, "tablespace", tText,
			"hasindexes", tBool, "hasrules", tBool, "hastriggers", tBool, "rowsecurity", tBool)}
		for _, db := range e.cat.Databases(ctx) {
			tables, err := e.cat.Tables(ctx, db)
			if err != nil {
				return nil, err
			}
			for _, t := range tables {
				f := val(false, tBool)
				v.Rows = append(v.Rows, []plan.Expr{txt(db), txt(t), txt("sluice"), val(nil, tText), f, f, f, f})
			}
		}
		return v, nil
	case "pg_settings":
		// The settings current_setting knows without a session, with the
		// session's values where it has them.
		get := settingFunc(ctx)
		names := make([]string, 0, len(defaultSettings))
		for k := range defaultSettings {
			names = append(names, k)
		}
		sort.Strings(names)
		v := &plan.Values{Cols: cols("name", tText, "setting", tText)}
		for _, k := range names {
			s, _ := get(k)
			v.Rows = append(v.Rows, []plan.Expr{txt(k), txt(s)})
		}
		return v, nil
	}
	return nil, nil
}

// generateSeriesLimit bounds generate_series, which materialises its rows.
const generateSeriesLimit = 10_000_000

// tableFuncs are the table functions the binder plans (plan.TableFunc).
var execTableFuncs = map[string]exec.TableFunc{
	"generate_series": func(ctx context.Context, args []any, _ *columnar.Batch) (*columnar.Batch, error) {
		return generateSeries(ctx, args, columnar.Int64)
	},
	"generate_series_ts": func(ctx context.Context, args []any, _ *columnar.Batch) (*columnar.Batch, error) {
		return generateSeries(ctx, args, columnar.Timestamp)
	},
	"anomalies": insightFuncs["anomalies"],
	"forecast":  insightFuncs["forecast"],
}

// generateSeries is PostgreSQL's generate_series(start, stop [, step]):
// start, start+step, ... while not past stop; no rows if an argument is
// NULL; an error for a zero step.
func generateSeries(ctx context.Context, args []any, t columnar.Type) (*columnar.Batch, error) {
	out := &columnar.Batch{}
	c := out.Add("generate_series", columnar.NewColumn(t, 0))
	step := int64(1)
	if len(args) == 3 {
		s, ok := args[2].(int64)
		if !ok {
			return out, nil
		}
		step = s
	}
	lo, ok1 := args[0].(int64)
	hi, ok2 := args[1].(int64)
	if !ok1 || !ok2 {
		return out, nil
	}
	if step == 0 {
		return nil, &Error{Code: "22023", Offset: -1, Msg: "generate_series: step size cannot equal zero"}
	}
	// Count first (in floating point: the span may overflow int64).
	n := 0.0
	if step > 0 && hi >= lo || step < 0 && hi <= lo {
		n = math.Floor((float64(hi)-float64(lo))/float64(step)) + 1
	}
	if n > generateSeriesLimit {
		return nil, &Error{Code: "54000", Offset: -1, Msg: fmt.Sprintf("generate_series would return %.0f rows; the limit is %d", n, generateSeriesLimit)}
	}
	for v, i := lo, 0; step > 0 && v <= hi || step < 0 && v >= hi; i++ {
		if i%65536 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		c.AppendInt(v)
		if step > 0 && v > math.MaxInt64-step || step < 0 && v < math.MinInt64-step {
			break // the next value would overflow
		}
		v += step
	}
	return out, nil
}

// showSetting answers SHOW name (the PostgreSQL front door answers the
// settings it knows itself; this serves HTTP and the CLI) and SHOW ALL.
func showSetting(ctx context.Context, s *parse.ShowSetting) (*Result, error) {
	get := settingFunc(ctx)
	if s.All {
		names := make([]string, 0, len(defaultSettings))
		for k := range defaultSettings {
			names = append(names, k)
		}
		sort.Strings(names)
		b := &columnar.Batch{}
		cn := b.Add("name", columnar.NewColumn(columnar.String, len(names)))
		cs := b.Add("setting", columnar.NewColumn(columnar.String, len(names)))
		for _, k := range names {
			v, _ := get(k)
			cn.AppendString(k)
			cs.AppendString(v)
		}
		return &Result{Columns: []plan.Column{{Name: "name", Type: columnar.String}, {Name: "setting", Type: columnar.String}}, Rows: b}, nil
	}
	parts := make([]string, len(s.Name))
	for i, p := range s.Name {
		parts[i] = p.Name
	}
	name := strings.Join(parts, ".")
	v, ok := get(name)
	if !ok {
		return nil, &Error{Code: "42704", Offset: s.Start(), Msg: fmt.Sprintf("unrecognized configuration parameter %q", name)}
	}
	return textRows(strings.ToLower(name), []string{v}), nil
}
