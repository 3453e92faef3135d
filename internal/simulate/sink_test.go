package simulate_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/sluice-dev/sluice/internal/simulate"
)

// ingestServer is a stand-in for sluice's HTTP ingest: it keeps every
// request's lines and answers per-record results. reply, when set, may
// answer a request itself (status != 0).
type ingestServer struct {
	*httptest.Server
	mu       sync.Mutex
	requests [][][]byte // lines per request that was accepted
	attempts int
	reply    func(attempt int, lines [][]byte) (status int, header http.Header, body string)
	reject   func(line []byte) string // reason, or "" to accept
}

func newIngestServer(t *testing.T) *ingestServer {
	s := &ingestServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/v1/streams/events/records" {
			t.Errorf("request %s %s", r.Method, r.URL.Path)
		}
		if ct := r.Header.Get("Content-Type"); ct != "application/x-ndjson" {
			t.Errorf("content type %q", ct)
		}
		body, _ := io.ReadAll(r.Body)
		if len(body) == 0 || body[len(body)-1] != '\n' {
			t.Errorf("body does not end with a newline: %q", body)
		}
		lines := bytes.Split(bytes.TrimSuffix(body, []byte("\n")), []byte("\n"))
		s.mu.Lock()
		s.attempts++
		attempt := s.attempts
		s.mu.Unlock()
		if s.reply != nil {
			if status, h, b := s.reply(attempt, lines); status != 0 {
				for k, v := range h {
					w.Header()[k] = v
				}
				w.WriteHeader(status)
				io.WriteString(w, b)
				return
			}
		}
		type recErr struct {
			Index  int    `json:"index"`
			Reason string `json:"reason"`
		}
		res := struct {
			Accepted int      `json:"accepted"`
			Rejected int      `json:"rejected"`
			Errors   []recErr `json:"errors"`
		}{Errors: []recErr{}}
		var kept [][]byte
		for i, l := range lines {
			if s.reject != nil {
				if why := s.reject(l); why != "" {
					res.Rejected++
					res.Errors = append(res.Errors, recErr{i, why})
					continue
				}
			}
			res.Accepted++
			kept = append(kept, bytes.Clone(l))
		}
		s.mu.Lock()
		s.requests = append(s.requests, kept)
		s.mu.Unlock()
		if res.Accepted == 0 {
			w.WriteHeader(http.StatusBadRequest)
		}
		json.NewEncoder(w).Encode(res)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *ingestServer) lines() [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out [][]byte
	for _, r := range s.requests {
		out = append(out, r...)
	}
	return out
}

func events(t *testing.T, n int) [][]byte {
	g, err := simulate.NewGenerator(simulate.Options{Devices: 3, Seed: 1, Start: t0})
	if err != nil {
		t.Fatal(err)
	}
	evs, _ := g.Take(n)
	return evs
}

