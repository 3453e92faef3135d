package pgwire

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/sluice-dev/sluice/internal/columnar"
)

// Transaction status bytes of ReadyForQuery.
const (
	txIdle   = 'I'
	txBlock  = 'T'
	txFailed = 'E'
)

// flushBytes is how much output is buffered before it is written while
// rows stream.
const flushBytes = 64 << 10

type connState uint8

const (
	stateStartup connState = iota
	stateIdle              // waiting for the next message
	stateBusy              // handling a message
)

// conn is one client connection. Apart from the fields under mu, it is
// owned by its goroutine (serve).
type conn struct {
	srv *Server

	mu       sync.Mutex
	nc       net.Conn // the TLS conn after an upgrade
	state    connState
	stopping bool                    // Shutdown asked the session to end
	running  context.CancelCauseFunc // the executing statement's, for cancel requests

	pid    uint32
	secret [4]byte

	be   *pgproto3.Backend
	wbuf []byte
	sess *Session
	enc  encoder

	tx         byte
	skipToSync bool
	fatal      bool // a FATAL error was sent: end the connection
	stmts      map[string]*prepared
	portals    map[string]*portal
	fields     []pgproto3.FieldDescription // reused for RowDescription
}

// prepared is a statement from Parse.
type prepared struct {
	sql       string
	offset    int // characters before sql in the client's text, for error positions
	empty     bool
	builtin   *builtin
	declared  []Type // from Parse
	nparams   int
	described bool
	params    []Type // resolved by Describe
	cols      []Column
}

// portal is a bound statement; exec is its execution once started.
type portal struct {
	stmt    *prepared
	params  []Param
	formats []int16 // result formats as bound
	exec    *execution
}

// execution is a running statement: its context, rows and progress.
type execution struct {
	ctx     context.Context
	cancel  context.CancelCauseFunc
	start   time.Time
	rows    Rows // nil for statements without a result set
	cols    []Column
	formats []int16 // one per column
	tag     string
	batch   *columnar.Batch
	pos     int
	count   int64
	done    bool // all rows sent
	ended   bool // finish ran
}

func (c *conn) serve() {
	defer func() {
		if r := recover(); r != nil {
			c.srv.log.Error("connection panicked", "panic", r, "stack", string(debug.Stack()))
		}
		c.closeAll()
		c.closeNet()
		c.srv.forget(c)
	}()
	if !c.startup() {
		return
	}
	c.srv.metrics.connections.Inc()
	defer c.srv.metrics.connections.Dec()
	c.loop()
}

func (c *conn) netConn() net.Conn {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nc
}

func (c *conn) closeNet() {
	c.mu.Lock()
	nc := c.nc
	c.mu.Unlock()
	nc.Close()
}

// stop is called by Shutdown: an idle session is told and closed now, a
// busy one when it finishes its message, one in startup is just closed.
func (c *conn) stop() {
	c.mu.Lock()
	c.stopping = true
	state, nc := c.state, c.nc
	c.mu.Unlock()
	switch state {
	case stateStartup:
		nc.Close()
	case stateIdle:
		// The connection goroutine is blocked reading, so writing here does
		// not interleave with its output.
		_ = nc.SetWriteDeadline(time.Now().Add(time.Second))
		_, _ = nc.Write(fatalBytes(CodeAdminShutdown, errShutdown.Error()))
		nc.Close()
	}
}

// setState moves between idle and busy; it reports false when the session
// should end because Shutdown was called.
func (c *conn) setState(s connState) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.state = s
	return !c.stopping
}

// cancel cancels the running statement, if any.
func (c *conn) cancel(cause error) {
	c.mu.Lock()
	f := c.running
	c.mu.Unlock()
	if f != nil {
		f(cause)
	}
}

func (c *conn) send(msg pgproto3.BackendMessage) {
	b, err := msg.Encode(c.wbuf)
	if err != nil {
		// Only oversized fields fail to encode; report instead of sending.
		c.srv.log.Warn("encoding a message", "type", fmt.Sprintf("%T", msg), "err", err)
		return
	}
	c.wbuf = b
}

func (c *conn) flush() error {
	if len(c.wbuf) == 0 {
		return nil
	}
	_, err := c.netConn().Write(c.wbuf)
	if cap(c.wbuf) > 4*flushBytes {
		c.wbuf = nil
	} else {
		c.wbuf = c.wbuf[:0]
	}
	return err
}

