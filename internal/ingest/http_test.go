package ingest

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluice-dev/sluice/internal/stream"
)

type ingestResult struct {
	Accepted int `json:"accepted"`
	Rejected int `json:"rejected"`
	Errors   []struct {
		Index  int    `json:"index"`
		Reason string `json:"reason"`
	} `json:"errors"`
	Error *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

type response struct {
	status     int
	retryAfter string
	result     ingestResult
	raw        string
}

func serve(t testing.TB, s *Service) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	s.Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func post(t testing.TB, url, streamName string, body []byte, hdr map[string]string) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url+"/v1/streams/"+streamName+"/records", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Errorf("POST: %v", err)
		return response{}
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := response{status: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After"), raw: string(raw)}
	if err := json.Unmarshal(raw, &r.result); err != nil {
		t.Errorf("response %d %q is not JSON: %v", resp.StatusCode, raw, err)
	}
	return r
}

func gzipBytes(t testing.TB, b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestHTTPBodies posts each body form to a real JetStream broker and checks
// the answer and exactly what the stream holds.
func TestHTTPBodies(t *testing.T) {
	big := `{"DeviceID":"big","pad":"` + strings.Repeat("x", 300) + `"}`
	tests := []struct {
		name       string
		body       []byte
		hdr        map[string]string
		status     int
		accepted   int
		errs       map[int]string // index -> reason
		errCode    string
		wantStored []string
		wantKeys   []string
	}{
		{name: "object", body: []byte(`{"DeviceID":"d1","temperature_measure":21.5}`), status: 200, accepted: 1,
			wantStored: []string{`{"DeviceID":"d1","temperature_measure":21.5}`}, wantKeys: []string{"d1"}},
		{name: "array", body: []byte(`[ {"DeviceID":"a","v":1} , {"v":2},{"DeviceID":7} ]`), status: 200, accepted: 3,
			wantStored: []string{`{"DeviceID":"a","v":1}`, `{"v":2}`, `{"DeviceID":7}`}, wantKeys: []string{"a", "", "7"}},
		{name: "ndjson", body: []byte("{\"DeviceID\":\"n1\",\"v\":1}\n\n{\"v\":2}\r\n"), hdr: map[string]string{"Content-Type": "application/x-ndjson"},
			status: 200, accepted: 2, wantStored: []string{`{"DeviceID":"n1","v":1}`, `{"v":2}`}, wantKeys: []string{"n1", ""}},
		{name: "partial", body: []byte("{\"a\":1}\nnot json\n[1,2]\n{\"b\":2}\n" + big + "\n{\"c\":"), status: 200, accepted: 2,
			errs:       map[int]string{1: reasonInvalid, 2: reasonNotObject, 4: reasonTooLarge, 5: reasonInvalid},
			wantStored: []string{`{"a":1}`, `{"b":2}`}, wantKeys: []string{"", ""}},
		{name: "object on several lines", body: []byte("{\"DeviceID\":\"m\",\r\n \"v\":1}"), status: 200, accepted: 1,
			wantStored: []string{"{\"DeviceID\":\"m\",\r\n \"v\":1}"}},
		{name: "array over lines", body: []byte("[{\"a\":1},\n{\"b\":\r2}]"), status: 200, accepted: 2,
			wantStored: []string{`{"a":1}`, "{\"b\":\r2}"}},
		{name: "array with empty element", body: []byte(`[{"a":1},,{"b":2}]`), status: 200, accepted: 2,
			errs: map[int]string{1: reasonEmpty}, wantStored: []string{`{"a":1}`, `{"b":2}`}},
		{name: "none valid", body: []byte("1\n2"), status: 400, errs: map[int]string{0: reasonNotObject, 1: reasonNotObject}},
		{name: "gzip", body: gzipBytes(t, []byte("{\"g\":1}\n{\"g\":2}")), hdr: map[string]string{"Content-Encoding": "gzip"},
			status: 200, accepted: 2, wantStored: []string{`{"g":1}`, `{"g":2}`}},
		{name: "bad gzip", body: []byte(`{"g":1}`), hdr: map[string]string{"Content-Encoding": "gzip"}, status: 400, errCode: "bad_gzip"},
		{name: "unknown encoding", body: []byte(`{}`), hdr: map[string]string{"Content-Encoding": "br"}, status: 415, errCode: "unsupported_encoding"},
		{name: "xml", body: []byte(`<a/>`), hdr: map[string]string{"Content-Type": "application/xml"}, status: 415, errCode: "unsupported_media_type"},
		{name: "empty", body: nil, status: 400, errCode: "empty_body"},
		{name: "broken array", body: []byte(`[{"a":1}`), status: 400, errCode: "bad_body"},
		{name: "over body limit", body: []byte(`[` + strings.Repeat(`{"a":1},`, 200) + `{}]`), status: 413, errCode: "body_too_large"},
		{name: "gzip over body limit once inflated", body: gzipBytes(t, []byte(strings.Repeat("{\"a\":1}\n", 200))),
			hdr: map[string]string{"Content-Encoding": "gzip"}, status: 413, errCode: "body_too_large"},
	}
	broker := openJetStream(t)
	s := newService(t, broker, Options{MaxBodyBytes: 1000, MaxRecordBytes: 200})
	srv := serve(t, s)
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := fmt.Sprintf("s%d", i)
			if err := broker.EnsureStream(context.Background(), stream.Config{Name: name}); err != nil {
				t.Fatal(err)
			}
			r := post(t, srv.URL, name, tt.body, tt.hdr)
			if r.status != tt.status {
				t.Fatalf("status %d (%s), want %d", r.status, r.raw, tt.status)
			}
			if tt.errCode != "" {
				if r.result.Error == nil || r.result.Error.Code != tt.errCode {
					t.Fatalf("error %s, want code %s", r.raw, tt.errCode)
				}
			} else {
				if r.result.Accepted != tt.accepted || r.result.Rejected != len(tt.errs) || len(r.result.Errors) != len(tt.errs) {
					t.Fatalf("result %s, want %d accepted, %d rejected", r.raw, tt.accepted, len(tt.errs))
				}
				for _, e := range r.result.Errors {
					if tt.errs[e.Index] != e.Reason {
						t.Errorf("error index %d reason %q, want %q", e.Index, e.Reason, tt.errs[e.Index])
					}
				}
			}
			recs, _ := readStream(t, broker, name)
			if len(recs) != len(tt.wantStored) {
				t.Fatalf("stream has %d records, want %d", len(recs), len(tt.wantStored))
			}
			for j, rec := range recs {
				if string(rec.Data) != tt.wantStored[j] {
					t.Errorf("record %d = %q, want %q", j, rec.Data, tt.wantStored[j])
				}
				// Checked events on one line are marked so (the lake
				// trusts the mark).
				if want := !bytes.ContainsAny(rec.Data, "\r\n"); rec.JSONLine != want {
					t.Errorf("record %d %q: JSONLine %v, want %v", j, rec.Data, rec.JSONLine, want)
				}
				if tt.wantKeys != nil && rec.Key != tt.wantKeys[j] {
					t.Errorf("record %d key %q, want %q", j, rec.Key, tt.wantKeys[j])
				}
			}
		})
	}
}

