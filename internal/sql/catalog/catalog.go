// Package catalog connects the SQL engine to sluice's stores: it implements
// plan.Catalog over the tsdb (databases and tables, including the sluice
// system tables) and the lake catalog (external tables over JSON Lines, CSV
// and Parquet files), and resolves names as the dialect says: a name
// matches exactly, or else case-insensitively when that is unambiguous. It
// is safe for concurrent use.
//
// The two stores share one namespace of databases: a database may exist in
// the tsdb, in the lake catalog or in both, and then holds the tables of
// both. When a tsdb table and a lake table have the same name, the tsdb
// table wins (the engine refuses to create such lake tables, but the tsdb
// may create a table later).
package catalog

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/sluice-dev/sluice/internal/columnar"
	"github.com/sluice-dev/sluice/internal/lake"
	"github.com/sluice-dev/sluice/internal/sql/plan"
	"github.com/sluice-dev/sluice/internal/tsdb"
)

// ErrNotFound is wrapped by lookups of unknown databases and tables.
var ErrNotFound = errors.New("not found")

// Catalog resolves tables in a tsdb and, optionally, a lake catalog.
type Catalog struct {
	db   *tsdb.DB
	lake *lake.Catalog // nil: no lake tables
}

// New returns a catalog over db.
func New(db *tsdb.DB) *Catalog { return &Catalog{db: db} }

// NewWithLake returns a catalog over db and the lake catalog lk (nil for
// none).
func NewWithLake(db *tsdb.DB, lk *lake.Catalog) *Catalog { return &Catalog{db: db, lake: lk} }

// Lake returns the lake catalog, or nil.
func (c *Catalog) Lake() *lake.Catalog { return c.lake }

// Databases lists database names (tsdb and lake, each once).
func (c *Catalog) Databases(ctx context.Context) []string {
	var out []string
	seen := map[string]bool{}
	for _, d := range c.db.Databases(ctx) {
		out = append(out, d.Name)
		seen[d.Name] = true
	}
	if c.lake != nil {
		for _, d := range c.lake.Databases() {
			if !seen[d] {
				out = append(out, d)
			}
		}
	}
	return out
}

// TSDBHas reports whether the tsdb has database db (exact name) and, when
// table is not "", a table of that name in it (case-insensitively).
func (c *Catalog) TSDBHas(ctx context.Context, db, table string) bool {
	for _, d := range c.db.Databases(ctx) {
		if d.Name != db && !strings.EqualFold(d.Name, db) {
			continue
		}
		if table == "" {
			return true
		}
		ts, err := c.db.Tables(ctx, d.Name)
		if err != nil {
			continue
		}
		for _, t := range ts {
			if strings.EqualFold(t.Name, table) {
				return true
			}
		}
	}
	return false
}

func (c *Catalog) tsdbTables(ctx context.Context, db string) ([]string, bool) {
	for _, d := range c.db.Databases(ctx) {
		if d.Name == db {
			ts, err := c.db.Tables(ctx, db)
			if err != nil {
				return nil, false
			}
			out := make([]string, len(ts))
			for i, t := range ts {
				out[i] = t.Name
			}
			return out, true
		}
	}
	return nil, false
}

// ResolveDatabase finds a database by exact, then case-insensitive name.
func (c *Catalog) ResolveDatabase(ctx context.Context, name string) (string, error) {
	var folded []string
	for _, d := range c.Databases(ctx) {
		if d == name {
			return d, nil
		}
		if strings.EqualFold(d, name) {
			folded = append(folded, d)
		}
	}
	switch len(folded) {
	case 1:
		return folded[0], nil
	case 0:
		return "", fmt.Errorf("database %q does not exist: %w", name, ErrNotFound)
	}
	return "", fmt.Errorf("database name %q is ambiguous (%s); quote it", name, strings.Join(folded, ", "))
}

// Tables lists the table names of a database.
func (c *Catalog) Tables(ctx context.Context, database string) ([]string, error) {
	db, err := c.ResolveDatabase(ctx, database)
	if err != nil {
		return nil, err
	}
	out, inTSDB := c.tsdbTables(ctx, db)
	if c.lake != nil && c.lake.HasDatabase(db) {
		lt, err := c.lake.Tables(db)
		if err == nil {
			for _, t := range lt {
				clash := false
				for _, x := range out {
					if strings.EqualFold(x, t) {
						clash = true // the tsdb table wins
						break
					}
				}
				if !clash {
					out = append(out, t)
				}
			}
		}
	} else if !inTSDB {
		return nil, fmt.Errorf("database %q does not exist: %w", db, ErrNotFound)
	}
	return out, nil
}

