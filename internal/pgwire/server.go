// Package pgwire is sluice's PostgreSQL wire-protocol (v3) front door, so
// that Grafana's PostgreSQL data source, psql and pgx-based clients can
// query sluice. It speaks the protocol (startup, SSL/TLS, trust, cleartext,
// MD5 and SCRAM-SHA-256 authentication, the simple and extended query
// protocols, cancel requests) and answers session statements (SET, SHOW
// of settings, RESET, BEGIN/COMMIT/ROLLBACK as no-ops); every other
// statement goes to a Handler, the SQL engine's side of the seam, which
// returns columnar batches that pgwire encodes in PostgreSQL's text or
// binary formats.
//
// Concurrency: a Server is safe for concurrent use. Each connection is
// served by one goroutine; all goroutines (the accept loop and the
// connections) are started through Server.goroutine and Shutdown waits for
// them. A connection runs its statements one at a time on its goroutine, so
// a Handler sees concurrent calls only from different connections.
//
// Invariants:
//   - Bytes from the network never panic the process: every message is
//     length-checked (Options.MaxMessageBytes), malformed input ends the
//     connection with an ErrorResponse, and a panic in a connection
//     (including one in the Handler) is recovered, logged and ends only
//     that connection.
//   - A cancel request cancels the context of the statement running on the
//     connection whose BackendKeyData it carries, and nothing else; the
//     client sees 57014. statement_timeout is enforced the same way.
//   - After an error inside an extended-protocol batch every message up to
//     Sync is discarded, as the protocol requires.
//   - Output is PostgreSQL's: type OIDs, text formats (float8 shortest
//     round-trip, timestamps to µs, t/f), command tags (SELECT n), SQLSTATEs.
package pgwire

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime/pprof"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/prometheus/client_golang/prometheus"
)

// Defaults for zero Options fields.
const (
	DefaultAddr            = "127.0.0.1:5433"
	DefaultMaxConns        = 100
	DefaultMaxMessageBytes = 64 << 20
	DefaultServerVersion   = "16.0 (sluice)"
	DefaultShutdownGrace   = 5 * time.Second
	DefaultStartupTimeout  = 10 * time.Second
)

// Options configure a Server. A zero field means its default.
type Options struct {
	// Addr is the TCP address to listen on; "" means DefaultAddr. Use
	// "127.0.0.1:0" in tests and read Server.Addr.
	Addr string
	// TLS, if set, is offered to clients that send an SSLRequest (libpq's
	// sslmode=require and stronger, pgx's default "prefer"). Without it the
	// server answers 'N' and clients continue in plain text or give up.
	TLS *tls.Config
	// RequireTLS refuses sessions that did not upgrade to TLS (28000).
	RequireTLS bool
	// Passwords looks up the password of a user; ok=false means no such
	// user. nil means no authentication ("trust"): every user is admitted.
	// SCRAM needs the plaintext (it derives a verifier from it, cached per
	// user), hence a lookup rather than a check function.
	Passwords func(user string) (password string, ok bool)
	// AuthMethod is AuthSCRAM (the default when Passwords is set), AuthMD5,
	// AuthPassword (cleartext, for TLS connections) or AuthTrust.
	AuthMethod string
	// Logger receives connection-level events; nil discards them.
	Logger *slog.Logger
	// MaxConns limits open sessions (default 100). Further clients get
	// 53300 "sorry, too many clients already"; cancel requests are still
	// served.
	MaxConns int
	// MaxMessageBytes limits one client message (default 64 MiB); a larger
	// one ends the connection with 08P01.
	MaxMessageBytes int
	// ServerVersion is reported as server_version (default "16.0
	// (sluice)"); server_version_num is derived from it.
	ServerVersion string
	// ShutdownGrace is how long Shutdown lets running statements finish
	// before cancelling them (default 5s, bounded by Shutdown's context).
	ShutdownGrace time.Duration
	// StartupTimeout bounds the startup and authentication exchange
	// (default 10s).
	StartupTimeout time.Duration
}

