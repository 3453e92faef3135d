// Package awsapi serves the AWS-compatible JSON APIs on sluice's main HTTP
// listener (POST / with X-Amz-Target): Kinesis Data Streams
// (awsJson1_1, Kinesis_20131202.*) over the sluice stream, and Timestream
// Write and Query (awsJson1_0, Timestream_20181101.*) over the store and
// the SQL engine. Unmodified AWS SDK clients work against it once their
// endpoint points here (aws-compat.md §2, §3, §6, §9).
//
// Protocol: requests are routed on X-Amz-Target; bodies are JSON (empty
// means {}), unknown members are ignored, Content-Encoding gzip is honoured.
// Every answer carries x-amzn-RequestId; errors carry __type, a message
// member (Message for Timestream, message for Kinesis) and X-Amzn-ErrorType.
//
// Security: with an Authorizer every request's SigV4 signature is verified
// and each operation asks the caller's Principal whether it may perform
// the action on the resource's ARN; a nil Authorizer means unsigned access,
// which the operator has to enable explicitly.
//
// Kinesis model: a Kinesis stream is a sluice stream; one PutRecords call
// is one stream message (a frame, internal/stream), so records put this way
// reach the processor and the lake writer like native ingest. Shards are a
// read-side view: a record belongs to the shard whose hash key range holds
// MD5(PartitionKey) (or its ExplicitHashKey), so the shard count is only
// metadata and a sequence number names (stream sequence, index in the
// frame, shard). Iterators are self-describing and expire after 5 minutes.
//
// Concurrency: a Server is safe for concurrent use. Query results are kept
// as cursors (a stable snapshot per QueryId) until read or expired.
package awsapi

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluice-dev/sluice/internal/auth"
	sluicesql "github.com/sluice-dev/sluice/internal/sql"
	"github.com/sluice-dev/sluice/internal/stream"
	"github.com/sluice-dev/sluice/internal/tsdb"
)

// Authorizer verifies requests (internal/auth implements it).
type Authorizer interface {
	// Authenticate verifies the request's SigV4 signature over body and
	// returns the caller.
	Authenticate(r *http.Request, body []byte) (Principal, error)
}

// Principal is an authenticated caller (internal/auth's, so that
// *auth.Service is an Authorizer):
//
//	Allow(action, resource string) bool // action "kinesis:PutRecords", "timestream:WriteRecords",
//	                                    // "timestream:Select"; resource an ARN such as
//	                                    // "arn:aws:kinesis:REGION:ACCOUNT:stream/NAME" or
//	                                    // "arn:aws:timestream:REGION:ACCOUNT:database/DB/table/TABLE"
//	AccessKeyID() string
type Principal = auth.Principal

// AWSError is implemented by errors that carry an AWS error code; so are
// *auth.Error values (fields Code, Message, Status). Authenticate errors
// with neither are reported as UnrecognizedClientException.
type AWSError interface {
	error
	ErrorCode() string
	HTTPStatus() int
}

// Store is what the Timestream APIs need of the storage engine (*tsdb.DB).
type Store interface {
	CreateDatabase(ctx context.Context, name string) (tsdb.DatabaseInfo, error)
	Databases(ctx context.Context) []tsdb.DatabaseInfo
	Database(ctx context.Context, name string) (tsdb.DatabaseInfo, error)
	DeleteDatabase(ctx context.Context, name string) error
	CreateTable(ctx context.Context, db, name string, opts tsdb.TableOptions) (tsdb.TableInfo, error)
	Tables(ctx context.Context, db string) ([]tsdb.TableInfo, error)
	Table(ctx context.Context, db, name string) (tsdb.TableInfo, error)
	UpdateTable(ctx context.Context, db, name string, opts tsdb.TableOptions) (tsdb.TableInfo, error)
	DeleteTable(ctx context.Context, db, name string) error
	Write(ctx context.Context, db, table string, recs []tsdb.Record) ([]tsdb.Reject, error)
}

// Querier runs SQL (*sql.Engine).
type Querier interface {
	Query(ctx context.Context, sql string, params []any) (*sluicesql.Result, error)
}