func TestHTTPSink(t *testing.T) {
	ctx := context.Background()
	t.Run("batches", func(t *testing.T) {
		srv := newIngestServer(t)
		sink := simulate.NewHTTPSink(srv.URL+"/", "", 3, srv.Client())
		evs := events(t, 10)
		if err := sink.Send(ctx, evs); err != nil {
			t.Fatal(err)
		}
		var sizes []int
		for _, r := range srv.requests {
			sizes = append(sizes, len(r))
		}
		if fmt.Sprint(sizes) != "[3 3 3 1]" {
			t.Errorf("request sizes %v, want [3 3 3 1]", sizes)
		}
		if got := srv.lines(); fmt.Sprint(got) != fmt.Sprint(evs) {
			t.Errorf("server got %q", got)
		}
	})
	t.Run("retry-after", func(t *testing.T) {
		srv := newIngestServer(t)
		srv.reply = func(attempt int, _ [][]byte) (int, http.Header, string) {
			switch attempt {
			case 1:
				return http.StatusTooManyRequests, http.Header{"Retry-After": {"1"}}, `{"error":{"code":"throttled","message":"slow down"}}`
			case 2:
				return http.StatusServiceUnavailable, http.Header{"Retry-After": {"0"}}, ""
			}
			return 0, nil, ""
		}
		sink := simulate.NewHTTPSink(srv.URL, "events", 100, srv.Client())
		start := time.Now()
		if err := sink.Send(ctx, events(t, 5)); err != nil {
			t.Fatal(err)
		}
		if el := time.Since(start); el < 900*time.Millisecond {
			t.Errorf("retried after %v, Retry-After said 1s", el)
		}
		if sink.Requests() != 3 || sink.Retries() != 2 || len(srv.lines()) != 5 {
			t.Errorf("%d requests, %d retries, %d lines stored", sink.Requests(), sink.Retries(), len(srv.lines()))
		}
	})
	t.Run("bounded", func(t *testing.T) {
		srv := newIngestServer(t)
		srv.reply = func(int, [][]byte) (int, http.Header, string) {
			return http.StatusServiceUnavailable, http.Header{"Retry-After": {"30"}}, `{"error":{"code":"unavailable","message":"stream full"}}`
		}
		sink := simulate.NewHTTPSink(srv.URL, "events", 100, srv.Client())
		sink.MaxRetries, sink.MaxRetryWait = 2, 10*time.Millisecond
		err := sink.Send(ctx, events(t, 5))
		var he *simulate.HTTPError
		if !errors.As(err, &he) || he.Status != 503 || he.Code != "unavailable" || sink.Requests() != 3 {
			t.Fatalf("error %v after %d requests", err, sink.Requests())
		}
	})
	t.Run("rejects", func(t *testing.T) {
		srv := newIngestServer(t)
		srv.reject = func(l []byte) string {
			if bytes.Contains(l, []byte(simulate.DeviceID(1, 0))) {
				return "device banned"
			}
			return ""
		}
		sink := simulate.NewHTTPSink(srv.URL, "events", 4, srv.Client())
		evs := events(t, 12)
		err := sink.Send(ctx, evs)
		var rej *simulate.RejectError
		if !errors.As(err, &rej) {
			t.Fatalf("error %v, want a RejectError", err)
		}
		var want []int
		for i, e := range evs {
			if bytes.Contains(e, []byte(simulate.DeviceID(1, 0))) {
				want = append(want, i)
			}
		}
		var got []int
		for _, r := range rej.Records {
			got = append(got, r.Index)
			if r.Reason != "device banned" {
				t.Errorf("reason %q", r.Reason)
			}
		}
		if rej.Rejected != len(want) || fmt.Sprint(got) != fmt.Sprint(want) || len(srv.lines()) != len(evs)-len(want) {
			t.Errorf("rejected %d at %v, want %v; %d stored", rej.Rejected, got, want, len(srv.lines()))
		}
	})
	t.Run("too-large-splits", func(t *testing.T) {
		srv := newIngestServer(t)
		srv.reply = func(_ int, lines [][]byte) (int, http.Header, string) {
			if len(lines) > 3 {
				return http.StatusRequestEntityTooLarge, nil, `{"error":{"code":"too_large","message":"413"}}`
			}
			return 0, nil, ""
		}
		sink := simulate.NewHTTPSink(srv.URL, "events", 10, srv.Client())
		evs := events(t, 10)
		if err := sink.Send(ctx, evs); err != nil {
			t.Fatal(err)
		}
		if got := srv.lines(); fmt.Sprint(got) != fmt.Sprint(evs) {
			t.Errorf("after splitting the server has %d events in another order", len(got))
		}
	})
	t.Run("error", func(t *testing.T) {
		srv := newIngestServer(t)
		srv.reply = func(int, [][]byte) (int, http.Header, string) {
			return http.StatusNotFound, nil, `{"error":{"code":"not_found","message":"no stream"}}`
		}
		err := simulate.NewHTTPSink(srv.URL, "events", 10, srv.Client()).Send(ctx, events(t, 2))
		if err == nil || !strings.Contains(err.Error(), "not_found: no stream") {
			t.Fatalf("error %v", err)
		}
	})
}

func TestRunHTTP(t *testing.T) {
	srv := newIngestServer(t)
	o := faulty(21)
	o.Duration, o.Batch = 20*time.Minute, 250
	want, wantLabels := all(t, o)

	var progress, labels bytes.Buffer
	st, err := simulate.Run(context.Background(), o, simulate.NewHTTPSink(srv.URL, "events", 100, srv.Client()), &progress, &labels)
	if err != nil {
		t.Fatal(err)
	}
	got := srv.lines()
	if len(got) != len(want) || st.Sent != int64(len(want)) || st.Generated != st.Sent || st.Errors != 0 {
		t.Fatalf("stored %d, stats %+v, want %d events", len(got), st, len(want))
	}
	for i := range got {
		if !bytes.Equal(got[i], want[i].raw) {
			t.Fatalf("event %d: stored %s, generated %s", i, got[i], want[i].raw)
		}
	}
	sc := bufio.NewScanner(&labels)
	var n int
	for sc.Scan() {
		var l simulate.Label
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("label line %q: %v", sc.Text(), err)
		}
		if w := wantLabels[n]; l.Kind != w.Kind || l.DeviceID != w.DeviceID || !l.Time.Equal(w.Time) {
			t.Fatalf("label %d: %+v, want %+v", n, l, w)
		}
		n++
	}
	if n != len(wantLabels) || st.Labels != int64(n) {
		t.Errorf("%d label lines, stats say %d, generator %d", n, st.Labels, len(wantLabels))
	}
	out := progress.String()
	if !strings.HasSuffix(out, "\n") || !strings.Contains(out, fmt.Sprintf("sent %d events", len(want))) || !strings.HasPrefix(out, "\r") {
		t.Errorf("progress output %q", out)
	}
}

