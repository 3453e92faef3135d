package pgwire

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/sluice-dev/sluice/internal/columnar"
)

// This file handles the extended query protocol (Parse, Bind, Describe,
// Execute, Close) and the statements pgwire answers itself.

func (c *conn) parse(m *pgproto3.Parse) error {
	if m.Name != "" && c.stmts[m.Name] != nil {
		return &Error{Code: "42P05", Message: fmt.Sprintf("prepared statement %q already exists", m.Name)}
	}
	spans := splitStatements(nil, m.Query)
	if len(spans) > 1 {
		return &Error{Code: CodeSyntaxError, Message: "cannot insert multiple commands into a prepared statement"}
	}
	st := &prepared{empty: len(spans) == 0}
	if !st.empty {
		st.sql = m.Query[spans[0].start:spans[0].end]
		st.offset = runeOffset(m.Query, spans[0].start)
	}
	for _, oid := range m.ParameterOIDs {
		st.declared = append(st.declared, typeForOID(oid))
	}
	st.nparams = max(len(st.declared), maxParam(st.sql))
	if !st.empty {
		b, err := parseBuiltin(st.sql, c.sess)
		if err != nil {
			return err
		}
		st.builtin = b
		if b != nil {
			st.described = true
			st.cols = builtinColumns(b)
		}
	}
	if c.stmts == nil {
		c.stmts = map[string]*prepared{}
	}
	c.stmts[m.Name] = st
	c.send(&pgproto3.ParseComplete{})
	return nil
}

// paramType is the type parameter i is decoded as: the client's
// declaration, else what Describe resolved, else unknown (text).
func (st *prepared) paramType(i int) Type {
	if i < len(st.declared) && st.declared[i] != TypeUnknown {
		return st.declared[i]
	}
	if i < len(st.params) {
		return st.params[i]
	}
	return TypeUnknown
}

func (c *conn) stmt(name string) (*prepared, error) {
	st := c.stmts[name]
	if st == nil {
		return nil, &Error{Code: CodeInvalidStatementName, Message: fmt.Sprintf("prepared statement %q does not exist", name)}
	}
	return st, nil
}

func (c *conn) bind(m *pgproto3.Bind) error {
	st, err := c.stmt(m.PreparedStatement)
	if err != nil {
		return err
	}
	if m.DestinationPortal != "" && c.portals[m.DestinationPortal] != nil {
		return &Error{Code: "42P03", Message: fmt.Sprintf("portal %q already exists", m.DestinationPortal)}
	}
	if len(m.Parameters) != st.nparams {
		return &Error{Code: CodeProtocolViolation, Message: fmt.Sprintf("bind message supplies %d parameters, but prepared statement %q requires %d", len(m.Parameters), m.PreparedStatement, st.nparams)}
	}
	nf := len(m.ParameterFormatCodes)
	if nf > 1 && nf != len(m.Parameters) {
		return &Error{Code: CodeProtocolViolation, Message: fmt.Sprintf("bind message has %d parameter formats but %d parameters", nf, len(m.Parameters))}
	}
	p := &portal{stmt: st, formats: slices.Clone(m.ResultFormatCodes)}
	for i, raw := range m.Parameters {
		var f int16
		switch nf {
		case 0:
		case 1:
			f = m.ParameterFormatCodes[0]
		default:
			f = m.ParameterFormatCodes[i]
		}
		v, err := decodeParam(st.paramType(i), f, raw)
		if err != nil {
			return err
		}
		p.params = append(p.params, v)
	}
	c.closePortal(m.DestinationPortal)
	if c.portals == nil {
		c.portals = map[string]*portal{}
	}
	c.portals[m.DestinationPortal] = p
	c.send(&pgproto3.BindComplete{})
	return nil
}

func (c *conn) portal(name string) (*portal, error) {
	p := c.portals[name]
	if p == nil {
		return nil, &Error{Code: CodeInvalidCursorName, Message: fmt.Sprintf("portal %q does not exist", name)}
	}
	return p, nil
}

