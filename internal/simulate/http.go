package simulate

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// HTTPSink posts events as NDJSON to sluice's native ingest endpoint,
// POST {base}/v1/streams/{stream}/records, at most Batch events per request.
// It is safe for concurrent use.
//
// A 429 or 503 answer is retried after its Retry-After (seconds or an HTTP
// date; without one, after an exponential backoff), as are transport
// errors, up to MaxRetries times per request and never waiting longer than
// MaxRetryWait at once. A 413 answer splits the request in halves. Per-record
// rejects in the answer come back from Send as a *RejectError.
type HTTPSink struct {
	url    string
	batch  int
	client *http.Client

	// MaxRetries bounds the retries of one request (default 10); set before use.
	MaxRetries int
	// MaxRetryWait caps one wait (default 30s); set before use.
	MaxRetryWait time.Duration

	bufs sync.Pool

	requests, retries atomic.Int64
}

// NewHTTPSink returns a sink posting to baseURL (e.g. http://127.0.0.1:7410)
// for stream (default "events"), batch events per request (default 500),
// with client (default http.DefaultClient).
func NewHTTPSink(baseURL, streamName string, batch int, client *http.Client) *HTTPSink {
	if streamName == "" {
		streamName = "events"
	}
	if batch <= 0 {
		batch = 500
	}
	if client == nil {
		client = http.DefaultClient
	}
	return &HTTPSink{
		url:          strings.TrimRight(baseURL, "/") + "/v1/streams/" + url.PathEscape(streamName) + "/records",
		batch:        batch,
		client:       client,
		MaxRetries:   10,
		MaxRetryWait: 30 * time.Second,
	}
}

// URL returns the endpoint the sink posts to.
func (s *HTTPSink) URL() string { return s.url }

// Requests returns the number of HTTP requests made, retries included.
func (s *HTTPSink) Requests() int64 { return s.requests.Load() }

// Retries returns the number of requests that were retried.
func (s *HTTPSink) Retries() int64 { return s.retries.Load() }

// HTTPError is a non-success answer from the server.
type HTTPError struct {
	Status  int
	Code    string // from {"error": {"code", "message"}} when present
	Message string
}

func (e *HTTPError) Error() string {
	if e.Code != "" {
		return fmt.Sprintf("HTTP %d: %s: %s", e.Status, e.Code, e.Message)
	}
	return fmt.Sprintf("HTTP %d: %s", e.Status, e.Message)
}

// Send posts events in requests of at most the sink's batch size. When a
// request fails for good, the requests before it were delivered; the error
// says which event the failed one started at.
func (s *HTTPSink) Send(ctx context.Context, events [][]byte) error {
	var rej *RejectError
	for off := 0; off < len(events); off += s.batch {
		part := events[off:min(off+s.batch, len(events))]
		if err := s.post(ctx, part, off, &rej); err != nil {
			if off > 0 {
				return fmt.Errorf("events %d..%d: %w (events before %d were delivered)", off, len(events)-1, err, off)
			}
			return err
		}
	}
	if rej != nil {
		return rej
	}
	return nil
}

