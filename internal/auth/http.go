package auth

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// GuardOptions configure Guard.
type GuardOptions struct {
	// MaxBodyBytes bounds the bodies Guard reads to check a signature or
	// find a resource name (default 8 MiB); larger ones get 413.
	MaxBodyBytes int64
	// SQL resolves table names of /v1/query statements.
	SQL SQLScope
	// Statements maps routes (ServeMux patterns) that run a SQL statement
	// built from the request — the insight functions, plots — to that
	// statement, whose tables are then checked as those of /v1/query.
	// A route not listed needs sluice:HTTP.
	Statements map[string]StatementFunc
}

// StatementFunc returns the SQL statement a request runs; body is the
// request's body (nil for GET). An error means the route's handler would
// refuse the request too; the guard answers 400 with it.
type StatementFunc func(r *http.Request, body []byte) (string, error)

type callerKey struct{}

// WithCaller returns ctx carrying the authenticated caller.
func WithCaller(ctx context.Context, c *Caller) context.Context {
	return context.WithValue(ctx, callerKey{}, c)
}

// CallerFrom returns the caller Guard authenticated, or nil.
func CallerFrom(ctx context.Context) *Caller {
	c, _ := ctx.Value(callerKey{}).(*Caller)
	return c
}

// Actions of the native API that have no AWS equivalent.
const (
	ActionFlush   = "sluice:Flush"
	ActionCompact = "sluice:Compact"
	ActionMetrics = "sluice:GetMetrics"
	// ActionHTTP covers routes the guard does not know (the console, routes
	// added later), on resource "arn:aws:sluice:::path/<path>", so that a
	// new route is never open to a key with a narrow policy.
	ActionHTTP = "sluice:HTTP"
	// ActionInferLakeSchema is POST /v1/lake/infer (Glue's crawler): it
	// reads files under the lake root to infer a table definition.
	ActionInferLakeSchema = "sluice:InferLakeSchema"
)

// Guard returns next behind the native HTTP API's access control. With
// keys configured, every request except GET /healthz, GET /readyz and the
// AWS-compatible APIs (POST / with X-Amz-Target, which authenticate
// themselves through Authenticate) must carry a credential — SigV4, HTTP
// Basic (key id and secret) or "Authorization: Bearer <key id>:<secret>" —
// and the key's policy must allow the route's action (docs/security.md has
// the table). A missing or wrong credential gets 401, a denied action 403,
// both in the native error shape. Without keys, Guard is next.
func (s *Service) Guard(next http.Handler, opts GuardOptions) http.Handler {
	if !s.Enabled() {
		return next
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = 8 << 20
	}
	g := &guard{s: s, next: next, opts: opts, routes: http.NewServeMux()}
	g.routes.HandleFunc("POST /v1/streams/{stream}/records", g.rule("kinesis:PutRecord", func(r *http.Request) string { return StreamARN("", r.PathValue("stream")) }))
	g.routes.HandleFunc("GET /v1/databases", g.rule("timestream:ListDatabases", func(*http.Request) string { return "*" }))
	g.routes.HandleFunc("POST /v1/databases", g.named("timestream:CreateDatabase", func(_ *http.Request, name string) string { return DatabaseARN("", name) }))
	g.routes.HandleFunc("GET /v1/databases/{db}", g.rule("timestream:DescribeDatabase", dbARN))
	g.routes.HandleFunc("DELETE /v1/databases/{db}", g.rule("timestream:DeleteDatabase", dbARN))
	g.routes.HandleFunc("GET /v1/databases/{db}/tables", g.rule("timestream:ListTables", dbARN))
	g.routes.HandleFunc("POST /v1/databases/{db}/tables", g.named("timestream:CreateTable", func(r *http.Request, name string) string { return TableARN("", r.PathValue("db"), name) }))
	g.routes.HandleFunc("GET /v1/databases/{db}/tables/{table}", g.rule("timestream:DescribeTable", tableARN))
	g.routes.HandleFunc("PATCH /v1/databases/{db}/tables/{table}", g.rule("timestream:UpdateTable", tableARN))
	g.routes.HandleFunc("DELETE /v1/databases/{db}/tables/{table}", g.rule("timestream:DeleteTable", tableARN))
	g.routes.HandleFunc("POST /v1/databases/{db}/tables/{table}/records", g.rule("timestream:WriteRecords", tableARN))
	g.routes.HandleFunc("GET /v1/databases/{db}/tables/{table}/rows", g.rule(ActionSelect, tableARN))
	g.routes.HandleFunc("POST /v1/admin/flush", g.rule(ActionFlush, func(*http.Request) string { return "*" }))
	g.routes.HandleFunc("POST /v1/admin/compact", g.rule(ActionCompact, func(*http.Request) string { return "*" }))
	g.routes.HandleFunc("GET /metrics", g.rule(ActionMetrics, func(*http.Request) string { return "*" }))
	g.routes.HandleFunc("POST /v1/query", g.query)
	g.routes.HandleFunc("POST /v1/lake/infer", g.lakeInfer)
	for pattern, f := range opts.Statements {
		g.routes.HandleFunc(pattern, g.statement(f))
	}
	g.routes.HandleFunc("/", g.rule(ActionHTTP, func(r *http.Request) string { return "arn:aws:sluice:::path" + r.URL.Path }))
	return g
}