// Options configure a Server. Zero fields mean defaults.
type Options struct {
	// Region and AccountID appear in ARNs; defaults "us-east-1" and
	// "000000000000".
	Region    string
	AccountID string
	// Authorizer verifies signatures and policies; nil = unsigned access.
	Authorizer Authorizer
	// CheckSQL decides whether p may run a Query's statement (auth.CheckSQL
	// with the server's name resolution); nil = timestream:Select on each
	// table the statement names, resolved against DefaultDatabase.
	CheckSQL func(p Principal, sql string) error
	// CatalogDir holds the Kinesis stream metadata (shard counts),
	// <data-dir>/catalog. Required for the Kinesis API.
	CatalogDir string
	// DefaultShards is the shard count of sluice streams not created
	// through CreateStream (the ingest stream "events"); 0 = 1.
	DefaultShards int
	// Protected streams cannot be deleted through the Kinesis API (the
	// streams the processor and ingest depend on).
	Protected []string
	// DefaultDatabase is the database of unqualified table names in
	// queries (for authorization); "" = none.
	DefaultDatabase string
	// StreamRetention is the retention of streams made by CreateStream;
	// 0 = 24 h (Kinesis' default).
	StreamRetention time.Duration
	// Publisher, if set, takes Kinesis records through the native ingest's
	// group commit (internal/ingest.Service), so that concurrent
	// PutRecords calls share stream messages and fsyncs; nil = one stream
	// message per call, straight to the broker.
	Publisher Publisher
	// MaxBodyBytes bounds a request body (after gzip); 0 = 16 MiB, which
	// a 10 MiB PutRecords takes after base64.
	MaxBodyBytes int64
	// Now returns the current time; nil = time.Now.
	Now func() time.Time
}

// Publisher appends records to a stream and reports each record's
// position (see internal/ingest.Service.PublishAt).
type Publisher interface {
	PublishAt(ctx context.Context, stream string, recs []stream.Record, pos []stream.Position) error
}

