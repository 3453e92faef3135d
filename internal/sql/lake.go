package sql

// Lake DDL: CREATE EXTERNAL TABLE, CREATE DATABASE|SCHEMA, DROP TABLE,
// DROP DATABASE and MSCK REPAIR TABLE act on the lake catalog
// (Options.Lake). Lake tables live in the same database namespace as tsdb
// tables (see internal/sql/catalog); a lake table may not take the name of
// a tsdb table.

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/sluice-dev/sluice/internal/columnar"
	"github.com/sluice-dev/sluice/internal/lake"
	"github.com/sluice-dev/sluice/internal/sql/parse"
	"github.com/sluice-dev/sluice/internal/sql/plan"
)

var msckColumns = []plan.Column{{Name: "partition", Type: columnar.String}, {Name: "files", Type: columnar.Int64}}

func (e *Engine) lakeDDL(ctx context.Context, stmt parse.Statement) (*Result, error) {
	lk := e.opts.Lake
	if lk == nil {
		return nil, &Error{Code: "0A000", Offset: stmt.Start(), Msg: "this server has no lake catalog; lake DDL is not available"}
	}
	fail := func(code string, err error) error {
		switch {
		case errors.Is(err, lake.ErrExists):
			code = "42P07"
		case errors.Is(err, lake.ErrNotFound):
			code = "42P01"
		}
		return &Error{Code: code, Offset: stmt.Start(), Msg: err.Error()}
	}
	switch s := stmt.(type) {
	case *parse.CreateDatabase:
		if e.cat.TSDBHas(ctx, s.Name.Name, "") && !lk.HasDatabase(s.Name.Name) {
			if s.IfNotExists {
				return &Result{Tag: "CREATE DATABASE"}, nil
			}
			return nil, &Error{Code: "42P04", Offset: s.Start(), Msg: fmt.Sprintf("database %q already exists (in the time-series store)", s.Name.Name)}
		}
		if err := lk.CreateDatabase(ctx, s.Name.Name, s.IfNotExists); err != nil {
			return nil, fail("42P04", err)
		}
		return &Result{Tag: "CREATE DATABASE"}, nil
	case *parse.DropDatabase:
		if err := lk.DropDatabase(ctx, s.Name.Name, s.IfExists, s.Cascade); err != nil {
			if e.cat.TSDBHas(ctx, s.Name.Name, "") && errors.Is(err, lake.ErrNotFound) {
				return nil, &Error{Code: "0A000", Offset: s.Start(), Msg: fmt.Sprintf("database %q is a time-series database; delete it through the API", s.Name.Name)}
			}
			return nil, fail("2BP01", err)
		}
		return &Result{Tag: "DROP DATABASE"}, nil
	case *parse.CreateExternalTable:
		def, err := lake.DefFromCreate(s, e.opts.DefaultDatabase)
		if err != nil {
			return nil, &Error{Code: "42601", Offset: s.Start(), Msg: err.Error()}
		}
		if e.cat.TSDBHas(ctx, def.Database, def.Name) {
			return nil, &Error{Code: "42P07", Offset: s.Start(), Msg: fmt.Sprintf("table %s.%s already exists in the time-series store; choose another name", def.Database, def.Name)}
		}
		if err := lk.CreateTable(ctx, def, s.IfNotExists, e.cat.TSDBHas(ctx, def.Database, "")); err != nil {
			return nil, fail("42601", err)
		}
		return &Result{Tag: "CREATE TABLE"}, nil
	case *parse.DropTable:
		db, name := e.tableParts(s.Table)
		if _, ok := lk.Def(db, name); !ok && e.cat.TSDBHas(ctx, db, name) {
			return nil, &Error{Code: "0A000", Offset: s.Start(), Msg: fmt.Sprintf("%s is a time-series table; delete it through the API", s.Table.String())}
		}
		if err := lk.DropTable(ctx, db, name, s.IfExists); err != nil {
			return nil, fail("42P01", err)
		}
		return &Result{Tag: "DROP TABLE"}, nil
	case *parse.MsckRepair:
		// Partitions are discovered at every scan, so there is nothing to
		// repair; report what a scan would find.
		db, name := e.tableParts(s.Table)
		t, err := lk.Table(db, name)
		if err != nil {
			return nil, fail("42P01", err)
		}
		parts, err := t.Partitions(ctx)
		if err != nil {
			return nil, err
		}
		b := &columnar.Batch{}
		cp := b.Add("partition", columnar.NewColumn(columnar.String, len(parts)))
		cf := b.Add("files", columnar.NewColumn(columnar.Int64, len(parts)))
		for _, p := range parts {
			cp.AppendString(p.Path)
			cf.AppendInt(int64(p.Files))
		}
		return &Result{Columns: msckColumns, Rows: b}, nil
	}
	return nil, &Error{Code: "0A000", Offset: stmt.Start(), Msg: fmt.Sprintf("%T statements are not supported here", stmt)}
}

func (e *Engine) tableParts(t *parse.TableName) (string, string) {
	db := e.opts.DefaultDatabase
	if len(t.Qualifier) > 0 {
		db = t.Qualifier[len(t.Qualifier)-1].Name
	}
	return db, t.Name.Name
}

// describeLake answers DESCRIBE for a lake table in the engine's DESCRIBE
// shape: Column, Type (the Hive type as declared), and "partition key" or
// "column" where tsdb tables give the Timestream attribute type.
func describeLake(t *lake.Table) *Result {
	def := t.Def()
	b := &columnar.Batch{}
	cn := b.Add("Column", columnar.NewColumn(columnar.String, 0))
	ct := b.Add("Type", columnar.NewColumn(columnar.String, 0))
	ca := b.Add("Timestream attribute type", columnar.NewColumn(columnar.String, 0))
	for i, c := range def.AllColumns() {
		cn.AppendString(c.Name)
		ct.AppendString(strings.ToLower(c.HiveType))
		if i >= len(def.Columns) {
			ca.AppendString("partition key")
		} else {
			ca.AppendString("column")
		}
	}
	return &Result{Columns: []plan.Column{{Name: "Column", Type: columnar.String}, {Name: "Type", Type: columnar.String}, {Name: "Timestream attribute type", Type: columnar.String}}, Rows: b}
}

// Lake returns the engine's lake catalog, or nil.
func (e *Engine) Lake() *lake.Catalog { return e.opts.Lake }

// InferLakeTable infers a table definition from the files under
// opts.Location (lake.Infer; opts.Root defaults to the lake root) and, with
// create, creates it (and its database, if neither store has it) through
// the same DDL path as CREATE EXTERNAL TABLE. It returns the definition and
// its DDL.
func (e *Engine) InferLakeTable(ctx context.Context, opts lake.InferOptions, create bool) (lake.TableDef, string, error) {
	if opts.Root == "" && e.opts.Lake != nil {
		opts.Root = e.opts.Lake.Root()
	}
	if opts.Database == "" {
		opts.Database = e.opts.DefaultDatabase
	}
	def, err := lake.Infer(ctx, opts)
	if err != nil {
		return def, "", err
	}
	ddl := def.DDL()
	if !create {
		return def, ddl, nil
	}
	if def.Database == "" || def.Name == "" {
		return def, ddl, &Error{Code: "42601", Offset: -1, Msg: "creating an inferred table needs a database and a table name"}
	}
	if _, err := e.Query(ctx, "CREATE DATABASE IF NOT EXISTS "+quoteIdent(def.Database), nil); err != nil {
		return def, ddl, err
	}
	if _, err := e.Query(ctx, ddl, nil); err != nil {
		return def, ddl, err
	}
	return def, ddl, nil
}

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }
