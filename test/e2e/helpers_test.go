package e2e

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluice-dev/sluice/internal/apptest"
	"github.com/sluice-dev/sluice/internal/columnar"
	"github.com/sluice-dev/sluice/internal/config"
	"github.com/sluice-dev/sluice/internal/tsdb"
)

// measures are the four measures of the seed's events, as stored.
var measures = [4]string{"temperature", "humidity", "voltage", "watt"}

// testLogger is the servers' logger: silent unless SLUICE_TEST_LOG is set
// (t.Log cannot be used: server goroutines may log after the test ended).
func testLogger() *slog.Logger { return apptest.Logger() }

// testConfig is the default configuration on a temporary data dir with
// ephemeral loopback listeners and no PostgreSQL listener.
func testConfig(t *testing.T) config.Config {
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.MQTTAddr = "127.0.0.1:0"
	cfg.PGAddr = ""
	return cfg
}

// waitFor polls cond every interval until it returns true or timeout
// passes; it reports the last state cond described on failure.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	interval := 50 * time.Millisecond
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s; last state: %s", timeout, what, state)
		}
		time.Sleep(interval)
		interval = min(interval*2, time.Second)
	}
}

var httpClient = &http.Client{Timeout: 30 * time.Second}

// ingestResult is the answer of POST /v1/streams/{stream}/records.
type ingestResult struct {
	Accepted int `json:"accepted"`
	Rejected int `json:"rejected"`
	Errors   []struct {
		Index  int    `json:"index"`
		Reason string `json:"reason"`
	} `json:"errors"`
}

// postNDJSON sends events as one NDJSON body and decodes the answer.
func postNDJSON(ctx context.Context, client *http.Client, addr string, events [][]byte) (int, ingestResult, error) {
	var body bytes.Buffer
	for _, ev := range events {
		body.Write(ev)
		body.WriteByte('\n')
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+"/v1/streams/events/records", &body)
	if err != nil {
		return 0, ingestResult{}, err
	}
	req.Header.Set("Content-Type", "application/x-ndjson")
	resp, err := client.Do(req)
	if err != nil {
		return 0, ingestResult{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, ingestResult{}, fmt.Errorf("reading answer: %w", err)
	}
	var res ingestResult
	if resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusBadRequest {
		if err := json.Unmarshal(b, &res); err != nil {
			return resp.StatusCode, res, fmt.Errorf("decoding answer %q: %w", b, err)
		}
	}
	return resp.StatusCode, res, nil
}

// mustPostAll sends events in NDJSON requests of batch events each and
// fails unless every event is accepted.
func mustPostAll(t *testing.T, addr string, events [][]byte, batch int) {
	t.Helper()
	for i := 0; i < len(events); i += batch {
		part := events[i:min(i+batch, len(events))]
		status, res, err := postNDJSON(context.Background(), httpClient, addr, part)
		if err != nil || status != http.StatusOK || res.Accepted != len(part) || res.Rejected != 0 {
			t.Fatalf("POST of %d events: status %d, %+v, err %v", len(part), status, res, err)
		}
	}
}

// getBody fetches a URL and returns status and body.
func getBody(url string) (int, string, error) {
	resp, err := httpClient.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// metricSum adds up the samples of metric name (exactly, not its _bucket
// or _sum series) whose labels contain every one of labels (`k="v"`).
func metricSum(text, name string, labels ...string) (float64, bool) {
	sum, found := 0.0, false
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name) {
			continue
		}
		rest := line[len(name):]
		if rest == "" || (rest[0] != '{' && rest[0] != ' ') {
			continue
		}
		lbl := ""
		if rest[0] == '{' {
			end := strings.IndexByte(rest, '}')
			if end < 0 {
				continue
			}
			lbl, rest = rest[1:end], rest[end+1:]
		}
		ok := true
		for _, l := range labels {
			if !strings.Contains(lbl, l) {
				ok = false
			}
		}
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
		if err != nil {
			continue
		}
		sum += v
		found = true
	}
	return sum, found
}

// seriesKey identifies one stored point.
type seriesKey struct {
	Device  string
	Measure string
	Time    int64
}

func (k seriesKey) String() string {
	return fmt.Sprintf("%s/%s@%s", k.Device, k.Measure, time.Unix(0, k.Time).UTC().Format(time.RFC3339Nano))
}

// storedRow is one telemetry row as read back.
type storedRow struct {
	Value float64
	Dims  map[string]string // non-NULL dimensions
	Count int               // rows with this key: must be 1
}

// scanTelemetry reads every row of iot.telemetry into a map.
func scanTelemetry(ctx context.Context, db *tsdb.DB) (map[seriesKey]*storedRow, error) {
	return scanTelemetryInto(ctx, db, map[seriesKey]*storedRow{})
}