func (c *conn) describe(m *pgproto3.Describe) error {
	switch m.ObjectType {
	case 'S':
		st, err := c.stmt(m.Name)
		if err != nil {
			return err
		}
		if err := c.describeStmt(st); err != nil {
			return err
		}
		oids := make([]uint32, st.nparams)
		for i := range oids {
			oids[i] = st.paramType(i).OID()
		}
		c.send(&pgproto3.ParameterDescription{ParameterOIDs: oids})
		if st.cols == nil {
			c.send(&pgproto3.NoData{})
		} else {
			c.sendRowDescription(st.cols, nil)
		}
		return nil
	case 'P':
		p, err := c.portal(m.Name)
		if err != nil {
			return err
		}
		if p.stmt.empty {
			c.send(&pgproto3.NoData{})
			return nil
		}
		if err := c.start(p); err != nil {
			return c.withOffset(err, p.stmt)
		}
		if p.exec.rows == nil {
			c.send(&pgproto3.NoData{})
		} else {
			c.sendRowDescription(p.exec.cols, p.exec.formats)
		}
		return nil
	}
	return &Error{Code: CodeProtocolViolation, Message: fmt.Sprintf("invalid DESCRIBE message subtype %d", m.ObjectType)}
}

// describeStmt asks the Handler for a statement's parameter and result
// types, once.
func (c *conn) describeStmt(st *prepared) error {
	if st.described || st.empty {
		st.described = true
		return nil
	}
	ctx, cancel := c.statementContext()
	defer cancel(nil)
	c.setRunning(cancel)
	params, cols, err := c.srv.h.Describe(ctx, c.sess, st.sql, slices.Clone(st.declared))
	c.setRunning(nil)
	if err != nil {
		if ctx.Err() != nil {
			r := toPGError(err, ctx)
			err = &Error{Code: r.Code, Message: r.Message}
		}
		return c.withOffset(err, st)
	}
	st.params = params
	st.nparams = max(st.nparams, len(params))
	st.cols = cols
	st.described = true
	return nil
}

// withOffset shifts an *Error's position by the statement's offset in the
// client's Parse text.
func (c *conn) withOffset(err error, st *prepared) error {
	if e, ok := err.(*Error); ok && e.Position > 0 && st.offset > 0 {
		cp := *e
		cp.Position += st.offset
		return &cp
	}
	return err
}

func (c *conn) execute(m *pgproto3.Execute) error {
	p, err := c.portal(m.Portal)
	if err != nil {
		return err
	}
	if p.stmt.empty {
		c.send(&pgproto3.EmptyQueryResponse{})
		return nil
	}
	if err := c.start(p); err != nil {
		return c.withOffset(err, p.stmt)
	}
	if _, err := c.run(p, m.MaxRows); err != nil {
		c.sendError(c.withOffset(err, p.stmt), p.exec.ctx, 0)
		c.finish(p.exec, err)
		c.skipToSync = true
		return nil
	}
	if p.exec.done {
		c.finish(p.exec, nil)
	}
	return nil
}

func (c *conn) closeMsg(m *pgproto3.Close) error {
	switch m.ObjectType {
	case 'S':
		if st := c.stmts[m.Name]; st != nil {
			for name, p := range c.portals {
				if p.stmt == st {
					c.closePortal(name)
				}
			}
			delete(c.stmts, m.Name)
		}
	case 'P':
		c.closePortal(m.Name)
	default:
		return &Error{Code: CodeProtocolViolation, Message: fmt.Sprintf("invalid CLOSE message subtype %d", m.ObjectType)}
	}
	c.send(&pgproto3.CloseComplete{})
	return nil
}

// builtinColumns are the result columns of a statement pgwire answers.
func builtinColumns(b *builtin) []Column {
	if b.kind != bShow {
		return nil
	}
	if b.key == "all" {
		return []Column{{"name", TypeText}, {"setting", TypeText}, {"description", TypeText}}
	}
	name := b.key
	if d := findSetting(b.key); d != nil {
		name = d.name
	}
	return []Column{{name, TypeText}}
}

