package app

import (
	"context"
	"errors"
	"unicode/utf8"

	"github.com/sluice-dev/sluice/internal/auth"
	"github.com/sluice-dev/sluice/internal/columnar"
	"github.com/sluice-dev/sluice/internal/pgwire"
	sluicesql "github.com/sluice-dev/sluice/internal/sql"
	"github.com/sluice-dev/sluice/internal/sql/plan"
)

// pgHandler answers the PostgreSQL wire protocol with the SQL engine.
type pgHandler struct {
	engine *sluicesql.Engine
	// access, if set, says whether the session may run a statement
	// (access keys configured).
	access func(s *pgwire.Session, sql string) error
}

func (h *pgHandler) Query(ctx context.Context, s *pgwire.Session, sql string, params []pgwire.Param) (pgwire.Rows, string, error) {
	if h.access != nil {
		if err := h.access(s, sql); err != nil {
			return nil, "", err
		}
	}
	ctx = sluicesql.WithSession(ctx, s.Setting)
	res, err := h.engine.Query(ctx, sql, pgParams(params))
	if err != nil {
		return nil, "", pgError(sql, err)
	}
	if res.Rows == nil {
		return nil, res.Tag, nil
	}
	return &pgRows{cols: pgColumns(res.Columns), batch: res.Rows}, "", nil
}

func (h *pgHandler) Describe(ctx context.Context, s *pgwire.Session, sql string, paramTypes []pgwire.Type) ([]pgwire.Type, []pgwire.Column, error) {
	if h.access != nil {
		if err := h.access(s, sql); err != nil {
			return nil, nil, err
		}
	}
	ctx = sluicesql.WithSession(ctx, s.Setting)
	// Parameters are bound as text when the client did not type them.
	params := make([]any, len(paramTypes))
	types := make([]pgwire.Type, len(paramTypes))
	for i, t := range paramTypes {
		types[i] = t
		if t == pgwire.TypeUnknown {
			types[i] = pgwire.TypeText
		}
		params[i] = zeroParam(types[i])
	}
	cols, err := h.engine.Describe(ctx, sql, params)
	if err != nil {
		return nil, nil, pgError(sql, err)
	}
	return types, pgColumns(cols), nil
}

func zeroParam(t pgwire.Type) any {
	switch t.Columnar() {
	case columnar.Bool:
		return false
	case columnar.Int64:
		return int64(0)
	case columnar.Float64:
		return float64(0)
	}
	return ""
}

func pgParams(ps []pgwire.Param) []any {
	out := make([]any, len(ps))
	for i, p := range ps {
		out[i] = p.Value
	}
	return out
}

func pgColumns(cols []plan.Column) []pgwire.Column {
	out := make([]pgwire.Column, len(cols))
	for i, c := range cols {
		out[i] = pgwire.Column{Name: c.Name, Type: pgwire.TypeOf(c.Type)}
	}
	return out
}

func pgError(sql string, err error) error {
	var qe *sluicesql.Error
	if errors.As(err, &qe) {
		pos := 0
		if qe.Offset >= 0 && qe.Offset <= len(sql) {
			pos = utf8.RuneCountInString(sql[:qe.Offset]) + 1
		}
		return &pgwire.Error{Code: qe.Code, Message: qe.Msg, Position: pos}
	}
	return err
}

// pgRows hands a result to the wire layer as one batch.
type pgRows struct {
	cols  []pgwire.Column
	batch *columnar.Batch
	done  bool
}

func (r *pgRows) Columns() []pgwire.Column { return r.cols }

func (r *pgRows) Next(ctx context.Context) (*columnar.Batch, error) {
	if r.done {
		return nil, nil
	}
	r.done = true
	return wireBatch(r.batch), nil
}

// wireBatch converts what the wire layer keeps differently: DATE columns
// go as nanoseconds there, as days in columnar.
func wireBatch(b *columnar.Batch) *columnar.Batch {
	var out *columnar.Batch
	for i, c := range b.Cols {
		if c.Type != columnar.Date {
			continue
		}
		if out == nil {
			out = &columnar.Batch{Names: b.Names, Cols: append([]*columnar.Column(nil), b.Cols...)}
		}
		nc := &columnar.Column{Type: columnar.Date, Ints: make([]int64, len(c.Ints)), Nulls: c.Nulls}
		for j, d := range c.Ints {
			nc.Ints[j] = d * 86400e9
		}
		out.Cols[i] = nc
	}
	if out == nil {
		return b
	}
	return out
}

func (r *pgRows) Close() error { return nil }

// pgAccess checks a statement against the session's key: the user name is
// the key id, authenticated at startup.
func (a *App) pgAccess(s *pgwire.Session, sql string) error {
	k := a.auth.Key(s.User)
	if k == nil {
		return &pgwire.Error{Code: "28000", Message: "no access key " + s.User}
	}
	if err := auth.CheckSQL(k, sql, a.sqlScope(s.Setting)); err != nil {
		return &pgwire.Error{Code: "42501", Message: err.Error()}
	}
	return nil
}