func (c *conn) sendFatal(code, msg string) {
	c.send(&pgproto3.ErrorResponse{Severity: "FATAL", SeverityUnlocalized: "FATAL", Code: code, Message: msg})
	_ = c.flush()
}

// startup handles SSLRequest, GSSEncRequest, CancelRequest and the
// StartupMessage, authenticates, and greets the client. It reports whether
// a session was established.
func (c *conn) startup() bool {
	s := c.srv
	nc := c.netConn()
	_ = nc.SetDeadline(time.Now().Add(s.opts.StartupTimeout))
	c.be = pgproto3.NewBackend(nc, io.Discard)
	c.be.SetMaxBodyLen(s.opts.MaxMessageBytes)
	triedSSL, isTLS := false, false
	for {
		msg, err := c.be.ReceiveStartupMessage()
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, net.ErrClosed) {
				c.sendFatal(CodeProtocolViolation, "invalid startup packet: "+err.Error())
			}
			return false
		}
		switch m := msg.(type) {
		case *pgproto3.SSLRequest:
			if triedSSL {
				c.sendFatal(CodeProtocolViolation, "unexpected SSLRequest")
				return false
			}
			triedSSL = true
			if s.opts.TLS == nil {
				if _, err := nc.Write([]byte{'N'}); err != nil {
					return false
				}
				continue
			}
			if _, err := nc.Write([]byte{'S'}); err != nil {
				return false
			}
			tc := tls.Server(nc, s.opts.TLS)
			if err := tc.Handshake(); err != nil {
				s.log.Debug("TLS handshake failed", "remote", nc.RemoteAddr().String(), "err", err)
				return false
			}
			c.mu.Lock()
			c.nc = tc
			c.mu.Unlock()
			nc, isTLS = tc, true
			// A fresh reader: bytes sent before the handshake must not be
			// taken as coming from inside TLS.
			c.be = pgproto3.NewBackend(tc, io.Discard)
			c.be.SetMaxBodyLen(s.opts.MaxMessageBytes)
		case *pgproto3.GSSEncRequest:
			if _, err := nc.Write([]byte{'N'}); err != nil {
				return false
			}
		case *pgproto3.CancelRequest:
			s.cancelRequest(m.ProcessID, m.SecretKey)
			return false
		case *pgproto3.StartupMessage:
			if s.opts.RequireTLS && !isTLS {
				c.sendFatal(CodeInvalidAuthorization, "TLS is required (use sslmode=require)")
				return false
			}
			if !c.greet(m) {
				return false
			}
			_ = nc.SetDeadline(time.Time{})
			return true
		default:
			c.sendFatal(CodeProtocolViolation, fmt.Sprintf("unexpected startup message %T", msg))
			return false
		}
	}
}

func (c *conn) greet(m *pgproto3.StartupMessage) bool {
	s := c.srv
	var unknownOpts []string
	for k := range m.Parameters {
		if strings.HasPrefix(k, "_pq_.") {
			unknownOpts = append(unknownOpts, k)
		}
	}
	if m.ProtocolVersion != pgproto3.ProtocolVersion30 || len(unknownOpts) > 0 {
		// We speak 3.0: tell a 3.2 client (or one with protocol options) so.
		c.send(&pgproto3.NegotiateProtocolVersion{NewestMinorProtocol: 0, UnrecognizedOptions: unknownOpts})
	}
	user := m.Parameters["user"]
	if user == "" {
		c.sendFatal(CodeInvalidAuthorization, "no PostgreSQL user name specified in startup packet")
		return false
	}
	db := m.Parameters["database"]
	if db == "" {
		db = user
	}
	if !s.admit(c) {
		s.metrics.rejected.Inc()
		c.sendFatal(CodeTooManyConnections, "sorry, too many clients already")
		return false
	}
	if err := c.authenticate(user); err != nil {
		if errors.Is(err, errAuthFailed) {
			s.metrics.authFailures.Inc()
			s.log.Info("authentication failed", "user", user, "remote", c.netConn().RemoteAddr().String())
			c.sendFatal(CodeInvalidPassword, fmt.Sprintf("password authentication failed for user %q", user))
		} else {
			s.log.Debug("authentication aborted", "user", user, "err", err)
			c.sendFatal(CodeProtocolViolation, "authentication: "+err.Error())
		}
		return false
	}
	c.sess = newSession(user, db, c.pid, c.netConn().RemoteAddr().String(), s.opts.ServerVersion)
	c.enc = encoder{loc: time.UTC, floatDigits: 1}
	// Settings sent in the startup packet, and "-c name=value" in options.
	params := map[string]string{}
	for k, v := range m.Parameters {
		params[strings.ToLower(k)] = v
	}
	for _, kv := range parseOptions(params["options"]) {
		params[kv[0]] = kv[1]
	}
	for k, v := range params {
		switch k {
		case "user", "database", "options", "replication":
			continue
		case "client_encoding":
			continue // always UTF8: libpq sends its locale's encoding
		}
		if strings.HasPrefix(k, "_pq_.") {
			continue
		}
		if err := c.applySetting(k, v, false); err != nil {
			c.sendFatal(errCode(err), err.Error())
			return false
		}
	}
	c.send(&pgproto3.AuthenticationOk{})
	for _, d := range settingDefs {
		if d.report {
			v, _ := c.sess.Setting(d.key)
			c.send(&pgproto3.ParameterStatus{Name: d.name, Value: v})
		}
	}
	c.send(&pgproto3.BackendKeyData{ProcessID: c.pid, SecretKey: c.secret[:]})
	c.send(&pgproto3.ReadyForQuery{TxStatus: txIdle})
	if err := c.flush(); err != nil {
		return false
	}
	s.log.Debug("session started", "user", user, "database", db, "pid", c.pid)
	return true
}