func TestHTTPUnknownStream(t *testing.T) {
	broker := openJetStream(t, "events", "hidden")
	t.Run("any existing", func(t *testing.T) {
		srv := serve(t, newService(t, broker, Options{}))
		if r := post(t, srv.URL, "nope", []byte(`{}`), nil); r.status != 404 || r.result.Error == nil || r.result.Error.Code != "stream_not_found" {
			t.Fatalf("got %d %s, want 404 stream_not_found", r.status, r.raw)
		}
		if r := post(t, srv.URL, "events", []byte(`{}`), nil); r.status != 200 {
			t.Fatalf("got %d %s, want 200", r.status, r.raw)
		}
	})
	t.Run("allow list", func(t *testing.T) {
		srv := serve(t, newService(t, broker, Options{Streams: []string{"events", "missing"}}))
		for _, name := range []string{"hidden", "missing"} {
			if r := post(t, srv.URL, name, []byte(`{}`), nil); r.status != 404 {
				t.Fatalf("%s: got %d %s, want 404", name, r.status, r.raw)
			}
		}
		if r := post(t, srv.URL, "events", []byte(`{}`), nil); r.status != 200 {
			t.Fatalf("got %d %s, want 200", r.status, r.raw)
		}
	})
}

// TestHTTPGroupCommit sends 100 concurrent single-event requests through a
// broker that takes 20 ms per publish: they must share few stream messages,
// and every event must be in the stream exactly once.
func TestHTTPGroupCommit(t *testing.T) {
	js := openJetStream(t, "events")
	broker := &slowBroker{Broker: js, delay: 20 * time.Millisecond}
	srv := serve(t, newService(t, broker, Options{}))
	const n = 100
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := fmt.Sprintf(`{"DeviceID":"d%d","n":%d}`, i, i)
			if r := post(t, srv.URL, "events", []byte(body), nil); r.status != 200 || r.result.Accepted != 1 {
				t.Errorf("request %d: %d %s", i, r.status, r.raw)
			}
		}()
	}
	wg.Wait()
	recs, msgs := readStream(t, js, "events")
	seen := map[string]int{}
	for _, r := range recs {
		seen[string(r.Data)]++
	}
	for i := 0; i < n; i++ {
		if c := seen[fmt.Sprintf(`{"DeviceID":"d%d","n":%d}`, i, i)]; c != 1 {
			t.Errorf("event %d stored %d times", i, c)
		}
	}
	if len(recs) != n {
		t.Errorf("stream has %d records, want %d", len(recs), n)
	}
	t.Logf("%d events in %d stream messages", len(recs), msgs)
	if msgs > n/5 {
		t.Errorf("%d stream messages for %d concurrent events: group commit does not coalesce", msgs, n)
	}
}