// Server is a PostgreSQL wire-protocol server. Create it with NewServer,
// then Start it; Shutdown stops it.
type Server struct {
	h       Handler
	opts    Options
	log     *slog.Logger
	metrics *metrics
	scram   scramCache

	// baseCtx parents every statement's context; it is cancelled when
	// Shutdown's grace period ends.
	baseCtx    context.Context
	baseCancel context.CancelCauseFunc

	mu       sync.Mutex
	ln       net.Listener
	conns    map[*conn]struct{} // every accepted connection
	sessions map[uint32]*conn   // admitted sessions by process id (BackendKeyData)
	nextPID  uint32
	quit     bool // set by Shutdown: no new goroutines or sessions
	wg       sync.WaitGroup
}

// Errors that become the cause of a cancelled statement context.
var (
	errCancelRequest    = errors.New("canceling statement due to user request")
	errStatementTimeout = errors.New("canceling statement due to statement timeout")
	errShutdown         = errors.New("terminating connection due to administrator command")
)

// NewServer returns a server that answers queries with h. reg may be nil.
func NewServer(h Handler, opts Options, reg prometheus.Registerer) (*Server, error) {
	if h == nil {
		return nil, errors.New("pgwire: nil Handler")
	}
	if opts.Addr == "" {
		opts.Addr = DefaultAddr
	}
	if opts.MaxConns <= 0 {
		opts.MaxConns = DefaultMaxConns
	}
	if opts.MaxMessageBytes <= 0 {
		opts.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if opts.ServerVersion == "" {
		opts.ServerVersion = DefaultServerVersion
	}
	if opts.ShutdownGrace <= 0 {
		opts.ShutdownGrace = DefaultShutdownGrace
	}
	if opts.StartupTimeout <= 0 {
		opts.StartupTimeout = DefaultStartupTimeout
	}
	switch opts.AuthMethod {
	case "":
		opts.AuthMethod = AuthSCRAM
		if opts.Passwords == nil {
			opts.AuthMethod = AuthTrust
		}
	case AuthTrust:
	case AuthPassword, AuthMD5, AuthSCRAM:
		if opts.Passwords == nil {
			return nil, fmt.Errorf("pgwire: AuthMethod %q needs Passwords", opts.AuthMethod)
		}
	default:
		return nil, fmt.Errorf("pgwire: unknown AuthMethod %q (want %s, %s, %s or %s)", opts.AuthMethod, AuthSCRAM, AuthMD5, AuthPassword, AuthTrust)
	}
	if opts.RequireTLS && opts.TLS == nil {
		return nil, errors.New("pgwire: RequireTLS needs a TLS config")
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, fmt.Errorf("pgwire: registering metrics: %w", err)
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	return &Server{
		h: h, opts: opts, log: log.With("component", "pgwire"), metrics: m,
		baseCtx: ctx, baseCancel: cancel,
		conns: map[*conn]struct{}{}, sessions: map[uint32]*conn{},
	}, nil
}

// Start listens on Options.Addr and serves connections in the background
// until Shutdown. ctx bounds only the listen call.
func (s *Server) Start(ctx context.Context) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", s.opts.Addr)
	if err != nil {
		return fmt.Errorf("pgwire: listening on %s: %w", s.opts.Addr, err)
	}
	s.mu.Lock()
	if s.ln != nil || s.quit {
		s.mu.Unlock()
		ln.Close()
		return errors.New("pgwire: server already started or shut down")
	}
	s.ln = ln
	s.mu.Unlock()
	if !s.goroutine("accept", func() { s.acceptLoop(ln) }) {
		ln.Close()
		return errors.New("pgwire: server shut down")
	}
	s.log.Info("PostgreSQL wire protocol listening", "addr", ln.Addr().String(), "auth", s.opts.AuthMethod, "tls", s.opts.TLS != nil)
	return nil
}

// Addr returns the address the server listens on ("" before Start).
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// goroutine runs fn in a new goroutine counted by s.wg, labelled for
// pprof; it refuses (returns false) once Shutdown has begun.
func (s *Server) goroutine(name string, fn func()) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.quit {
		return false
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		pprof.Do(context.Background(), pprof.Labels("sluice", "pgwire/"+name), func(context.Context) { fn() })
	}()
	return true
}

