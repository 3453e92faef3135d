package ingest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"unsafe"

	"github.com/klauspost/compress/gzip"

	"github.com/sluice-dev/sluice/internal/stream"
)

// Register adds the ingest endpoint to mux:
//
//	POST /v1/streams/{stream}/records
//
// The body is one JSON object, a JSON array of objects, or NDJSON, optionally
// with Content-Encoding: gzip. Valid events are published and invalid ones
// reported; the answer is
//
//	{"accepted": N, "rejected": M, "errors": [{"index": i, "reason": "invalid_json"}]}
//
// with 200 when at least one event was accepted (and is durable) and 400
// when none was. At most the first 10000 errors are listed (then
// "errors_truncated": true is added); "rejected" counts all. Index counts events in body order (array elements, or
// non-blank NDJSON lines); reasons are empty, invalid_json, not_object and
// too_large. Whole-request failures answer {"error": {"code", "message"}}:
// 404 unknown stream, 413 body over MaxBodyBytes, 415 unsupported
// Content-Type or Content-Encoding, 400 unreadable body, 429 queue full and
// 503 stream failing or shutting down (both with Retry-After).
func (s *Service) Register(mux *http.ServeMux) {
	mux.HandleFunc("POST /v1/streams/{stream}/records", s.serveRecords)
}

// reqState holds one request's buffers; pooled so that steady-state ingest
// does not allocate per event.
type reqState struct {
	body     []byte
	split    splitter
	errs     []recordError // the first maxReportedErrors rejected events
	rejected int           // all rejected events
	reasons  [len(allReasons)]int
	enc      encoder
	w        *waiter
	out      []byte
	gz       *gzip.Reader
	attrs    [1]stream.Attr
}

type recordError struct {
	index  int
	reason string
}

// maxPooledBody keeps rare huge buffers out of the pool.
const maxPooledBody = 4 << 20

var reqPool = sync.Pool{New: func() any { return &reqState{w: newWaiter()} }}

func getReqState() *reqState { return reqPool.Get().(*reqState) }

func putReqState(st *reqState) {
	if cap(st.body) > maxPooledBody || cap(st.enc.buf) > maxPooledBody {
		return
	}
	st.body = st.body[:0]
	st.split = splitter{}
	st.errs = st.errs[:0]
	st.out = st.out[:0]
	st.attrs = [1]stream.Attr{}
	reqPool.Put(st)
}

// retryAfter is the Retry-After (seconds) sent with 429 and 503.
const retryAfter = "1"