// TestHTTPSplitsLargeRequest checks that a request larger than
// GroupCommitBytes is spread over several frames, in order.
func TestHTTPSplitsLargeRequest(t *testing.T) {
	broker := openJetStream(t, "events")
	srv := serve(t, newService(t, broker, Options{GroupCommitBytes: 1000, MaxInflight: 1}))
	var body bytes.Buffer
	for i := 0; i < 200; i++ {
		fmt.Fprintf(&body, "{\"DeviceID\":\"d\",\"i\":%d}\n", i)
	}
	if r := post(t, srv.URL, "events", body.Bytes(), nil); r.status != 200 || r.result.Accepted != 200 {
		t.Fatalf("got %d %s", r.status, r.raw)
	}
	recs, msgs := readStream(t, broker, "events")
	if len(recs) != 200 || msgs < 5 {
		t.Fatalf("%d records in %d messages, want 200 in several", len(recs), msgs)
	}
	for i, r := range recs {
		if want := fmt.Sprintf(`{"DeviceID":"d","i":%d}`, i); string(r.Data) != want {
			t.Fatalf("record %d = %s, want %s", i, r.Data, want)
		}
	}
	for seq := uint64(1); seq <= uint64(msgs); seq++ {
		m, err := broker.Get(context.Background(), "events", seq)
		if err != nil {
			t.Fatal(err)
		}
		if len(m.Data) > 1000 {
			t.Errorf("message %d has %d bytes, over GroupCommitBytes", seq, len(m.Data))
		}
	}
}

// TestHTTPBackpressure fills a tiny queue with a request whose publish is
// held, and expects the next request to get 429 with Retry-After; once the
// stream moves again both the held request and new ones succeed.
func TestHTTPBackpressure(t *testing.T) {
	js := openJetStream(t, "events")
	broker := &slowBroker{Broker: js, gate: make(chan struct{})}
	s := newService(t, broker, Options{QueueBytes: 512})
	srv := serve(t, s)
	body := []byte(`{"DeviceID":"d","pad":"` + strings.Repeat("x", 600) + `"}`)
	held := make(chan response, 1)
	go func() { held <- post(t, srv.URL, "events", body, nil) }()
	waitFor(t, func() bool { return broker.waiting.Load() == 1 })

	for _, b := range [][]byte{body, []byte(`{"small":1}`)} {
		r := post(t, srv.URL, "events", b, nil)
		if r.status != http.StatusTooManyRequests || r.retryAfter == "" || r.result.Error == nil || r.result.Error.Code != "backpressure" {
			t.Fatalf("got %d Retry-After %q %s, want 429 with Retry-After", r.status, r.retryAfter, r.raw)
		}
	}
	if err := s.Publish(context.Background(), "events", []stream.Record{{Data: body}}); !errors.Is(err, stream.ErrBackpressure) {
		t.Fatalf("Publish with a full queue: %v, want ErrBackpressure", err)
	}
	close(broker.gate)
	if r := <-held; r.status != 200 {
		t.Fatalf("held request: %d %s", r.status, r.raw)
	}
	if r := post(t, srv.URL, "events", []byte(`{"small":1}`), nil); r.status != 200 {
		t.Fatalf("after draining: %d %s", r.status, r.raw)
	}
	if recs, _ := readStream(t, js, "events"); len(recs) != 2 {
		t.Fatalf("stream has %d records, want 2 (nothing from refused requests)", len(recs))
	}
}