func (o *Options) setDefaults() {
	if o.Region == "" {
		o.Region = "us-east-1"
	}
	if o.AccountID == "" {
		o.AccountID = "000000000000"
	}
	if o.DefaultShards <= 0 {
		o.DefaultShards = 1
	}
	if o.StreamRetention <= 0 {
		o.StreamRetention = 24 * time.Hour
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = 16 << 20
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// Server serves the AWS-compatible APIs.
type Server struct {
	opts    Options
	store   Store
	querier Querier
	broker  stream.Broker
	logger  *slog.Logger
	metrics *metrics
	meta    *kinesisMeta
	cursors *cursorCache
	layouts layoutCache
	ops     map[string]op
}

// op is one operation: its protocol (JSON 1.0 or 1.1) and handler.
type op struct {
	json11  bool
	service string // "timestream" or "kinesis", for metrics
	name    string
	fn      func(ctx context.Context, c *call) (any, error)
}

// New returns a Server. store and querier enable Timestream Write and
// Query, broker enables Kinesis; any may be nil, which answers that
// service's operations with UnknownOperationException.
func New(store Store, querier Querier, broker stream.Broker, opts Options, logger *slog.Logger, reg prometheus.Registerer) (*Server, error) {
	opts.setDefaults()
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{opts: opts, store: store, querier: querier, broker: broker, logger: logger, cursors: newCursorCache(opts.Now)}
	var err error
	if s.metrics, err = newMetrics(reg); err != nil {
		return nil, err
	}
	if broker != nil {
		if opts.CatalogDir == "" {
			return nil, errors.New("awsapi: the Kinesis API needs Options.CatalogDir")
		}
		if s.meta, err = openKinesisMeta(opts.CatalogDir); err != nil {
			return nil, err
		}
	}
	s.ops = map[string]op{}
	add := func(prefix string, json11 bool, service string, fns map[string]func(context.Context, *call) (any, error)) {
		for name, fn := range fns {
			s.ops[prefix+"."+name] = op{json11: json11, service: service, name: name, fn: fn}
		}
	}
	ts := map[string]func(context.Context, *call) (any, error){}
	if store != nil || querier != nil {
		ts["DescribeEndpoints"] = s.describeEndpoints
	}
	if store != nil {
		for k, v := range s.timestreamWriteOps() {
			ts[k] = v
		}
	}
	if querier != nil {
		ts["Query"] = s.query
		ts["CancelQuery"] = s.cancelQuery
	}
	add(timestreamPrefix, false, "timestream", ts)
	if broker != nil {
		add(kinesisPrefix, true, "kinesis", s.kinesisOps())
	}
	return s, nil
}

const (
	timestreamPrefix = "Timestream_20181101"
	kinesisPrefix    = "Kinesis_20131202"
)

// Register mounts the Server at POST / on mux. Requests to / without
// X-Amz-Target are not the Server's and get 404 as before.
func (s *Server) Register(mux *http.ServeMux) {
	mux.Handle("POST /{$}", s)
}

// call is one request being served.
type call struct {
	r         *http.Request
	body      []byte
	principal Principal // nil with unsigned access
	requestID string
	json11    bool
}

// ServeHTTP routes on X-Amz-Target.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	c := &call{r: r, requestID: newRequestID()}
	target := r.Header.Get("X-Amz-Target")
	c.json11 = strings.HasPrefix(target, kinesisPrefix+".") || strings.Contains(r.Header.Get("Content-Type"), "json-1.1")
	w.Header().Set("x-amzn-RequestId", c.requestID)
	if r.Method != http.MethodPost {
		s.writeError(w, c, errf(http.StatusMethodNotAllowed, "UnknownOperationException", "only POST is supported"))
		return
	}
	o, ok := s.ops[target]
	if !ok {
		if target == "" {
			s.writeError(w, c, errf(http.StatusBadRequest, "UnknownOperationException", "X-Amz-Target header is missing"))
		} else {
			s.writeError(w, c, errf(http.StatusBadRequest, "UnknownOperationException", "operation %q is not supported", target))
		}
		s.metrics.requests.WithLabelValues("unknown", "unknown", "UnknownOperationException").Inc()
		return
	}
	c.json11 = o.json11
	if ct := r.Header.Get("Content-Type"); strings.Contains(ct, "cbor") {
		s.writeError(w, c, errf(http.StatusBadRequest, "SerializationException",
			"CBOR bodies are not supported; disable CBOR in the client (AWS_CBOR_DISABLE=1, aws.cborEnabled=false)"))
		return
	}
	var err error
	if c.body, err = readBody(r, s.opts.MaxBodyBytes); err != nil {
		s.finish(w, c, o, nil, err, start)
		return
	}
	if s.opts.Authorizer != nil {
		p, err := s.opts.Authorizer.Authenticate(r, c.body)
		if err != nil {
			s.finish(w, c, o, nil, authError(err), start)
			return
		}
		c.principal = p
	}
	out, err := o.fn(r.Context(), c)
	s.finish(w, c, o, out, err, start)
}

func (s *Server) finish(w http.ResponseWriter, c *call, o op, out any, err error, start time.Time) {
	code := ""
	if err != nil {
		ae := asAPIError(err)
		if ae.status >= 500 {
			s.logger.Error("aws api request failed", "op", o.service+":"+o.name, "request_id", c.requestID, "err", err)
		}
		code = ae.code
		s.writeError(w, c, ae)
	} else {
		s.writeOutput(w, c, out)
	}
	s.metrics.requests.WithLabelValues(o.service, o.name, code).Inc()
	s.metrics.seconds.WithLabelValues(o.service, o.name).Observe(time.Since(start).Seconds())
}

func (c *call) contentType() string {
	if c.json11 {
		return "application/x-amz-json-1.1"
	}
	return "application/x-amz-json-1.0"
}

// writeOutput writes out as JSON; a nil out is an empty body. Handlers may
// return a rawJSON to skip encoding/json on hot paths.
func (s *Server) writeOutput(w http.ResponseWriter, c *call, out any) {
	w.Header().Set("Content-Type", c.contentType())
	var b []byte
	switch v := out.(type) {
	case nil:
		b = []byte("{}")
	case rawJSON:
		b = v
	default:
		var err error
		if b, err = json.Marshal(out); err != nil {
			s.writeError(w, c, errf(http.StatusInternalServerError, internalCode(c), "encoding the response: %v", err))
			return
		}
	}
	w.Header().Set("Content-Length", fmt.Sprint(len(b)))
	w.WriteHeader(http.StatusOK)
	w.Write(b)
}

// rawJSON is an already encoded response body.
type rawJSON []byte

// apiError is an error answered to the client.
type apiError struct {
	status int
	code   string
	msg    string
	extra  map[string]any // more members of the error shape (RejectedRecords)
}

func (e *apiError) Error() string { return e.code + ": " + e.msg }

func errf(status int, code, format string, args ...any) *apiError {
	return &apiError{status: status, code: code, msg: fmt.Sprintf(format, args...)}
}

func validation(format string, args ...any) *apiError {
	return errf(http.StatusBadRequest, "ValidationException", format, args...)
}

func invalidArg(format string, args ...any) *apiError {
	return errf(http.StatusBadRequest, "InvalidArgumentException", format, args...)
}

func internalCode(c *call) string {
	if c.json11 {
		return "InternalFailureException"
	}
	return "InternalServerException"
}

func asAPIError(err error) *apiError {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	var aws AWSError
	if errors.As(err, &aws) {
		return &apiError{status: aws.HTTPStatus(), code: aws.ErrorCode(), msg: err.Error()}
	}
	return &apiError{status: http.StatusInternalServerError, code: "", msg: err.Error()}
}

// authError maps an Authenticate error; errors without an AWS code are
// "not a known key".
func authError(err error) *apiError {
	var ae0 *auth.Error
	if errors.As(err, &ae0) {
		status := ae0.Status
		if status == 0 {
			status = http.StatusForbidden
		}
		return &apiError{status: status, code: ae0.Code, msg: ae0.Message}
	}
	var aws AWSError
	if errors.As(err, &aws) {
		return &apiError{status: aws.HTTPStatus(), code: aws.ErrorCode(), msg: errorMessage(err)}
	}
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	return &apiError{status: http.StatusForbidden, code: "UnrecognizedClientException", msg: err.Error()}
}

// errorMessage prefers an error's Message() (the AWS text without the code).
func errorMessage(err error) string {
	if m, ok := err.(interface{ Message() string }); ok {
		return m.Message()
	}
	return err.Error()
}

// writeError writes the JSON error shape of aws-compat.md §2.3/§9.
func (s *Server) writeError(w http.ResponseWriter, c *call, e *apiError) {
	if e.code == "" {
		e = &apiError{status: http.StatusInternalServerError, code: internalCode(c), msg: e.msg}
	}
	body := make(map[string]any, 2+len(e.extra))
	for k, v := range e.extra {
		body[k] = v
	}
	if c.json11 {
		body["__type"] = e.code
		body["message"] = e.msg
	} else {
		// JSON 1.0 servers send the full shape id; clients keep what
		// follows '#'.
		body["__type"] = "com.amazonaws.timestream#" + e.code
		body["Message"] = e.msg
	}
	b, _ := json.Marshal(body)
	h := w.Header()
	h.Set("Content-Type", c.contentType())
	h.Set("X-Amzn-ErrorType", e.code)
	h.Set("Content-Length", fmt.Sprint(len(b)))
	w.WriteHeader(e.status)
	w.Write(b)
}

// readBody reads the whole body (gunzipped if so encoded) up to max bytes.
func readBody(r *http.Request, max int64) ([]byte, error) {
	var rd io.Reader = r.Body
	if strings.EqualFold(r.Header.Get("Content-Encoding"), "gzip") {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			return nil, errf(http.StatusBadRequest, "SerializationException", "gzip body: %v", err)
		}
		defer zr.Close()
		rd = zr
	}
	var buf bytes.Buffer
	if r.ContentLength > 0 && r.ContentLength <= max {
		buf.Grow(int(r.ContentLength))
	}
	n, err := buf.ReadFrom(io.LimitReader(rd, max+1))
	if err != nil {
		return nil, errf(http.StatusBadRequest, "SerializationException", "reading the request body: %v", err)
	}
	if n > max {
		return nil, errf(http.StatusRequestEntityTooLarge, "ValidationException", "the request body is over %d bytes", max)
	}
	return buf.Bytes(), nil
}