func dbARN(r *http.Request) string    { return DatabaseARN("", r.PathValue("db")) }
func tableARN(r *http.Request) string { return TableARN("", r.PathValue("db"), r.PathValue("table")) }

type guard struct {
	s      *Service
	next   http.Handler
	opts   GuardOptions
	routes *http.ServeMux
}

func (g *guard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method == http.MethodGet && (r.URL.Path == "/healthz" || r.URL.Path == "/readyz"):
		g.next.ServeHTTP(w, r) // probes carry no credentials
		return
	case r.Method == http.MethodPost && r.URL.Path == "/" && r.Header.Get("X-Amz-Target") != "":
		g.next.ServeHTTP(w, r) // AWS APIs: SigV4 checked there, with AWS errors
		return
	}
	c, err := g.authenticate(w, r)
	if err != nil {
		writeAuthError(w, err)
		return
	}
	g.routes.ServeHTTP(w, r.WithContext(WithCaller(r.Context(), c)))
}

// authenticate finds and checks r's credential. SigV4 needs the body,
// which is read and put back.
func (g *guard) authenticate(w http.ResponseWriter, r *http.Request) (*Caller, error) {
	h := r.Header.Get("Authorization")
	scheme, cred, _ := strings.Cut(h, " ")
	switch {
	case IsSigV4(r):
		body, err := g.body(w, r)
		if err != nil {
			return nil, err
		}
		return g.s.authenticateSigV4(r, body)
	case strings.EqualFold(scheme, "Basic"):
		raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(cred))
		if err != nil {
			return nil, errBadPassword
		}
		id, secret, _ := strings.Cut(string(raw), ":")
		return g.s.CheckSecret(id, secret)
	case strings.EqualFold(scheme, "Bearer"):
		id, secret, ok := strings.Cut(strings.TrimSpace(cred), ":")
		if !ok {
			return nil, errBadPassword
		}
		return g.s.CheckSecret(id, secret)
	case h != "":
		return nil, incomplete("unsupported Authorization scheme (use AWS4-HMAC-SHA256, Basic or Bearer <key id>:<secret>)")
	}
	if g.s.allowUnsigned {
		return g.s.anon, nil
	}
	return nil, errMissing
}

// body reads r's body (at most MaxBodyBytes) and puts it back.
func (g *guard) body(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return nil, nil
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, g.opts.MaxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, &Error{Code: "too_large", Status: http.StatusRequestEntityTooLarge, Message: fmt.Sprintf("request body is over %d bytes", mbe.Limit)}
		}
		return nil, &Error{Code: "bad_request", Status: http.StatusBadRequest, Message: "reading request body: " + err.Error()}
	}
	r.Body = io.NopCloser(bytes.NewReader(data))
	return data, nil
}