// TestHTTPStreamFailure expects 503 with Retry-After when the stream fails,
// and nothing acknowledged.
func TestHTTPStreamFailure(t *testing.T) {
	js := openJetStream(t, "events")
	broker := &slowBroker{Broker: js}
	broker.setFail(errors.New("disk on fire"))
	srv := serve(t, newService(t, broker, Options{}))
	r := post(t, srv.URL, "events", []byte(`{"a":1}`), nil)
	if r.status != http.StatusServiceUnavailable || r.retryAfter == "" {
		t.Fatalf("got %d Retry-After %q %s, want 503 with Retry-After", r.status, r.retryAfter, r.raw)
	}
	broker.setFail(fmt.Errorf("busy: %w", stream.ErrBackpressure))
	if r := post(t, srv.URL, "events", []byte(`{"a":1}`), nil); r.status != http.StatusTooManyRequests || r.retryAfter == "" {
		t.Fatalf("broker backpressure: got %d %s, want 429", r.status, r.raw)
	}
	broker.setFail(nil)
	if r := post(t, srv.URL, "events", []byte(`{"a":2}`), nil); r.status != 200 {
		t.Fatalf("after recovery: %d %s", r.status, r.raw)
	}
	if recs, _ := readStream(t, js, "events"); len(recs) != 1 || string(recs[0].Data) != `{"a":2}` {
		t.Fatalf("stream holds %d records, want only the one acknowledged", len(recs))
	}
}

// TestHTTPShutdown: a request in flight when Shutdown starts is completed
// (200, durable), new requests get 503 with Retry-After, and Shutdown
// returns once the held publish is done.
func TestHTTPShutdown(t *testing.T) {
	js := openJetStream(t, "events")
	broker := &slowBroker{Broker: js, gate: make(chan struct{})}
	s, err := New(broker, Options{}, testLogger(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := serve(t, s)
	held := make(chan response, 1)
	go func() { held <- post(t, srv.URL, "events", []byte(`{"first":1}`), nil) }()
	waitFor(t, func() bool { return broker.waiting.Load() == 1 })

	shut := make(chan error, 1)
	go func() { shut <- s.Shutdown(context.Background()) }()
	waitFor(t, s.closed.Load)
	r := post(t, srv.URL, "events", []byte(`{"late":1}`), nil)
	if r.status != http.StatusServiceUnavailable || r.retryAfter == "" || r.result.Error.Code != "shutting_down" {
		t.Fatalf("during shutdown: %d %q %s, want 503 with Retry-After", r.status, r.retryAfter, r.raw)
	}
	if err := s.Publish(context.Background(), "events", []stream.Record{{Data: []byte(`{}`)}}); !errors.Is(err, ErrShuttingDown) {
		t.Fatalf("Publish during shutdown: %v", err)
	}
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned %v while a publish was in flight", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(broker.gate)
	if r := <-held; r.status != 200 {
		t.Fatalf("in-flight request: %d %s", r.status, r.raw)
	}
	if err := <-shut; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if recs, _ := readStream(t, js, "events"); len(recs) != 1 || string(recs[0].Data) != `{"first":1}` {
		t.Fatalf("stream holds %d records, want the in-flight one", len(recs))
	}
}

// TestPublish covers the API used by the Kinesis front door.
func TestPublish(t *testing.T) {
	broker := openJetStream(t, "events")
	s := newService(t, broker, Options{MaxRecordBytes: 100, GroupCommitBytes: 300})
	ctx := context.Background()
	var recs []stream.Record
	for i := 0; i < 20; i++ {
		recs = append(recs, stream.Record{Key: fmt.Sprintf("pk%d", i), Attrs: []stream.Attr{{Name: "n", Value: "v"}}, Data: []byte(fmt.Sprintf(`{"i":%d}`, i))})
	}
	if err := s.Publish(ctx, "events", recs); err != nil {
		t.Fatal(err)
	}
	got, msgs := readStream(t, broker, "events")
	if len(got) != 20 || msgs < 2 {
		t.Fatalf("%d records in %d messages", len(got), msgs)
	}
	for i, r := range got {
		if r.Key != recs[i].Key || string(r.Data) != string(recs[i].Data) || len(r.Attrs) != 1 || r.Attrs[0] != recs[i].Attrs[0] {
			t.Errorf("record %d = %+v, want %+v", i, r, recs[i])
		}
	}
	if err := s.Publish(ctx, "nope", recs[:1]); !errors.Is(err, stream.ErrNoStream) {
		t.Errorf("unknown stream: %v", err)
	}
	if err := s.Publish(ctx, "events", []stream.Record{{Data: bytes.Repeat([]byte("x"), 101)}}); !errors.Is(err, ErrRecordTooLarge) {
		t.Errorf("large record: %v", err)
	}
}

func waitFor(t testing.TB, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 10 s")
		}
		time.Sleep(time.Millisecond)
	}
}