// ingestResponse is the server's per-record answer, or its error envelope.
type ingestResponse struct {
	Accepted *int          `json:"accepted"`
	Rejected int           `json:"rejected"`
	Errors   []RecordError `json:"errors"`
	Error    *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// post sends events (starting at offset off in the caller's slice) in one
// request, retrying as documented, and adds rejects to *rej.
func (s *HTTPSink) post(ctx context.Context, events [][]byte, off int, rej **RejectError) error {
	buf, _ := s.bufs.Get().(*bytes.Buffer)
	if buf == nil {
		buf = new(bytes.Buffer)
	}
	defer s.bufs.Put(buf)
	buf.Reset()
	for _, e := range events {
		buf.Write(e)
		buf.WriteByte('\n')
	}
	body := buf.Bytes()

	for attempt := 0; ; attempt++ {
		status, resp, retryAfter, err := s.do(ctx, body)
		var wait time.Duration
		switch {
		case err != nil:
			if ctx.Err() != nil {
				return fmt.Errorf("posting %d events: %w", len(events), ctx.Err())
			}
			wait = backoff(attempt)
		case status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable:
			wait = retryAfter
			if wait < 0 {
				wait = backoff(attempt)
			}
			err = httpError(status, resp)
		case status == http.StatusRequestEntityTooLarge && len(events) > 1:
			h := len(events) / 2
			if err := s.post(ctx, events[:h], off, rej); err != nil {
				return err
			}
			return s.post(ctx, events[h:], off+h, rej)
		case status == http.StatusRequestEntityTooLarge:
			addRejects(rej, 1, []RecordError{{Index: off, Reason: "event larger than the server's request limit"}})
			return nil
		case status/100 == 2 || (status == http.StatusBadRequest && resp.Error == nil && resp.Accepted != nil):
			if resp.Rejected > 0 {
				recs := make([]RecordError, len(resp.Errors))
				for i, re := range resp.Errors {
					recs[i] = RecordError{Index: off + re.Index, Reason: re.Reason}
				}
				addRejects(rej, resp.Rejected, recs)
			}
			return nil
		default:
			return fmt.Errorf("posting %d events to %s: %w", len(events), s.url, httpError(status, resp))
		}
		if attempt >= s.MaxRetries {
			return fmt.Errorf("posting %d events to %s: giving up after %d retries: %w", len(events), s.url, attempt, err)
		}
		s.retries.Add(1)
		if err := sleepCtx(ctx, min(wait, s.MaxRetryWait)); err != nil {
			return fmt.Errorf("posting %d events: waiting to retry: %w", len(events), err)
		}
	}
}

func addRejects(rej **RejectError, n int, recs []RecordError) {
	if *rej == nil {
		*rej = &RejectError{}
	}
	(*rej).Rejected += n
	(*rej).Records = append((*rej).Records, recs...)
}

// do makes one request. retryAfter is -1 without a usable header.
func (s *HTTPSink) do(ctx context.Context, body []byte) (status int, resp ingestResponse, retryAfter time.Duration, err error) {
	s.requests.Add(1)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(body))
	if err != nil {
		return 0, resp, -1, fmt.Errorf("building request: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-ndjson")
	res, err := s.client.Do(req)
	if err != nil {
		return 0, resp, -1, err
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(res.Body, 4<<20))
	if err != nil {
		return 0, resp, -1, fmt.Errorf("reading answer: %w", err)
	}
	_ = json.Unmarshal(raw, &resp) // a body that is not ours leaves resp empty
	if resp.Error == nil && resp.Accepted == nil && res.StatusCode/100 != 2 && len(raw) > 0 {
		msg := strings.TrimSpace(string(raw[:min(len(raw), 200)]))
		resp.Error = &struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		}{Message: msg}
	}
	return res.StatusCode, resp, parseRetryAfter(res.Header.Get("Retry-After"), time.Now()), nil
}

func httpError(status int, resp ingestResponse) error {
	e := &HTTPError{Status: status, Message: http.StatusText(status)}
	if resp.Error != nil {
		e.Code, e.Message = resp.Error.Code, resp.Error.Message
	}
	return e
}

// parseRetryAfter reads delay-seconds or an HTTP date; -1 if neither.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return -1
	}
	if n, err := strconv.ParseFloat(v, 64); err == nil && n >= 0 && n < 1e6 {
		return time.Duration(n * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(0, t.Sub(now))
	}
	return -1
}

// backoff is 100ms doubling per attempt, at most 5s.
func backoff(attempt int) time.Duration {
	return min(100*time.Millisecond<<min(attempt, 6), 5*time.Second)
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

var _ Sink = (*HTTPSink)(nil)