func (g *guard) rule(action string, resource func(*http.Request) string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c := CallerFrom(r.Context())
		if res := resource(r); !c.Allow(action, res) {
			writeAuthError(w, Denied(c, action, res))
			return
		}
		g.next.ServeHTTP(w, r)
	}
}

// named checks a create route whose resource name is the body's "name"
// (decoded as internal/api decodes it).
func (g *guard) named(action string, resource func(*http.Request, string) string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, err := g.body(w, r)
		if err != nil {
			writeAuthError(w, err)
			return
		}
		var req struct {
			Name string `json:"name"`
		}
		_ = json.Unmarshal(body, &req) // a bad body is refused by the API itself
		g.rule(action, func(r *http.Request) string { return resource(r, req.Name) })(w, r)
	}
}

// query checks a /v1/query statement's tables.
func (g *guard) query(w http.ResponseWriter, r *http.Request) {
	g.statement(func(_ *http.Request, body []byte) (string, error) {
		var req struct {
			SQL string `json:"sql"`
		}
		_ = json.Unmarshal(body, &req) // a bad body is refused by the API itself
		return req.SQL, nil
	})(w, r)
}

// statement checks the tables of the statement f finds in the request.
func (g *guard) statement(f StatementFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var body []byte
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			var err error
			if body, err = g.body(w, r); err != nil {
				writeAuthError(w, err)
				return
			}
		}
		sql, err := f(r, body)
		if err != nil {
			writeAuthError(w, &Error{Code: "bad_request", Status: http.StatusBadRequest, Message: err.Error()})
			return
		}
		if err := CheckSQL(CallerFrom(r.Context()), sql, g.opts.SQL); err != nil {
			writeAuthError(w, err)
			return
		}
		g.next.ServeHTTP(w, r)
	}
}

// lakeInfer checks POST /v1/lake/infer: sluice:InferLakeSchema, and with
// "create" timestream:CreateTable on the table it would create (as CREATE
// EXTERNAL TABLE through SQL needs).
func (g *guard) lakeInfer(w http.ResponseWriter, r *http.Request) {
	body, err := g.body(w, r)
	if err != nil {
		writeAuthError(w, err)
		return
	}
	var req struct {
		Database string `json:"database"`
		Table    string `json:"table"`
		Create   bool   `json:"create"`
	}
	_ = json.Unmarshal(body, &req)
	c := CallerFrom(r.Context())
	if !c.Allow(ActionInferLakeSchema, "*") {
		writeAuthError(w, Denied(c, ActionInferLakeSchema, "*"))
		return
	}
	if req.Create {
		if res := TableARN("", req.Database, req.Table); !c.Allow(ActionCreateTable, res) {
			writeAuthError(w, Denied(c, ActionCreateTable, res))
			return
		}
	}
	g.next.ServeHTTP(w, r)
}

// writeAuthError answers in the native error shape: 401 for a missing or
// wrong credential (with a Basic challenge, so that browsers ask), 403 for
// a denied action.
func writeAuthError(w http.ResponseWriter, err error) {
	var e *Error
	if !errors.As(err, &e) {
		e = &Error{Code: "internal", Status: http.StatusInternalServerError, Message: err.Error()}
	}
	status, code := e.Status, e.Code
	switch e.Code {
	case CodeAccessDenied:
		status, code = http.StatusForbidden, "access_denied"
	case CodeMissingAuthenticationToken, CodeIncompleteSignature, CodeInvalidSignature, CodeUnrecognizedClient:
		status, code = http.StatusUnauthorized, "unauthenticated"
		w.Header().Set("WWW-Authenticate", `Basic realm="sluice", charset="UTF-8"`)
	}
	msg := e.Message
	if strings.HasSuffix(e.Code, "Exception") {
		msg = e.Code + ": " + msg
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	b, _ := json.Marshal(map[string]any{"error": map[string]string{"code": code, "message": msg}})
	w.Write(append(b, '\n'))
}