// TestMetrics checks that the counters move and are exported to reg.
func TestMetrics(t *testing.T) {
	broker := openJetStream(t, "events")
	reg := prometheus.NewRegistry()
	s, err := New(broker, Options{}, testLogger(t), reg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Shutdown(context.Background()) })
	srv := serve(t, s)
	post(t, srv.URL, "events", []byte("{\"a\":1}\n{\"b\":2}\nbad"), nil)
	post(t, srv.URL, "nope", []byte(`{}`), nil)
	want := map[string]float64{
		`sluice_ingest_events_accepted_total{source="http"}`:                       2,
		`sluice_ingest_events_rejected_total{reason="invalid_json",source="http"}`: 1,
		`sluice_ingest_event_bytes_total{source="http"}`:                           14,
		`sluice_ingest_request_errors_total{status="404"}`:                         1,
		`sluice_ingest_commit_events`:                                              1, // one frame
		`sluice_ingest_commit_bytes`:                                               1,
		`sluice_ingest_publish_seconds`:                                            1,
		`sluice_ingest_queue_bytes`:                                                0,
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			name := mf.GetName()
			if len(m.GetLabel()) > 0 {
				var ls []string
				for _, l := range m.GetLabel() {
					ls = append(ls, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
				}
				name += "{" + strings.Join(ls, ",") + "}"
			}
			switch {
			case m.Counter != nil:
				got[name] = m.GetCounter().GetValue()
			case m.Gauge != nil:
				got[name] = m.GetGauge().GetValue()
			case m.Histogram != nil:
				got[name] = float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s = %v (present %v), want %v", k, g, ok, v)
		}
	}
}

// TestHTTPManyErrorsTruncated: the error list is bounded, the count is not.
func TestHTTPManyErrorsTruncated(t *testing.T) {
	broker := openJetStream(t, "events")
	srv := serve(t, newService(t, broker, Options{}))
	body := strings.Repeat("1\n", maxReportedErrors+5) + `{"ok":1}`
	r := post(t, srv.URL, "events", []byte(body), nil)
	if r.status != 200 || r.result.Accepted != 1 || r.result.Rejected != maxReportedErrors+5 || len(r.result.Errors) != maxReportedErrors ||
		!strings.Contains(r.raw, `"errors_truncated":true`) {
		t.Fatalf("got %d accepted %d rejected %d errors %d", r.status, r.result.Accepted, r.result.Rejected, len(r.result.Errors))
	}
}

// TestPublishAt checks that concurrent callers, whose records share
// frames, learn each record's true place: the message at pos.Seq holds it
// at pos.Index.
func TestPublishAt(t *testing.T) {
	broker := openJetStream(t, "events")
	s := newService(t, broker, Options{GroupCommitBytes: 400})
	ctx := context.Background()
	const callers, per = 8, 30
	pos := make([][]stream.Position, callers)
	var wg sync.WaitGroup
	for c := range callers {
		pos[c] = make([]stream.Position, per)
		wg.Go(func() {
			recs := make([]stream.Record, per)
			for i := range recs {
				recs[i] = stream.Record{Key: fmt.Sprintf("c%d", c), Data: fmt.Appendf(nil, `{"c":%d,"i":%d}`, c, i)}
			}
			if err := s.PublishAt(ctx, "events", recs, pos[c]); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	seen := map[stream.Position]bool{}
	for c := range callers {
		for i, p := range pos[c] {
			if p.Seq == 0 || seen[p] {
				t.Fatalf("caller %d record %d: position %+v missing or given twice", c, i, p)
			}
			seen[p] = true
			m, err := broker.Get(ctx, "events", p.Seq)
			if err != nil {
				t.Fatal(err)
			}
			var got []byte
			if err := stream.DecodeFrame(m.Data, func(j int, r stream.Record) error {
				if j == p.Index {
					got = append(got, r.Data...)
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if want := fmt.Sprintf(`{"c":%d,"i":%d}`, c, i); string(got) != want {
				t.Fatalf("caller %d record %d at %+v: not %s", c, i, p, want)
			}
		}
	}
	if err := s.PublishAt(ctx, "events", make([]stream.Record, 2), make([]stream.Position, 1)); err == nil {
		t.Error("PublishAt took 1 position for 2 records")
	}
}