func TestRunRejectsAndFailures(t *testing.T) {
	srv := newIngestServer(t)
	banned := simulate.DeviceID(3, 1)
	srv.reject = func(l []byte) string {
		if bytes.Contains(l, []byte(banned)) {
			return "banned"
		}
		return ""
	}
	o := simulate.Options{Devices: 4, Seed: 3, Start: t0, Duration: time.Minute, Batch: 7, Workers: 3}
	st, err := simulate.Run(context.Background(), o, simulate.NewHTTPSink(srv.URL, "events", 5, srv.Client()), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if st.Rejected != 60 || st.Sent != 180 || len(st.Rejects) == 0 || st.Rejects[0].Reason != "banned" {
		t.Errorf("stats %+v", st)
	}

	// A receiver that is down: every batch fails, Run says so.
	dead := newIngestServer(t)
	dead.reply = func(int, [][]byte) (int, http.Header, string) {
		return http.StatusInternalServerError, nil, `{"error":{"code":"internal","message":"boom"}}`
	}
	st, err = simulate.Run(context.Background(), o, simulate.NewHTTPSink(dead.URL, "events", 5, dead.Client()), nil, nil)
	if err == nil || !strings.Contains(err.Error(), "boom") || st.Errors != 240 || st.Sent != 0 {
		t.Errorf("error %v, stats %+v", err, st)
	}
}

func TestRunRealTime(t *testing.T) {
	srv := newIngestServer(t)
	o := simulate.Options{Devices: 2, Rate: 20, Duration: 500 * time.Millisecond, RealTime: true, Seed: 1, FlushInterval: 50 * time.Millisecond}
	var progress bytes.Buffer
	start := time.Now()
	st, err := simulate.Run(context.Background(), o, simulate.NewHTTPSink(srv.URL, "events", 100, srv.Client()), &progress, nil)
	if err != nil {
		t.Fatal(err)
	}
	el := time.Since(start)
	if st.Sent != 20 || el < 400*time.Millisecond || el > 5*time.Second {
		t.Errorf("sent %d in %v, want 20 in about 0.5s", st.Sent, el)
	}
	if len(srv.requests) < 3 {
		t.Errorf("only %d requests: events were not sent as they came due", len(srv.requests))
	}
	// Events carry about the wall-clock time they were sent at.
	var m struct{ Time float64 }
	lines := srv.lines()
	json.Unmarshal(lines[len(lines)-1], &m)
	if d := time.Since(time.UnixMicro(int64(m.Time * 1000))); d < -time.Second || d > 2*time.Second {
		t.Errorf("last event is %v old", d)
	}

	// Open-ended: runs until the context ends, then returns nil.
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	o.Duration = 0
	st, err = simulate.Run(ctx, o, simulate.NewHTTPSink(srv.URL, "events", 100, srv.Client()), io.Discard, nil)
	if err != nil || st.Sent == 0 {
		t.Errorf("open-ended run: %v, %+v", err, st)
	}
	// With an end, an early stop is an error.
	ctx2, cancel2 := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel2()
	o.Duration = time.Hour
	if _, err := simulate.Run(ctx2, o, simulate.NewHTTPSink(srv.URL, "events", 100, srv.Client()), nil, nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("stopped run: %v", err)
	}
}

// allowAll lets every client connect and publish. (mochi's own hooks/auth
// pulls in a YAML module that is not in go.mod.)
type allowAll struct{ mqtt.HookBase }

func (h *allowAll) ID() string { return "allow-all" }
func (h *allowAll) Provides(b byte) bool {
	return b == mqtt.OnConnectAuthenticate || b == mqtt.OnACLCheck
}
func (h *allowAll) OnConnectAuthenticate(*mqtt.Client, packets.Packet) bool { return true }
func (h *allowAll) OnACLCheck(*mqtt.Client, string, bool) bool              { return true }

// startBroker runs a real embedded MQTT broker and records what arrives on
// devices/+/telemetry.
func startBroker(t *testing.T) (addr string, got func() map[string][][]byte) {
	t.Helper()
	srv := mqtt.New(&mqtt.Options{InlineClient: true, Logger: slog.New(slog.DiscardHandler)})
	if err := srv.AddHook(new(allowAll), nil); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.AddListener(listeners.NewNet("t", ln)); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	msgs := map[string][][]byte{}
	err = srv.Subscribe("devices/+/telemetry", 1, func(_ *mqtt.Client, _ packets.Subscription, pk packets.Packet) {
		mu.Lock()
		msgs[pk.TopicName] = append(msgs[pk.TopicName], bytes.Clone(pk.Payload))
		mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Serve(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String(), func() map[string][][]byte {
		mu.Lock()
		defer mu.Unlock()
		out := map[string][][]byte{}
		for k, v := range msgs {
			out[k] = append([][]byte(nil), v...)
		}
		return out
	}
}

func TestMQTTSink(t *testing.T) {
	for _, qos := range []byte{0, 1} {
		t.Run(fmt.Sprintf("qos=%d", qos), func(t *testing.T) {
			addr, got := startBroker(t)
			ctx := context.Background()
			sink, err := simulate.NewMQTTSink(ctx, "tcp://"+addr, "", qos)
			if err != nil {
				t.Fatal(err)
			}
			defer sink.Close()
			evs := events(t, 300)
			bad := []byte(`{"Time":1,"temperature_measure":1}`)
			err = sink.Send(ctx, append(evs[:len(evs):len(evs)], bad))
			var rej *simulate.RejectError
			if !errors.As(err, &rej) || rej.Rejected != 1 || rej.Records[0].Index != len(evs) {
				t.Fatalf("error %v, want the event without DeviceID rejected", err)
			}
			want := map[string][]string{}
			for _, e := range evs {
				var m struct{ DeviceID string }
				json.Unmarshal(e, &m)
				topic := "devices/" + m.DeviceID + "/telemetry"
				want[topic] = append(want[topic], string(e))
			}
			deadline := time.Now().Add(5 * time.Second)
			var msgs map[string][][]byte
			for {
				msgs = got()
				var n int
				for _, v := range msgs {
					n += len(v)
				}
				if n >= len(evs) || time.Now().After(deadline) {
					break
				}
				time.Sleep(10 * time.Millisecond)
			}
			if len(msgs) != len(want) {
				t.Fatalf("topics %d, want %d", len(msgs), len(want))
			}
			for topic, w := range want {
				g := msgs[topic]
				var gs []string
				for _, b := range g {
					gs = append(gs, string(b))
				}
				if qos == 1 { // concurrent publishes may reorder; compare as sets
					if len(gs) != len(w) {
						t.Fatalf("%s: %d messages, want %d", topic, len(gs), len(w))
					}
					seen := map[string]bool{}
					for _, s := range gs {
						seen[s] = true
					}
					for _, s := range w {
						if !seen[s] {
							t.Fatalf("%s: missing %s", topic, s)
						}
					}
				} else if fmt.Sprint(gs) != fmt.Sprint(w) {
					t.Fatalf("%s: got %d messages, want %d in order", topic, len(gs), len(w))
				}
			}
			if sink.Published() != int64(len(evs)) {
				t.Errorf("published %d", sink.Published())
			}
		})
	}
}

func TestRunMQTT(t *testing.T) {
	addr, got := startBroker(t)
	sink, err := simulate.NewMQTTSink(context.Background(), addr, "devices/%s/telemetry", 1)
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	o := simulate.Options{Devices: 5, Seed: 2, Start: t0, Duration: 2 * time.Minute, Batch: 64}
	st, err := simulate.Run(context.Background(), o, sink, nil, nil)
	if err != nil || st.Sent != 600 {
		t.Fatalf("run: %v, %+v", err, st)
	}
	// The test broker hands messages to its inline subscriber after the
	// PUBACK, so the last few may still be on their way.
	var n int
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		n = 0
		for topic, v := range got() {
			if !strings.HasPrefix(topic, "devices/") || !strings.HasSuffix(topic, "/telemetry") {
				t.Fatalf("topic %s", topic)
			}
			n += len(v)
		}
		if n >= 600 || time.Now().After(deadline) {
			break
		}
	}
	if n != 600 {
		t.Errorf("broker received %d messages, want 600", n)
	}
}

func TestMQTTSinkErrors(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	for _, tc := range []struct {
		addr, pattern string
		qos           byte
		want          string
	}{
		{"127.0.0.1:1", "", 0, "connecting"},
		{"127.0.0.1:1", "devices/telemetry", 0, "exactly one %s"},
		{"127.0.0.1:1", "", 2, "QoS 2"},
	} {
		if _, err := simulate.NewMQTTSink(ctx, tc.addr, tc.pattern, tc.qos); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("NewMQTTSink(%q, %q, %d): %v, want %q", tc.addr, tc.pattern, tc.qos, err, tc.want)
		}
	}
}