// scanTelemetryInto adds the rows of db's iot.telemetry to out, counting
// keys seen more than once (across calls too).
func scanTelemetryInto(ctx context.Context, db *tsdb.DB, out map[seriesKey]*storedRow) (map[seriesKey]*storedRow, error) {
	req := tsdb.ScanRequest{Database: "iot", Table: "telemetry", MinTime: math.MinInt64, MaxTime: math.MaxInt64}
	err := db.Scan(ctx, req, func(b *columnar.Batch) error {
		tc, mc, vc := b.Col("time"), b.Col("measure_name"), b.Col("measure_value::double")
		if tc == nil || mc == nil || vc == nil {
			return fmt.Errorf("batch lacks time, measure_name or measure_value::double: %v", b.Names)
		}
		var dimCols []int
		for i, n := range b.Names {
			if n != "time" && n != "measure_name" && !strings.HasPrefix(n, "measure_value") && n != "version" {
				dimCols = append(dimCols, i)
			}
		}
		for i := 0; i < b.Len(); i++ {
			dims := map[string]string{}
			for _, j := range dimCols {
				if c := b.Cols[j]; !c.IsNull(i) {
					dims[b.Names[j]] = c.Strs[i]
				}
			}
			k := seriesKey{Device: dims["DeviceID"], Measure: mc.Strs[i], Time: tc.Ints[i]}
			if r := out[k]; r != nil {
				r.Count++
				continue
			}
			v := math.NaN()
			if !vc.IsNull(i) {
				v = vc.Floats[i]
			}
			out[k] = &storedRow{Value: v, Dims: dims, Count: 1}
		}
		return nil
	})
	return out, err
}

// systemRow is one row of a multi-measure system table.
type systemRow struct {
	Time   int64
	Dims   map[string]string
	Fields map[string]any // timestamps as int64 ns
}

// scanSystem reads every row of sluice.<table>.
func scanSystem(ctx context.Context, db *tsdb.DB, table string) ([]systemRow, error) {
	var out []systemRow
	req := tsdb.ScanRequest{Database: "sluice", Table: table, MinTime: math.MinInt64, MaxTime: math.MaxInt64}
	err := db.Scan(ctx, req, func(b *columnar.Batch) error {
		schema, err := db.Schema(ctx, "sluice", table)
		if err != nil {
			return err
		}
		kind := map[string]string{}
		for _, c := range schema {
			kind[c.Name] = c.Kind
		}
		tc := b.Col("time")
		for i := 0; i < b.Len(); i++ {
			r := systemRow{Time: tc.Ints[i], Dims: map[string]string{}, Fields: map[string]any{}}
			for j, n := range b.Names {
				c := b.Cols[j]
				if c.IsNull(i) {
					continue
				}
				switch kind[n] {
				case "dimension":
					r.Dims[n] = c.Strs[i]
				case "measure":
					r.Fields[n] = c.Value(i)
				}
			}
			out = append(out, r)
		}
		return nil
	})
	return out, err
}

// queryResult is the /v1/query shape the rows endpoint answers with.
type queryResult struct {
	Columns []struct {
		Name string `json:"name"`
		Type string `json:"type"`
	} `json:"columns"`
	Rows [][]any `json:"rows"`
}

// col returns the index of a column, or -1.
func (q *queryResult) col(name string) int {
	for i, c := range q.Columns {
		if c.Name == name {
			return i
		}
	}
	return -1
}

// getRows reads GET /v1/databases/iot/tables/telemetry/rows with query.
func getRows(addr, query string) (*queryResult, error) {
	status, body, err := getBody("http://" + addr + "/v1/databases/iot/tables/telemetry/rows?" + query)
	if err != nil {
		return nil, err
	}
	if status != http.StatusOK {
		return nil, fmt.Errorf("rows?%s: status %d: %s", query, status, body)
	}
	var q queryResult
	d := json.NewDecoder(strings.NewReader(body))
	d.UseNumber()
	if err := d.Decode(&q); err != nil {
		return nil, fmt.Errorf("rows?%s: decoding: %w", query, err)
	}
	return &q, nil
}

// parseQueryTime parses Timestream's timestamp format to ns.
func parseQueryTime(v any) (int64, error) {
	s, ok := v.(string)
	if !ok {
		return 0, fmt.Errorf("timestamp %v is %T, want a string", v, v)
	}
	t, err := time.Parse("2006-01-02 15:04:05.000000000", s)
	if err != nil {
		return 0, err
	}
	return t.UnixNano(), nil
}