func (s *Service) serveRecords(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("stream")
	if !s.enter() {
		s.fail(w, http.StatusServiceUnavailable, "shutting_down", "the server is shutting down")
		return
	}
	defer s.leave()
	if s.allowed != nil && !s.allowed[name] {
		s.fail(w, http.StatusNotFound, "stream_not_found", fmt.Sprintf("stream %q is not accepted here", name))
		return
	}
	c, err := s.committerFor(r.Context(), name)
	if err != nil {
		s.failErr(w, err)
		return
	}
	if s.limit.full() {
		s.fail(w, http.StatusTooManyRequests, "backpressure", "too much data is waiting for the stream; retry later")
		return
	}
	gzipped := false
	switch ce := r.Header.Get("Content-Encoding"); {
	case ce == "" || strings.EqualFold(ce, "identity"):
	case strings.EqualFold(ce, "gzip") || strings.EqualFold(ce, "x-gzip"):
		gzipped = true
	default:
		s.fail(w, http.StatusUnsupportedMediaType, "unsupported_encoding", fmt.Sprintf("Content-Encoding %q is not supported (use gzip or none)", ce))
		return
	}
	if ct := r.Header.Get("Content-Type"); !acceptedContentType(ct) {
		s.fail(w, http.StatusUnsupportedMediaType, "unsupported_media_type", fmt.Sprintf("Content-Type %q is not supported (send JSON or NDJSON)", ct))
		return
	}
	max := s.opts.MaxBodyBytes
	if r.ContentLength > max {
		s.fail(w, http.StatusRequestEntityTooLarge, "body_too_large", fmt.Sprintf("body is %d bytes, limit %d", r.ContentLength, max))
		return
	}

	st := getReqState()
	defer putReqState(st)
	var body io.Reader = http.MaxBytesReader(w, r.Body, max)
	if gzipped {
		if st.gz == nil {
			st.gz = new(gzip.Reader)
		}
		if err := st.gz.Reset(body); err != nil {
			s.readFail(w, err, "gzip")
			return
		}
		body = st.gz
	}
	// The body counts against QueueBytes while it is read and until the
	// request ends, so that many concurrent large bodies cannot exhaust
	// memory before the queue check below.
	var held int64
	defer func() { s.limit.release(held) }()
	st.body, err = readBody(st.body[:0], body, r.ContentLength, max, func(n int) bool {
		if !s.limit.tryReserve(int64(n), held) {
			return false
		}
		held += int64(n)
		return true
	})
	if err != nil {
		s.readFail(w, err, "")
		return
	}

	accepted, size := st.encodeEvents(s.opts.GroupCommitBytes, s.opts.MaxRecordBytes)
	if st.split.err != nil {
		s.fail(w, http.StatusBadRequest, "bad_body", st.split.err.Error())
		return
	}
	if accepted+st.rejected == 0 {
		s.fail(w, http.StatusBadRequest, "empty_body", errNoRecords.Error())
		return
	}
	for i, n := range st.reasons {
		if n > 0 {
			s.m.rejected[sourceHTTP][allReasons[i]].Add(float64(n))
		}
	}
	if accepted == 0 {
		s.m.requestError(http.StatusBadRequest)
		s.writeResult(w, st, http.StatusBadRequest, 0)
		return
	}
	chunks := st.enc.finish()
	if !s.limit.tryReserve(int64(len(st.enc.buf)), held) {
		s.fail(w, http.StatusTooManyRequests, "backpressure", "too much data is waiting for the stream; retry later")
		return
	}
	if err := s.submit(c, chunks, st.w); err != nil {
		s.failErr(w, err)
		return
	}
	s.m.accepted[sourceHTTP].Add(float64(accepted))
	s.m.bytes[sourceHTTP].Add(float64(size))
	s.writeResult(w, st, http.StatusOK, accepted)
}

// maxReportedErrors bounds the per-record errors listed in one response,
// so that a body of many tiny invalid events cannot make a huge answer.
const maxReportedErrors = 10000

// encodeEvents splits st.body, checks each event, notes the invalid ones
// in st.errs (the first maxReportedErrors), st.rejected and st.reasons and
// encodes the valid ones into st.enc. It returns how many events were
// accepted and their bytes. A structural error is left in st.split.err.
func (st *reqState) encodeEvents(groupCommitBytes, maxRecordBytes int64) (accepted, size int) {
	st.enc.reset(groupCommitBytes)
	st.errs, st.rejected, st.reasons = st.errs[:0], 0, [len(allReasons)]int{}
	st.split.reset(st.body)
	for i := 0; ; i++ {
		ev, ok := st.split.next()
		if !ok {
			break
		}
		key, reason := checkEvent(ev, maxRecordBytes)
		if reason != "" {
			if len(st.errs) < maxReportedErrors {
				st.errs = append(st.errs, recordError{i, reason})
			}
			st.rejected++
			st.reasons[reasonIndex(reason)]++
			continue
		}
		// AppendRecord copies the key into the encoded buffer at once, so a
		// string view of the body's bytes is safe and saves an allocation.
		// checkEvent found a valid JSON object; without line breaks it can
		// be a JSON Lines line as it is, which spares the lake writer
		// checking it again.
		st.enc.add(stream.Record{Key: unsafe.String(unsafe.SliceData(key), len(key)), Data: ev,
			JSONLine: bytes.IndexByte(ev, '\n') < 0 && bytes.IndexByte(ev, '\r') < 0})
		accepted++
		size += len(ev)
	}
	return accepted, size
}

// acceptedContentType allows JSON, NDJSON and the generic types clients
// send when they do not say (curl's default, octet-stream, text).
func acceptedContentType(ct string) bool {
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	ct = strings.TrimSpace(ct)
	if ct == "" {
		return true
	}
	for _, ok := range [...]string{"application/json", "application/x-ndjson", "application/ndjson",
		"application/jsonl", "application/x-jsonlines", "application/jsonlines", "application/json-seq",
		"text/plain", "application/octet-stream", "application/x-www-form-urlencoded"} {
		if strings.EqualFold(ct, ok) {
			return true
		}
	}
	return false
}

// errBodyTooLarge reports a decompressed body over the limit.
var errBodyTooLarge = errors.New("body too large")