// parseOptions reads libpq's options string: "-c a=b -c c=d --e=f".
func parseOptions(s string) [][2]string {
	var out [][2]string
	f := strings.Fields(s)
	for i := 0; i < len(f); i++ {
		kv := ""
		switch {
		case f[i] == "-c" && i+1 < len(f):
			i++
			kv = f[i]
		case strings.HasPrefix(f[i], "-c"):
			kv = f[i][2:]
		case strings.HasPrefix(f[i], "--"):
			kv = f[i][2:]
		}
		if k, v, ok := strings.Cut(kv, "="); ok {
			out = append(out, [2]string{strings.ToLower(strings.ReplaceAll(k, "-", "_")), v})
		}
	}
	return out
}

func errCode(err error) string {
	var e *Error
	if errors.As(err, &e) && e.Code != "" {
		return e.Code
	}
	return CodeInternal
}

// loop reads and handles messages until the client leaves or the session
// must end.
func (c *conn) loop() {
	for {
		if !c.setState(stateIdle) {
			c.sendFatal(CodeAdminShutdown, errShutdown.Error())
			return
		}
		msg, err := c.be.Receive()
		if !c.setState(stateBusy) {
			c.sendFatal(CodeAdminShutdown, errShutdown.Error())
			return
		}
		if err != nil {
			var tooBig *pgproto3.ExceededMaxBodyLenErr
			switch {
			case errors.As(err, &tooBig):
				c.sendFatal(CodeProtocolViolation, fmt.Sprintf("message of %d bytes exceeds the limit of %d bytes", tooBig.ActualBodyLen, tooBig.MaxExpectedBodyLen))
			case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed):
			default:
				var ne net.Error
				if !errors.As(err, &ne) {
					c.sendFatal(CodeProtocolViolation, "invalid message: "+err.Error())
				}
			}
			return
		}
		if _, ok := msg.(*pgproto3.Terminate); ok {
			return
		}
		if c.skipToSync {
			if _, ok := msg.(*pgproto3.Sync); !ok {
				continue
			}
		}
		var herr error
		switch m := msg.(type) {
		case *pgproto3.Query:
			c.simpleQuery(m.String)
			herr = c.flush()
		case *pgproto3.Parse:
			c.extended(c.parse(m))
		case *pgproto3.Bind:
			c.extended(c.bind(m))
		case *pgproto3.Describe:
			c.extended(c.describe(m))
		case *pgproto3.Execute:
			c.extended(c.execute(m))
		case *pgproto3.Close:
			c.extended(c.closeMsg(m))
		case *pgproto3.Sync:
			c.skipToSync = false
			if c.tx == txIdle {
				c.closeAll()
			} else {
				c.closePortal("")
			}
			c.send(&pgproto3.ReadyForQuery{TxStatus: c.tx})
			herr = c.flush()
		case *pgproto3.Flush:
			herr = c.flush()
		case *pgproto3.FunctionCall:
			c.extended(&Error{Code: CodeFeatureNotSupported, Message: "the function call protocol is not supported"})
			herr = c.flush()
		case *pgproto3.CopyData, *pgproto3.CopyDone, *pgproto3.CopyFail:
			// Not in COPY: ignored, as PostgreSQL does.
		default:
			c.sendFatal(CodeProtocolViolation, fmt.Sprintf("unexpected message %T", msg))
			return
		}
		if c.fatal {
			_ = c.flush()
			return
		}
		if herr != nil {
			return
		}
	}
}