// millisToNanos converts a decimal number of milliseconds, as sent in an
// event's Time field ("1609757175225.499"), to nanoseconds exactly, with
// integer arithmetic only: the test must not share float rounding with the
// code under test.
func millisToNanos(lit string) (int64, error) {
	intPart, frac, _ := strings.Cut(lit, ".")
	ms, err := strconv.ParseInt(intPart, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("time %q: %w", lit, err)
	}
	if len(frac) > 6 {
		frac = frac[:6] // below a nanosecond
	}
	frac += strings.Repeat("0", 6-len(frac))
	f, err := strconv.ParseInt(frac, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("time %q: %w", lit, err)
	}
	return ms*1_000_000 + f, nil
}

// nanosToMillis renders ns as the seed's millisecond Time literal with up
// to six decimals.
func nanosToMillis(ns int64) string {
	s := strconv.FormatInt(ns/1_000_000, 10)
	if f := ns % 1_000_000; f != 0 {
		s += strings.TrimRight(fmt.Sprintf(".%06d", f), "0")
	}
	return s
}

// sentEvent is one device event as the test sent it, with what it must
// become in the store.
type sentEvent struct {
	Raw     []byte
	Device  string // DeviceID in the payload, or from the MQTT topic
	TimeNs  int64  // as the device claimed
	Values  [4]float64
	Skewed  bool // time more than 15 min ahead of the send time
	NoDevID bool // payload without DeviceID (MQTT: the topic gives it)
}

// parseEvent reads a seed-shaped event the test built or the simulator
// generated. It uses its own decoding (encoding/json with exact number
// literals), not internal/event's.
func parseEvent(raw []byte) (sentEvent, error) {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		return sentEvent{}, err
	}
	ev := sentEvent{Raw: raw}
	num, ok := m["Time"].(json.Number)
	if !ok {
		return ev, fmt.Errorf("event %s: Time is %T", raw, m["Time"])
	}
	var err error
	if ev.TimeNs, err = millisToNanos(string(num)); err != nil {
		return ev, err
	}
	if id, ok := m["DeviceID"].(string); ok {
		ev.Device = id
	} else {
		ev.NoDevID = true
	}
	for i, name := range measures {
		n, ok := m[name+"_measure"].(json.Number)
		if !ok {
			return ev, fmt.Errorf("event %s: %s_measure is %T", raw, name, m[name+"_measure"])
		}
		if ev.Values[i], err = strconv.ParseFloat(string(n), 64); err != nil {
			return ev, err
		}
	}
	return ev, nil
}

// makeEvent builds a seed-shaped event. An empty device leaves DeviceID out.
func makeEvent(device string, timeNs int64, v [4]float64) []byte {
	var b []byte
	b = append(b, `{"Time":`...)
	b = append(b, nanosToMillis(timeNs)...)
	if device != "" {
		b = append(b, `,"DeviceID":`...)
		b = strconv.AppendQuote(b, device)
	}
	for i, name := range measures {
		b = append(b, `,"`...)
		b = append(b, name...)
		b = append(b, `_measure":`...)
		b = strconv.AppendFloat(b, v[i], 'f', -1, 64)
	}
	return append(b, '}')
}

// expectRecords adds the 4 keys of a non-skewed event to want.
func expectRecords(want map[seriesKey]float64, ev sentEvent) {
	for i, name := range measures {
		want[seriesKey{ev.Device, name, ev.TimeNs}] = ev.Values[i]
	}
}

// checkStored compares stored rows with want: each wanted key present once
// with its value and DeviceID dimension. It returns the problems found
// (at most max, plus a count).
func checkStored(got map[seriesKey]*storedRow, want map[seriesKey]float64, max int) []string {
	var problems []string
	n := 0
	add := func(s string) {
		n++
		if len(problems) < max {
			problems = append(problems, s)
		}
	}
	keys := make([]seriesKey, 0, len(want))
	for k := range want {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b seriesKey) int {
		return cmp.Or(cmp.Compare(a.Device, b.Device), cmp.Compare(a.Measure, b.Measure), cmp.Compare(a.Time, b.Time))
	})
	for _, k := range keys {
		r := got[k]
		switch {
		case r == nil:
			add("missing " + k.String())
		case r.Count != 1:
			add(fmt.Sprintf("%s stored %d times", k, r.Count))
		case r.Value != want[k]:
			add(fmt.Sprintf("%s = %v, want %v", k, r.Value, want[k]))
		case r.Dims["DeviceID"] != k.Device:
			add(fmt.Sprintf("%s has dimensions %v", k, r.Dims))
		}
	}
	if n > len(problems) {
		problems = append(problems, fmt.Sprintf("... %d problems in all", n))
	}
	return problems
}