// decode parses the JSON body into v; an empty body is {}.
func decode(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	if err := json.Unmarshal(body, v); err != nil {
		return errf(http.StatusBadRequest, "SerializationException", "the request body is not valid JSON for this operation: %v", err)
	}
	return nil
}

// authorize asks the caller's principal; unsigned access allows all.
func (c *call) authorize(action, resource string) error {
	if c.principal == nil {
		return nil
	}
	if c.principal.Allow(action, resource) {
		return nil
	}
	return authError(auth.Denied(c.principal, action, resource))
}

// newRequestID returns a random UUID, as AWS request ids are.
func newRequestID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	var out [36]byte
	hex.Encode(out[0:8], b[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], b[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], b[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], b[8:10])
	out[23] = '-'
	hex.Encode(out[24:], b[10:])
	return string(out[:])
}

// epochSeconds renders t as the JSON protocols' timestamp (seconds with
// a millisecond fraction).
func epochSeconds(t time.Time) json.Number {
	ms := t.UnixMilli()
	sec, frac := ms/1000, ms%1000
	if frac < 0 {
		sec, frac = sec-1, frac+1000
	}
	if frac == 0 {
		return json.Number(fmt.Sprintf("%d", sec))
	}
	return json.Number(strings.TrimRight(fmt.Sprintf("%d.%03d", sec, frac), "0"))
}

type metrics struct {
	requests *prometheus.CounterVec
	seconds  *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_aws_requests_total",
			Help: "AWS-compatible API requests by service, operation and error code (empty = success).",
		}, []string{"service", "operation", "error"}),
		seconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "sluice_aws_request_seconds",
			Help:    "AWS-compatible API request latency by service and operation.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 4, 8),
		}, []string{"service", "operation"}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.requests, m.seconds} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("awsapi: registering metrics: %w", err)
			}
		}
	}
	return m, nil
}