// extended finishes an extended-protocol message: on error it reports it
// and discards messages up to Sync.
func (c *conn) extended(err error) {
	if err == nil {
		return
	}
	c.sendError(err, nil, 0)
	c.skipToSync = true
	// Keep a client that streams a long batch from filling our buffer.
	if len(c.wbuf) >= flushBytes {
		_ = c.flush()
	}
}

// sendError sends err as an ErrorResponse. ctx is the statement's context
// (for cancellations); offset shifts an Error's position to the client's
// query text.
func (c *conn) sendError(err error, ctx context.Context, offset int) {
	e := toPGError(err, ctx)
	if e.Position > 0 {
		e.Position += int32(offset)
	}
	if e.Code == CodeAdminShutdown {
		e.Severity, e.SeverityUnlocalized = "FATAL", "FATAL"
		c.fatal = true
	}
	if c.tx == txBlock {
		c.tx = txFailed
	}
	c.send(e)
}

func toPGError(err error, ctx context.Context) *pgproto3.ErrorResponse {
	if ctx != nil && ctx.Err() != nil {
		switch cause := context.Cause(ctx); cause {
		case errCancelRequest, errStatementTimeout:
			return &pgproto3.ErrorResponse{Severity: "ERROR", SeverityUnlocalized: "ERROR", Code: CodeQueryCanceled, Message: cause.Error()}
		case errShutdown:
			return &pgproto3.ErrorResponse{Severity: "FATAL", SeverityUnlocalized: "FATAL", Code: CodeAdminShutdown, Message: cause.Error()}
		}
	}
	var e *Error
	if errors.As(err, &e) {
		code := e.Code
		if code == "" {
			code = CodeInternal
		}
		return &pgproto3.ErrorResponse{Severity: "ERROR", SeverityUnlocalized: "ERROR", Code: code, Message: e.Message, Detail: e.Detail, Hint: e.Hint, Position: int32(e.Position)}
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return &pgproto3.ErrorResponse{Severity: "ERROR", SeverityUnlocalized: "ERROR", Code: CodeQueryCanceled, Message: "canceling statement: " + err.Error()}
	}
	return &pgproto3.ErrorResponse{Severity: "ERROR", SeverityUnlocalized: "ERROR", Code: CodeInternal, Message: err.Error()}
}

// simpleQuery runs a Query message: every statement in turn, in text
// format, stopping at the first error.
func (c *conn) simpleQuery(sql string) {
	c.closePortal("")
	delete(c.stmts, "")
	spans := splitStatements(nil, sql)
	if len(spans) == 0 {
		c.send(&pgproto3.EmptyQueryResponse{})
	}
	for _, sp := range spans {
		stmt := &prepared{sql: sql[sp.start:sp.end], offset: runeOffset(sql, sp.start)}
		b, err := parseBuiltin(stmt.sql, c.sess)
		if err != nil {
			c.sendError(err, nil, stmt.offset)
			break
		}
		stmt.builtin = b
		p := &portal{stmt: stmt}
		if err := c.start(p); err != nil {
			c.sendError(err, nil, stmt.offset)
			break
		}
		c.sendRowDescription(p.exec.cols, p.exec.formats)
		if _, err := c.run(p, 0); err != nil {
			c.sendError(err, p.exec.ctx, stmt.offset)
			c.finish(p.exec, err)
			break
		}
		c.finish(p.exec, nil)
		if c.fatal {
			break
		}
	}
	if !c.fatal {
		c.send(&pgproto3.ReadyForQuery{TxStatus: c.tx})
	}
}