// runBuiltin executes a statement pgwire answers itself.
func (c *conn) runBuiltin(b *builtin) (Rows, string, error) {
	switch b.kind {
	case bBegin:
		if c.tx == txIdle {
			c.tx = txBlock
		}
	case bCommit:
		if c.tx == txFailed {
			b = &builtin{kind: bRollback, tag: "ROLLBACK"}
		}
		c.tx = txIdle
	case bRollback:
		c.tx = txIdle
	case bRollbackTo:
		if c.tx == txFailed {
			c.tx = txBlock
		}
	case bSet:
		if b.key != "" {
			if err := c.applySetting(b.key, b.value, true); err != nil {
				return nil, "", err
			}
		}
	case bReset:
		if b.key == "all" {
			for _, d := range settingDefs {
				if !d.readOnly {
					if err := c.applySetting(d.key, d.def, true); err != nil {
						return nil, "", err
					}
				}
			}
		} else if d := findSetting(b.key); d != nil {
			if d.readOnly {
				return nil, "", &Error{Code: "55P02", Message: fmt.Sprintf("parameter %q cannot be changed", d.name)}
			}
			if err := c.applySetting(d.key, d.def, true); err != nil {
				return nil, "", err
			}
		} else {
			c.sess.mu.Lock()
			delete(c.sess.settings, b.key)
			c.sess.mu.Unlock()
		}
	case bShow:
		return c.showRows(b), "SHOW", nil
	case bDiscard:
		for name := range c.portals {
			c.closePortal(name)
		}
		clear(c.stmts)
	case bDeallocate:
		if strings.EqualFold(b.key, "all") {
			clear(c.stmts)
			return nil, "DEALLOCATE ALL", nil
		}
		if c.stmts[b.key] == nil {
			return nil, "", &Error{Code: CodeInvalidStatementName, Message: fmt.Sprintf("prepared statement %q does not exist", b.key)}
		}
		delete(c.stmts, b.key)
	}
	return nil, b.tag, nil
}

// applySetting validates and stores a setting, updates the encoder, and
// (when report) sends ParameterStatus for a reported setting.
func (c *conn) applySetting(key, value string, report bool) error {
	d := findSetting(key)
	if d != nil && d.readOnly {
		return &Error{Code: "55P02", Message: fmt.Sprintf("parameter %q cannot be changed", d.name)}
	}
	v, loc, err := normalizeSetting(key, value)
	if err != nil {
		return err
	}
	c.sess.mu.Lock()
	old := c.sess.settings[key]
	c.sess.settings[key] = v
	if loc != nil {
		c.sess.loc = loc
	}
	c.sess.mu.Unlock()
	switch key {
	case "timezone":
		c.enc.loc = loc
	case "extra_float_digits":
		n := 0
		fmt.Sscan(v, &n)
		c.enc.floatDigits = n
	}
	if report && d != nil && d.report && old != v {
		c.send(&pgproto3.ParameterStatus{Name: d.name, Value: v})
	}
	return nil
}

func (c *conn) showRows(b *builtin) Rows {
	cols := builtinColumns(b)
	batch := &columnar.Batch{}
	if b.key == "all" {
		names, vals, descs := columnar.NewColumn(columnar.String, 0), columnar.NewColumn(columnar.String, 0), columnar.NewColumn(columnar.String, 0)
		c.sess.mu.Lock()
		keys := make([]string, 0, len(c.sess.settings))
		for k := range c.sess.settings {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			name := k
			if d := findSetting(k); d != nil {
				name = d.name
			}
			names.AppendString(name)
			vals.AppendString(c.sess.settings[k])
			descs.AppendString("")
		}
		c.sess.mu.Unlock()
		batch.Add("name", names)
		batch.Add("setting", vals)
		batch.Add("description", descs)
	} else {
		v, _ := c.sess.Setting(b.key)
		col := columnar.NewColumn(columnar.String, 1)
		col.AppendString(v)
		batch.Add(cols[0].Name, col)
	}
	return &batchRows{cols: cols, batches: []*columnar.Batch{batch}}
}

// batchRows serves fixed batches.
type batchRows struct {
	cols    []Column
	batches []*columnar.Batch
}

func (r *batchRows) Columns() []Column { return r.cols }

func (r *batchRows) Next(context.Context) (*columnar.Batch, error) {
	if len(r.batches) == 0 {
		return nil, nil
	}
	b := r.batches[0]
	r.batches = r.batches[1:]
	return b, nil
}

func (r *batchRows) Close() error { return nil }