// Table implements plan.Catalog.
func (c *Catalog) Table(ctx context.Context, database, name string) (plan.Table, error) {
	db, err := c.ResolveDatabase(ctx, database)
	if err != nil {
		return nil, err
	}
	names, err := c.Tables(ctx, db)
	if err != nil {
		return nil, err
	}
	var found string
	var folded []string
	for _, n := range names {
		if n == name {
			found = n
			break
		}
		if strings.EqualFold(n, name) {
			folded = append(folded, n)
		}
	}
	if found == "" {
		switch len(folded) {
		case 0:
			return nil, fmt.Errorf("table %q does not exist in database %q: %w", name, db, ErrNotFound)
		case 1:
			found = folded[0]
		default:
			return nil, fmt.Errorf("table name %q is ambiguous in database %q (%s); quote it", name, db, strings.Join(folded, ", "))
		}
	}
	if _, inTSDB := c.tsdbTables(ctx, db); !inTSDB || !c.tsdbHasExact(ctx, db, found) {
		if c.lake != nil {
			if t, err := c.lake.Table(db, found); err == nil {
				return t, nil
			}
		}
	}
	schema, err := c.db.Schema(ctx, db, found)
	if err != nil {
		return nil, err
	}
	t := &Table{db: c.db, database: db, name: found}
	for _, col := range schema {
		t.cols = append(t.cols, plan.Column{Name: col.Name, Table: found, Type: col.Type})
		t.kinds = append(t.kinds, col.Kind)
	}
	return t, nil
}

// Table is a tsdb table seen by the SQL engine.
type Table struct {
	db             *tsdb.DB
	database, name string
	cols           []plan.Column
	kinds          []string // "time", "measure_name", "dimension", "measure"
}

// Columns implements plan.Table.
func (t *Table) Columns() []plan.Column { return t.cols }

// Kind reports what column i is: "time", "measure_name", "dimension" or "measure".
func (t *Table) Kind(i int) string { return t.kinds[i] }

// Name returns database and table name.
func (t *Table) Name() (string, string) { return t.database, t.name }

func (t *Table) request(req plan.ScanRequest) tsdb.ScanRequest {
	// The executor looks columns up by name and reads only those it asked
	// for, so the store need not decode time and measure_name otherwise.
	r := tsdb.ScanRequest{Database: t.database, Table: t.name, MinTime: req.MinTime, MaxTime: req.MaxTime, MeasureNames: req.MeasureNames, Columns: req.Columns, OnlyColumns: true}
	for _, d := range req.Dims {
		r.Dims = append(r.Dims, tsdb.DimFilter{Name: d.Name, Values: d.Values, Prefix: d.Prefix})
	}
	return r
}

// Scan implements plan.Table.
func (t *Table) Scan(ctx context.Context, req plan.ScanRequest, fn func(*columnar.Batch) error) error {
	return t.db.Scan(ctx, t.request(req), fn)
}

// Latest implements plan.LatestScanner.
func (t *Table) Latest(ctx context.Context, req plan.ScanRequest, fn func(*columnar.Batch) error) error {
	return t.db.Latest(ctx, t.request(req), fn)
}

// MinuteAggregates implements plan.MinuteAggregator; the store names the
// aggregate columns as the plan does.
func (t *Table) MinuteAggregates(ctx context.Context, req plan.ScanRequest, column string, fn func(*columnar.Batch) error) error {
	return t.db.MinuteAggregates(ctx, t.request(req), column, fn)
}

// SeriesCounts implements plan.SeriesCounter; the store names the count
// columns as the plan does.
func (t *Table) SeriesCounts(ctx context.Context, req plan.ScanRequest, fn func(*columnar.Batch) error) error {
	return t.db.SeriesCounts(ctx, t.request(req), fn)
}

func (c *Catalog) tsdbHasExact(ctx context.Context, db, table string) bool {
	ts, ok := c.tsdbTables(ctx, db)
	if !ok {
		return false
	}
	for _, t := range ts {
		if t == table {
			return true
		}
	}
	return false
}