// start begins executing a portal's statement (at Describe or the first
// Execute).
func (c *conn) start(p *portal) error {
	if p.exec != nil {
		return nil
	}
	st := p.stmt
	if c.tx == txFailed && (st.builtin == nil || (st.builtin.kind != bCommit && st.builtin.kind != bRollback && st.builtin.kind != bRollbackTo)) {
		return &Error{Code: CodeInFailedTransaction, Message: "current transaction is aborted, commands ignored until end of transaction block"}
	}
	ex := &execution{start: time.Now()}
	ex.ctx, ex.cancel = c.statementContext()
	p.exec = ex
	var err error
	if st.builtin != nil {
		ex.rows, ex.tag, err = c.runBuiltin(st.builtin)
	} else {
		c.setRunning(ex.cancel)
		ex.rows, ex.tag, err = c.srv.h.Query(ex.ctx, c.sess, st.sql, p.params)
		c.setRunning(nil)
	}
	if err != nil {
		if ex.rows != nil {
			ex.rows.Close()
			ex.rows = nil
		}
		return c.failExec(p, err)
	}
	if ex.rows == nil {
		if ex.tag == "" {
			ex.tag = "OK"
		}
		return nil
	}
	ex.cols = ex.rows.Columns()
	for _, col := range ex.cols {
		if col.Type == TypeUnknown || col.Type >= numTypes {
			return c.failExec(p, &Error{Code: CodeInternal, Message: fmt.Sprintf("column %q has no wire type (%v)", col.Name, col.Type)})
		}
	}
	ex.formats, err = resultFormats(p.formats, len(ex.cols))
	if err != nil {
		return c.failExec(p, err)
	}
	return nil
}

// failExec records a failed start: the error is reported by the caller
// with the execution's context (so cancels read as 57014).
func (c *conn) failExec(p *portal, err error) error {
	ex := p.exec
	if ex.ctx.Err() != nil {
		r := toPGError(err, ex.ctx)
		err = &Error{Code: r.Code, Message: r.Message}
	}
	c.finish(ex, err)
	p.exec = nil
	return err
}

func (c *conn) setRunning(f context.CancelCauseFunc) {
	c.mu.Lock()
	c.running = f
	c.mu.Unlock()
}

// statementContext derives a statement's context: cancelled by a cancel
// request, by statement_timeout and by Shutdown.
func (c *conn) statementContext() (context.Context, context.CancelCauseFunc) {
	ctx, cancel := context.WithCancelCause(c.srv.baseCtx)
	if v, _ := c.sess.Setting("statement_timeout"); v != "0" {
		if d, err := parseMillis(v); err == nil && d > 0 {
			tctx, tcancel := context.WithTimeoutCause(ctx, d, errStatementTimeout)
			return tctx, func(cause error) { cancel(cause); tcancel() }
		}
	}
	return ctx, cancel
}

func resultFormats(codes []int16, n int) ([]int16, error) {
	out := make([]int16, n)
	switch len(codes) {
	case 0:
	case 1:
		for i := range out {
			out[i] = codes[0]
		}
	case n:
		copy(out, codes)
	default:
		return nil, &Error{Code: CodeProtocolViolation, Message: fmt.Sprintf("bind message has %d result formats but query has %d columns", len(codes), n)}
	}
	for _, f := range out {
		if f != 0 && f != 1 {
			return nil, &Error{Code: CodeProtocolViolation, Message: fmt.Sprintf("unsupported format code: %d", f)}
		}
	}
	return out, nil
}

// run streams up to maxRows rows (0: all) of a started portal and ends
// with CommandComplete, or PortalSuspended if rows may remain.
func (c *conn) run(p *portal, maxRows uint32) (suspended bool, err error) {
	ex := p.exec
	if ex.rows == nil || ex.done {
		c.send(&pgproto3.CommandComplete{CommandTag: []byte(ex.tag)})
		ex.done = true
		return false, nil
	}
	c.setRunning(ex.cancel)
	defer c.setRunning(nil)
	var sent uint32
	for maxRows == 0 || sent < maxRows {
		if ex.batch == nil || ex.pos >= ex.batch.Len() {
			if err := ex.ctx.Err(); err != nil {
				return false, err
			}
			b, err := ex.rows.Next(ex.ctx)
			if err != nil {
				return false, err
			}
			if b == nil {
				ex.done = true
				break
			}
			if err := checkBatch(b, ex.cols); err != nil {
				return false, err
			}
			ex.batch, ex.pos = b, 0
			continue
		}
		c.appendDataRow(ex.batch, ex.pos, ex.cols, ex.formats)
		ex.pos++
		ex.count++
		sent++
		if len(c.wbuf) >= flushBytes {
			if err := c.flush(); err != nil {
				return false, err
			}
		}
	}
	if !ex.done {
		c.send(&pgproto3.PortalSuspended{})
		return true, nil
	}
	if ex.tag != "" && ex.tag != "SELECT" {
		c.send(&pgproto3.CommandComplete{CommandTag: []byte(ex.tag)})
	} else {
		c.send(&pgproto3.CommandComplete{CommandTag: strconv.AppendInt([]byte("SELECT "), ex.count, 10)})
	}
	return false, nil
}

