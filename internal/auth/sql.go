package auth

import (
	"reflect"
	"strings"

	"github.com/sluice-dev/sluice/internal/sql/parse"
)

// SQLScope is what decides which tables a statement's names resolve to,
// mirroring the SQL binder: a qualified name is db.table; an unqualified one
// is looked up in DefaultDatabase, then in the session's search_path, then
// among pg_catalog's views.
type SQLScope struct {
	DefaultDatabase string
	// Setting reads session settings (search_path, session_authorization);
	// nil outside a PostgreSQL session.
	Setting func(name string) (string, bool)
	// DatabaseExists reports whether a database exists (names compared
	// without regard to case). nil means every database may exist.
	DatabaseExists func(name string) bool
}

// SQL actions and resources.
const (
	ActionSelect      = "timestream:Select"
	ActionCreateTable = "timestream:CreateTable"
)

// CheckSQL reports whether p may run sql: timestream:Select on every table
// it reads (timestream:CreateTable for CREATE EXTERNAL TABLE), and, for
// statements that name no table (SELECT 1, SHOW DATABASES, SHOW TABLES,
// information_schema and pg_catalog views, which show only names),
// timestream:Select on some resource. An unqualified name counts as every
// table it could resolve to (in each existing database of the default and
// the search_path), so a session setting cannot steer a name to a table the
// check did not see. A statement that does not parse is left to the engine,
// which refuses it with the same parser. It returns nil or an *Error.
func CheckSQL(p Principal, sql string, sc SQLScope) error {
	some, _ := p.(interface{ AllowsSomewhere(string) bool })
	if some != nil && !some.AllowsSomewhere(ActionSelect) {
		return Denied(p, ActionSelect, "*")
	}
	stmts, err := parse.Parse(sql)
	if err != nil {
		return nil
	}
	for _, st := range stmts {
		action := ActionSelect
		if _, ok := st.(*parse.CreateExternalTable); ok {
			action = ActionCreateTable
		}
		var w tableWalker
		w.walk(reflect.ValueOf(st), nil)
		for _, t := range w.tables {
			for _, db := range sc.candidates(t) {
				if res := TableARN("", db, t.name); !p.Allow(action, res) {
					return Denied(p, action, res)
				}
			}
		}
	}
	return nil
}

type tableRef struct {
	qualifier string // "" when unqualified
	name      string
}

func isCatalogSchema(db string) bool {
	return strings.EqualFold(db, "information_schema") || strings.EqualFold(db, "pg_catalog")
}

// candidates returns the databases whose table t may denote.
func (sc SQLScope) candidates(t tableRef) []string {
	if t.qualifier != "" {
		if isCatalogSchema(t.qualifier) {
			return nil
		}
		return []string{t.qualifier}
	}
	var out []string
	add := func(db string) {
		if db == "" || isCatalogSchema(db) {
			return
		}
		if sc.DatabaseExists != nil && !sc.DatabaseExists(db) {
			return
		}
		out = append(out, db)
	}
	add(sc.DefaultDatabase)
	for _, db := range sc.searchPath() {
		add(db)
	}
	return out
}

// searchPath parses search_path as the binder does (sql/plan/pgcompat.go).
func (sc SQLScope) searchPath() []string {
	if sc.Setting == nil {
		return nil
	}
	v, ok := sc.Setting("search_path")
	if !ok {
		return nil
	}
	var out []string
	for part := range strings.SplitSeq(v, ",") {
		part = strings.TrimSpace(part)
		switch {
		case part == `"$user"` || part == "$user":
			u, ok := sc.Setting("session_authorization")
			if !ok || u == "" {
				u = "sluice"
			}
			out = append(out, u)
		case len(part) >= 2 && part[0] == '"' && part[len(part)-1] == '"':
			out = append(out, strings.ReplaceAll(part[1:len(part)-1], `""`, `"`))
		case part != "":
			out = append(out, strings.ToLower(part))
		}
	}
	return out
}

var (
	tableNameType = reflect.TypeFor[parse.TableName]()
	tableFuncType = reflect.TypeFor[parse.TableFunc]()
	withPtrType   = reflect.TypeFor[*parse.With]()
)

// tableWalker collects every table name of a statement's syntax tree by
// reflection, so that a new kind of node cannot hide a table from the
// check. Names of common table expressions in scope are not tables.
type tableWalker struct {
	tables []tableRef
}

func (w *tableWalker) walk(v reflect.Value, ctes map[string]bool) {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			w.walk(v.Elem(), ctes)
		}
	case reflect.Slice, reflect.Array:
		for i := 0; i < v.Len(); i++ {
			w.walk(v.Index(i), ctes)
		}
	case reflect.Struct:
		if v.Type() == tableNameType {
			w.tableName(v, ctes)
			return
		}
		if v.Type() == tableFuncType {
			tf := v.Interface().(parse.TableFunc)
			w.tableFunc(&tf)
		}
		if f := v.FieldByName("With"); f.IsValid() && f.Type() == withPtrType && !f.IsNil() {
			ctes = w.with(f.Elem(), ctes)
		}
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).Name == "With" && v.Field(i).Type() == withPtrType {
				continue // walked by with
			}
			w.walk(v.Field(i), ctes)
		}
	}
}

// with walks the CTEs of a WITH clause, each seeing the names defined
// before it (all of them if RECURSIVE), and returns the scope of the body.
func (w *tableWalker) with(v reflect.Value, outer map[string]bool) map[string]bool {
	recursive := v.FieldByName("Recursive").Bool()
	ctes := v.FieldByName("CTEs")
	names := make([]string, ctes.Len())
	for i := range names {
		names[i] = ctes.Index(i).FieldByName("Name").FieldByName("Norm").String()
	}
	scope := func(n int) map[string]bool {
		m := make(map[string]bool, len(outer)+n)
		for k := range outer {
			m[k] = true
		}
		for _, name := range names[:n] {
			m[name] = true
		}
		return m
	}
	for i := range names {
		n := i
		if recursive {
			n = len(names)
		}
		w.walk(ctes.Index(i).FieldByName("Query"), scope(n))
	}
	return scope(len(names))
}

// tableFunc records the table a table function names in a string argument
// (anomalies(table => 'db.t', …) and forecast(…) read it as the binder
// does: the text after the last dot is the table, before it the database).
func (w *tableWalker) tableFunc(f *parse.TableFunc) {
	if f.Func == nil {
		return
	}
	for _, a := range f.Func.Args {
		na, ok := a.(*parse.NamedArg)
		if !ok || !strings.EqualFold(na.Name.Name, "table") {
			continue
		}
		lit, ok := na.Value.(*parse.Literal)
		if !ok || lit.Kind != parse.LitString {
			continue // the binder refuses anything but a string literal
		}
		db, table := "", lit.Value
		if i := strings.LastIndexByte(lit.Value, '.'); i >= 0 {
			db, table = lit.Value[:i], lit.Value[i+1:]
		}
		w.tables = append(w.tables, tableRef{qualifier: db, name: table})
	}
}

func (w *tableWalker) tableName(v reflect.Value, ctes map[string]bool) {
	name := v.FieldByName("Name")
	q := v.FieldByName("Qualifier")
	if q.Len() == 0 {
		if ctes[name.FieldByName("Norm").String()] {
			return
		}
		w.tables = append(w.tables, tableRef{name: name.FieldByName("Name").String()})
		return
	}
	w.tables = append(w.tables, tableRef{
		qualifier: q.Index(q.Len() - 1).FieldByName("Name").String(),
		name:      name.FieldByName("Name").String(),
	})
}
