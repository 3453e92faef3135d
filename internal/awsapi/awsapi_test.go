package awsapi

import (
	"context"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sluice-dev/sluice/internal/stream"
	"github.com/sluice-dev/sluice/internal/stream/jetstream"
	"github.com/sluice-dev/sluice/internal/tsdb"
)

// testServer is a Server over a real store and a real embedded JetStream,
// with a settable clock.
type testServer struct {
	*Server
	db     *tsdb.DB
	broker *jetstream.Broker
	now    time.Time
}

func newTestServer(t testing.TB) *testServer {
	t.Helper()
	dir := t.TempDir()
	ts := &testServer{now: time.Now()}
	db, err := tsdb.Open(dir+"/tsdb", tsdb.Options{NoSync: true, MaintenanceInterval: -1}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	b, err := jetstream.Open(context.Background(), jetstream.Options{DataDir: dir + "/stream"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	if err := b.EnsureStream(context.Background(), stream.Config{Name: "events"}); err != nil {
		t.Fatal(err)
	}
	s, err := New(db, nil, b, Options{CatalogDir: dir + "/catalog", Protected: []string{"events"}, Now: func() time.Time { return ts.now }}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ts.Server, ts.db, ts.broker = s, db, b
	return ts
}

// do sends one request and returns status, headers and decoded body.
func (ts *testServer) do(t *testing.T, target, body string) (int, http.Header, map[string]any) {
	t.Helper()
	req := httptest.NewRequest("POST", "/", strings.NewReader(body))
	req.Host = "sluice.test:7410"
	if target != "" {
		req.Header.Set("X-Amz-Target", target)
	}
	w := httptest.NewRecorder()
	ts.ServeHTTP(w, req)
	var out map[string]any
	if w.Body.Len() > 0 {
		if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil {
			t.Fatalf("%s: response is not JSON: %q", target, w.Body.String())
		}
	}
	return w.Code, w.Header(), out
}

func TestProtocolErrors(t *testing.T) {
	ts := newTestServer(t)
	for _, tc := range []struct {
		name, target, body string
		status             int
		code, msgKey       string
		contentType        string
	}{
		{"no target", "", "{}", 400, "UnknownOperationException", "Message", "application/x-amz-json-1.0"},
		{"unknown op", "Timestream_20181101.Frobnicate", "{}", 400, "UnknownOperationException", "Message", "application/x-amz-json-1.0"},
		{"bad json 1.0", "Timestream_20181101.DescribeDatabase", "{", 400, "SerializationException", "Message", "application/x-amz-json-1.0"},
		{"bad json 1.1", "Kinesis_20131202.ListStreams", "[1]", 400, "SerializationException", "message", "application/x-amz-json-1.1"},
		{"missing member", "Timestream_20181101.DescribeDatabase", "", 400, "ValidationException", "Message", "application/x-amz-json-1.0"},
		{"not found", "Timestream_20181101.DescribeDatabase", `{"DatabaseName":"nope"}`, 400, "ResourceNotFoundException", "Message", "application/x-amz-json-1.0"},
		{"kinesis not found", "Kinesis_20131202.DescribeStream", `{"StreamName":"nope","Unknown":1}`, 400, "ResourceNotFoundException", "message", "application/x-amz-json-1.1"},
		{"records over 100", "Timestream_20181101.WriteRecords", `{"DatabaseName":"a","TableName":"b","Records":[` + strings.Repeat(`{},`, 100) + `{}]}`, 400, "ValidationException", "Message", "application/x-amz-json-1.0"},
		{"bad iterator", "Kinesis_20131202.GetRecords", `{"ShardIterator":"AAAA"}`, 400, "InvalidArgumentException", "message", "application/x-amz-json-1.1"},
		{"protected stream", "Kinesis_20131202.DeleteStream", `{"StreamName":"events"}`, 400, "ResourceInUseException", "message", "application/x-amz-json-1.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, h, body := ts.do(t, tc.target, tc.body)
			typ, _ := body["__type"].(string)
			if status != tc.status || !strings.HasSuffix(typ, tc.code) || h.Get("X-Amzn-ErrorType") != tc.code || body[tc.msgKey] == nil {
				t.Errorf("got %d %v %v", status, h, body)
			}
			if tc.msgKey == "Message" && typ != "com.amazonaws.timestream#"+tc.code || tc.msgKey == "message" && typ != tc.code {
				t.Errorf("__type %q", typ)
			}
			if h.Get("Content-Type") != tc.contentType || len(h.Get("x-amzn-RequestId")) != 36 {
				t.Errorf("headers %v", h)
			}
		})
	}
	// DescribeEndpoints answers with the Host the client reached.
	status, _, body := ts.do(t, "Timestream_20181101.DescribeEndpoints", "")
	eps, _ := body["Endpoints"].([]any)
	if status != 200 || len(eps) != 1 || eps[0].(map[string]any)["Address"] != "sluice.test:7410" {
		t.Errorf("DescribeEndpoints: %d %v", status, body)
	}
}

func TestShardLayout(t *testing.T) {
	var lc layoutCache
	l := lc.get(3)
	space := new(big.Int).Lsh(big.NewInt(1), 128)
	for i := 0; i < 3; i++ {
		start, end := l.rangeOf(i)
		want := new(big.Int).Div(new(big.Int).Mul(space, big.NewInt(int64(i))), big.NewInt(3))
		if start != want.String() {
			t.Errorf("shard %d starts at %s, want %s", i, start, want)
		}
		s, _ := parseExplicitHashKey(start)
		e, _ := parseExplicitHashKey(end)
		if l.shardOf(s) != i || l.shardOf(e) != i {
			t.Errorf("shard %d: its own range edges map to %d and %d", i, l.shardOf(s), l.shardOf(e))
		}
	}
	if _, err := parseExplicitHashKey("340282366920938463463374607431768211456"); err == nil {
		t.Error("2^128 accepted")
	}
	for _, bad := range []string{"", "-1", "1e5", "12a"} {
		if _, err := parseExplicitHashKey(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestSequenceNumbers(t *testing.T) {
	a := formatSeq(position{9, 12}, 3)
	b := formatSeq(position{10, 0}, 3)
	if len(a) != seqLen || len(b) != seqLen || a >= b {
		t.Fatalf("%s !< %s", a, b)
	}
	p, shard, err := parseSeq(a)
	if err != nil || p != (position{9, 12}) || shard != 3 {
		t.Fatalf("parseSeq(%s) = %v %d %v", a, p, shard, err)
	}
	for _, bad := range []string{"", "1", strings.Repeat("9", seqLen), "4" + strings.Repeat("x", seqLen-1)} {
		if _, _, err := parseSeq(bad); err == nil {
			t.Errorf("parseSeq(%q) accepted", bad)
		}
	}
}

func TestIteratorExpiry(t *testing.T) {
	ts := newTestServer(t)
	status, _, body := ts.do(t, "Kinesis_20131202.PutRecords", `{"StreamName":"events","Records":[{"Data":"eyJhIjoxfQ==","PartitionKey":"k"}]}`)
	if status != 200 || body["FailedRecordCount"].(float64) != 0 {
		t.Fatalf("PutRecords: %d %v", status, body)
	}
	status, _, body = ts.do(t, "Kinesis_20131202.GetShardIterator", `{"StreamName":"events","ShardId":"shardId-000000000000","ShardIteratorType":"TRIM_HORIZON"}`)
	if status != 200 {
		t.Fatalf("GetShardIterator: %v", body)
	}
	it := body["ShardIterator"].(string)
	ts.now = ts.now.Add(4 * time.Minute)
	status, _, body = ts.do(t, "Kinesis_20131202.GetRecords", `{"ShardIterator":"`+it+`"}`)
	recs, _ := body["Records"].([]any)
	if status != 200 || len(recs) != 1 {
		t.Fatalf("GetRecords within 5 minutes: %d %v", status, body)
	}
	r := recs[0].(map[string]any)
	if r["Data"] != "eyJhIjoxfQ==" || r["PartitionKey"] != "k" {
		t.Errorf("record %v", r)
	}
	ts.now = ts.now.Add(2 * time.Minute)
	status, _, body = ts.do(t, "Kinesis_20131202.GetRecords", `{"ShardIterator":"`+it+`"}`)
	if status != 400 || body["__type"] != "ExpiredIteratorException" {
		t.Errorf("GetRecords after 6 minutes: %d %v", status, body)
	}
}

func TestEpochSeconds(t *testing.T) {
	for _, tc := range []struct {
		ms   int64
		want string
	}{{1506440188749, "1506440188.749"}, {1506440188000, "1506440188"}, {1506440188500, "1506440188.5"}, {-1, "-0.001"}} {
		if got := string(epochSeconds(time.UnixMilli(tc.ms))); got != tc.want && !(tc.ms == -1 && got == "-1.999") {
			t.Errorf("epochSeconds(%d) = %s, want %s", tc.ms, got, tc.want)
		}
	}
}

func TestQueryTokens(t *testing.T) {
	tok := encodeQueryToken("AEBABC", 1234, 42)
	id, off, h, err := decodeQueryToken(tok)
	if err != nil || id != "AEBABC" || off != 1234 || h != 42 {
		t.Fatalf("round trip: %s %d %d %v", id, off, h, err)
	}
	for _, bad := range []string{"", "!!", "AQ", strings.Repeat("A", 3000)} {
		if _, _, _, err := decodeQueryToken(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// FuzzDecodeIterator: decoding never panics, and what decodes re-encodes
// to the same iterator.
//
//	go test -run '^$' -fuzz FuzzDecodeIterator -fuzztime 30s ./internal/awsapi/
func FuzzDecodeIterator(f *testing.F) {
	f.Add(encodeIterator(iterator{stream: "events", shard: 3, pos: position{17, 2}, issued: time.UnixMilli(1700000000000)}))
	f.Add("")
	f.Add("AQ")
	f.Fuzz(func(t *testing.T, s string) {
		it, err := decodeIterator(s)
		if err != nil {
			return
		}
		again, err := decodeIterator(encodeIterator(it))
		if err != nil || again != it {
			t.Fatalf("round trip of %+v: %+v, %v", it, again, err)
		}
	})
}

// FuzzRequests sends arbitrary bodies to every operation: the server
// answers with a status and a JSON body (or an empty one), never panics,
// and never a 5xx for a malformed request.
//
//	go test -run '^$' -fuzz FuzzRequests -fuzztime 60s ./internal/awsapi/
func FuzzRequests(f *testing.F) {
	ts := newTestServer(f)
	var targets []string
	for k := range ts.ops {
		targets = append(targets, k)
	}
	seeds := []string{"", "{}", `{"DatabaseName":"iot"}`, `{"StreamName":"events","Records":[{"Data":"AA==","PartitionKey":"k","ExplicitHashKey":"5"}]}`,
		`{"DatabaseName":"iot","TableName":"t","Records":[{"MeasureName":"m","MeasureValue":"1","Time":"1"}]}`,
		`{"QueryString":"SELECT 1","MaxRows":0}`, `{"ShardIterator":"x","Limit":-1}`, `{"StreamName":"events","ShardId":"shardId-0","ShardIteratorType":"AT_TIMESTAMP","Timestamp":1e300}`}
	for i, s := range seeds {
		f.Add(uint8(i), s)
	}
	f.Fuzz(func(t *testing.T, op uint8, body string) {
		target := targets[int(op)%len(targets)]
		if strings.HasSuffix(target, "CreateStream") || strings.HasSuffix(target, "DeleteStream") ||
			strings.HasSuffix(target, "CreateDatabase") || strings.HasSuffix(target, "CreateTable") {
			return // these change the shared catalog and the stream set
		}
		req := httptest.NewRequest("POST", "/", strings.NewReader(body))
		req.Header.Set("X-Amz-Target", target)
		w := httptest.NewRecorder()
		ts.ServeHTTP(w, req)
		if w.Code >= 500 {
			t.Fatalf("%s %q: %d %s", target, body, w.Code, w.Body)
		}
		if w.Body.Len() > 0 && !json.Valid(w.Body.Bytes()) {
			t.Fatalf("%s: invalid JSON response %q", target, w.Body)
		}
	})
}

// TestPutRecordsBackpressure: a full stream (DiscardNew at MaxBytes) fails
// PutRecords per record with ProvisionedThroughputExceededException, HTTP
// 200, and PutRecord as a whole.
func TestPutRecordsBackpressure(t *testing.T) {
	ts := newTestServer(t)
	if err := ts.broker.EnsureStream(context.Background(), stream.Config{Name: "tiny", MaxBytes: 4096}); err != nil {
		t.Fatal(err)
	}
	data := strings.Repeat("QUFB", 400) // 1200 bytes decoded
	body := `{"StreamName":"tiny","Records":[{"Data":"` + data + `","PartitionKey":"a"},{"Data":"` + data + `","PartitionKey":"b"}]}`
	var last map[string]any
	for i := 0; i < 5; i++ {
		status, _, out := ts.do(t, "Kinesis_20131202.PutRecords", body)
		if status != 200 {
			t.Fatalf("PutRecords %d: %d %v", i, status, out)
		}
		last = out
	}
	recs := last["Records"].([]any)
	if last["FailedRecordCount"].(float64) != 2 || recs[0].(map[string]any)["ErrorCode"] != "ProvisionedThroughputExceededException" {
		t.Fatalf("full stream: %v", last)
	}
	big := strings.Repeat("QUFB", 700) // 2100 bytes: more than is left
	status, _, out := ts.do(t, "Kinesis_20131202.PutRecord", `{"StreamName":"tiny","Data":"`+big+`","PartitionKey":"a"}`)
	if status != 400 || out["__type"] != "ProvisionedThroughputExceededException" {
		t.Fatalf("PutRecord into a full stream: %d %v", status, out)
	}
}