// checkBatch makes sure that reading the batch as cols cannot index out of
// range: a Handler bug becomes an error, not a panic.
func checkBatch(b *columnar.Batch, cols []Column) error {
	if len(b.Cols) != len(cols) {
		return &Error{Code: CodeInternal, Message: fmt.Sprintf("result batch has %d columns, want %d", len(b.Cols), len(cols))}
	}
	n := b.Len()
	for i, col := range b.Cols {
		var have int
		switch cols[i].Type {
		case TypeBool:
			have = len(col.Bools)
		case TypeInt64, TypeTimestamp, TypeTimestampTZ, TypeDate, TypeInterval:
			have = len(col.Ints)
		case TypeFloat64:
			have = len(col.Floats)
		case TypeText:
			have = len(col.Strs)
		}
		if have < n || (col.Nulls != nil && len(col.Nulls) < n) {
			return &Error{Code: CodeInternal, Message: fmt.Sprintf("result column %q (%v) has %d values for %d rows", cols[i].Name, cols[i].Type, have, n)}
		}
	}
	return nil
}

// appendDataRow encodes row i of b as a DataRow message into c.wbuf.
func (c *conn) appendDataRow(b *columnar.Batch, i int, cols []Column, formats []int16) {
	w := c.wbuf
	start := len(w)
	w = append(w, 'D', 0, 0, 0, 0)
	w = binary.BigEndian.AppendUint16(w, uint16(len(cols)))
	for k, col := range b.Cols {
		if col.IsNull(i) {
			w = append(w, 0xff, 0xff, 0xff, 0xff)
			continue
		}
		lp := len(w)
		w = append(w, 0, 0, 0, 0)
		if formats[k] == 1 {
			w = appendBinary(w, cols[k].Type, col, i)
		} else {
			w = c.enc.appendText(w, cols[k].Type, col, i)
		}
		binary.BigEndian.PutUint32(w[lp:], uint32(len(w)-lp-4))
	}
	binary.BigEndian.PutUint32(w[start+1:], uint32(len(w)-start-1))
	c.wbuf = w
}

func (c *conn) sendRowDescription(cols []Column, formats []int16) {
	if cols == nil {
		return
	}
	c.fields = c.fields[:0]
	for i, col := range cols {
		var f int16
		if formats != nil {
			f = formats[i]
		}
		c.fields = append(c.fields, pgproto3.FieldDescription{
			Name: []byte(col.Name), DataTypeOID: col.Type.OID(), DataTypeSize: typeInfo[min(col.Type, numTypes-1)].size,
			TypeModifier: -1, Format: f,
		})
	}
	c.send(&pgproto3.RowDescription{Fields: c.fields})
}

// finish closes an execution's rows and context and records its outcome.
func (c *conn) finish(ex *execution, err error) {
	if ex == nil || ex.ended {
		return
	}
	ex.ended = true
	if ex.rows != nil {
		if cerr := ex.rows.Close(); cerr != nil && err == nil {
			c.srv.log.Debug("closing rows", "err", cerr)
		}
		ex.rows = nil
	}
	outcome := outcomeOK
	if err != nil {
		outcome = outcomeError
		if ex.ctx.Err() != nil || toPGError(err, ex.ctx).Code == CodeQueryCanceled {
			outcome = outcomeCanceled
		}
	}
	ex.cancel(nil)
	c.srv.metrics.queries[outcome].Inc()
	c.srv.metrics.duration.Observe(time.Since(ex.start).Seconds())
}

func (c *conn) closePortal(name string) {
	if p := c.portals[name]; p != nil {
		c.finish(p.exec, nil)
		delete(c.portals, name)
	}
}

// closeAll closes every portal (end of an implicit transaction).
func (c *conn) closeAll() {
	for name := range c.portals {
		c.closePortal(name)
	}
}