func (s *Server) acceptLoop(ln net.Listener) {
	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			s.mu.Lock()
			quit := s.quit
			s.mu.Unlock()
			if quit || errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: wait rather than spin.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			s.log.Warn("accepting a connection", "err", err, "retry_in", backoff)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		s.serve(nc)
	}
}

// serve starts the goroutine of one accepted connection.
func (s *Server) serve(nc net.Conn) {
	c := &conn{srv: s, nc: nc, tx: txIdle}
	s.mu.Lock()
	// Connections still in startup are not sessions yet; bound them too, so
	// that a flood of idle sockets cannot pile up goroutines. The slack
	// leaves room for cancel requests and for telling clients why they are
	// refused.
	if len(s.conns) >= 2*s.opts.MaxConns+16 {
		s.mu.Unlock()
		s.metrics.rejected.Inc()
		nc.Close()
		return
	}
	s.conns[c] = struct{}{}
	s.mu.Unlock()
	if !s.goroutine("conn", c.serve) {
		s.forget(c)
		nc.Close()
	}
}

func (s *Server) forget(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	if c.pid != 0 && s.sessions[c.pid] == c {
		delete(s.sessions, c.pid)
	}
	s.mu.Unlock()
}

// admit registers c as a session and gives it a process id and secret
// key, or reports that MaxConns sessions are open.
func (s *Server) admit(c *conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.quit || len(s.sessions) >= s.opts.MaxConns {
		return false
	}
	for {
		s.nextPID++
		if s.nextPID != 0 && s.sessions[s.nextPID] == nil {
			break
		}
	}
	c.pid = s.nextPID
	_, _ = rand.Read(c.secret[:])
	s.sessions[c.pid] = c
	return true
}

// cancelRequest cancels the running statement of the session with the
// given key. A wrong key is ignored silently, as PostgreSQL does.
func (s *Server) cancelRequest(pid uint32, secret []byte) {
	s.mu.Lock()
	c := s.sessions[pid]
	s.mu.Unlock()
	if c == nil || subtle.ConstantTimeCompare(secret, c.secret[:]) != 1 {
		s.log.Debug("cancel request with an unknown key", "pid", pid)
		return
	}
	c.cancel(errCancelRequest)
}

// Shutdown stops accepting connections, closes idle sessions with 57P01,
// lets running statements finish for Options.ShutdownGrace, then cancels
// them and closes their connections, and waits for every goroutine. It
// returns ctx's error if they are not all done when ctx ends.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.quit = true
	ln := s.ln
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	if ln != nil {
		ln.Close()
	}
	for _, c := range conns {
		c.stop()
	}
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()

	grace := time.NewTimer(s.opts.ShutdownGrace)
	defer grace.Stop()
	select {
	case <-done:
		s.baseCancel(errShutdown)
		return nil
	case <-grace.C:
	case <-ctx.Done():
	}
	// Cancel what still runs; each connection reports 57P01 and closes.
	s.baseCancel(errShutdown)
	select {
	case <-done:
		return nil
	case <-ctx.Done():
	case <-time.After(time.Second):
	}
	// Statements that ignore their context: close their sockets.
	s.mu.Lock()
	for c := range s.conns {
		c.closeNet()
	}
	s.mu.Unlock()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("pgwire: shutdown: connections still running: %w", ctx.Err())
	}
}

// fatalBytes encodes a FATAL ErrorResponse for writing outside a
// connection's own buffer.
func fatalBytes(code, msg string) []byte {
	b, _ := (&pgproto3.ErrorResponse{Severity: "FATAL", SeverityUnlocalized: "FATAL", Code: code, Message: msg}).Encode(nil)
	return b
}
