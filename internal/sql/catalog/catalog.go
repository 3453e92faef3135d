// Package catalog connects the SQL engine to sluice's stores: it implements
// plan.Catalog over the tsdb (databases and tables, including the sluice
// system tables) and resolves names as the dialect says: a name matches
// exactly, or else case-insensitively when that is unambiguous. It is safe
// for concurrent use.
package catalog

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/sluice-dev/sluice/internal/columnar"
	"github.com/sluice-dev/sluice/internal/sql/plan"
	"github.com/sluice-dev/sluice/internal/tsdb"
)

// ErrNotFound is wrapped by lookups of unknown databases and tables.
var ErrNotFound = errors.New("not found")

// Catalog resolves tables in a tsdb.
type Catalog struct {
	db *tsdb.DB
}

// New returns a catalog over db.
func New(db *tsdb.DB) *Catalog { return &Catalog{db: db} }

// Databases lists database names.
func (c *Catalog) Databases(ctx context.Context) []string {
	var out []string
	for _, d := range c.db.Databases(ctx) {
		out = append(out, d.Name)
	}
	return out
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
	ts, err := c.db.Tables(ctx, db)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = t.Name
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
	r := tsdb.ScanRequest{Database: t.database, Table: t.name, MinTime: req.MinTime, MaxTime: req.MaxTime, MeasureNames: req.MeasureNames, Columns: req.Columns}
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