// errQueueFull reports that the body did not fit in QueueBytes.
var errQueueFull = errors.New("queue full")

// readBody appends all of r to dst, failing with errBodyTooLarge past max
// bytes and with errQueueFull when reserve refuses bytes just read.
func readBody(dst []byte, r io.Reader, hint, max int64, reserve func(n int) bool) ([]byte, error) {
	// Trust Content-Length for the first allocation only up to a point:
	// memory should follow bytes actually received (and reserved).
	if hint = min(hint, 256<<10); hint > 0 && int64(cap(dst)) < hint {
		dst = make([]byte, 0, hint)
	} else if cap(dst) == 0 {
		dst = make([]byte, 0, 4096)
	}
	for {
		if len(dst) == cap(dst) {
			dst = append(dst, 0)[:len(dst)]
		}
		n, err := r.Read(dst[len(dst):cap(dst)])
		dst = dst[:len(dst)+n]
		if int64(len(dst)) > max {
			return dst, errBodyTooLarge
		}
		if n > 0 && !reserve(n) {
			return dst, errQueueFull
		}
		if err == io.EOF {
			return dst, nil
		}
		if err != nil {
			return dst, err
		}
	}
}

func (s *Service) readFail(w http.ResponseWriter, err error, what string) {
	var mbe *http.MaxBytesError
	switch {
	case errors.Is(err, errQueueFull):
		s.fail(w, http.StatusTooManyRequests, "backpressure", "too much data is waiting for the stream; retry later")
	case errors.As(err, &mbe):
		s.fail(w, http.StatusRequestEntityTooLarge, "body_too_large", fmt.Sprintf("body is over the limit of %d bytes", mbe.Limit))
	case errors.Is(err, errBodyTooLarge):
		s.fail(w, http.StatusRequestEntityTooLarge, "body_too_large", fmt.Sprintf("decompressed body is over the limit of %d bytes", s.opts.MaxBodyBytes))
	case what == "gzip" || errors.Is(err, gzip.ErrHeader) || errors.Is(err, gzip.ErrChecksum):
		s.fail(w, http.StatusBadRequest, "bad_gzip", "reading gzip body: "+err.Error())
	default:
		s.fail(w, http.StatusBadRequest, "bad_body", "reading body: "+err.Error())
	}
}

// failErr answers a publishing error with its status.
func (s *Service) failErr(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, stream.ErrNoStream):
		s.fail(w, http.StatusNotFound, "stream_not_found", err.Error())
	case errors.Is(err, stream.ErrBackpressure):
		s.fail(w, http.StatusTooManyRequests, "backpressure", err.Error())
	case errors.Is(err, stream.ErrTooLarge):
		s.fail(w, http.StatusRequestEntityTooLarge, "too_large", err.Error())
	case errors.Is(err, ErrShuttingDown):
		s.fail(w, http.StatusServiceUnavailable, "shutting_down", err.Error())
	default:
		s.fail(w, http.StatusServiceUnavailable, "stream_unavailable", err.Error())
	}
}

func (s *Service) fail(w http.ResponseWriter, status int, code, msg string) {
	s.m.requestError(status)
	h := w.Header()
	h.Set("Content-Type", "application/json")
	if status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable {
		h.Set("Retry-After", retryAfter)
	}
	var body struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	body.Error.Code, body.Error.Message = code, msg
	b, _ := json.Marshal(body) // cannot fail: strings only
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

func (s *Service) writeResult(w http.ResponseWriter, st *reqState, status, accepted int) {
	out := append(st.out[:0], `{"accepted":`...)
	out = strconv.AppendInt(out, int64(accepted), 10)
	out = append(out, `,"rejected":`...)
	out = strconv.AppendInt(out, int64(st.rejected), 10)
	out = append(out, `,"errors":[`...)
	for i, e := range st.errs {
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, `{"index":`...)
		out = strconv.AppendInt(out, int64(e.index), 10)
		out = append(out, `,"reason":"`...)
		out = append(out, e.reason...) // fixed identifiers: no escaping needed
		out = append(out, `"}`...)
	}
	out = append(out, ']')
	if st.rejected > len(st.errs) {
		out = append(out, `,"errors_truncated":true`...)
	}
	out = append(out, "}\n"...)
	st.out = out
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(out)))
	w.WriteHeader(status)
	_, _ = w.Write(out)
}
