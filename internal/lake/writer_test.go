package lake

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluice-dev/sluice/internal/stream"
)

// testMsg is a stream message built from events, counting its acks.
type testMsg struct {
	*stream.Message
	acks *atomic.Int32
}

func newMsg(seq uint64, at time.Time, events ...string) testMsg {
	recs := make([]stream.Record, len(events))
	for i, e := range events {
		recs[i] = stream.Record{Key: "k", Data: []byte(e)}
	}
	return rawMsg(seq, at, stream.AppendFrame(nil, recs))
}

func rawMsg(seq uint64, at time.Time, data []byte) testMsg {
	acks := new(atomic.Int32)
	ack := func() error { acks.Add(1); return nil }
	m := stream.NewMessage("events", seq, at, data, 1, ack, func(time.Duration) error { return nil }, func() error { return nil })
	return testMsg{m, acks}
}

var t0 = time.Date(2026, 11, 25, 18, 30, 0, 0, time.UTC)

func newTestWriter(t *testing.T, dir string, opts Options) *Writer {
	t.Helper()
	opts.Dir = dir
	if opts.BufferInterval == 0 {
		opts.BufferInterval = time.Hour
	}
	w, err := NewWriter(opts, nil, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// lakeFiles lists the files under dir, relative, with / separators.
func lakeFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		out = append(out, filepath.ToSlash(rel))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

// readLines reads a JSON Lines file (gzipped if named .gz) with a plain
// line scanner and checks that every line is a JSON object.
func readLines(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var r io.Reader = f
	if strings.HasSuffix(path, ".gz") {
		zr, err := gzip.NewReader(f)
		if err != nil {
			t.Fatal(err)
		}
		r = zr
	}
	var lines []string
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("%s: line %q is not a JSON object: %v", path, sc.Text(), err)
		}
		lines = append(lines, sc.Text())
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return lines
}

type errRecord struct {
	AttemptsMade      int    `json:"attemptsMade"`
	ArrivalTimestamp  int64  `json:"arrivalTimestamp"`
	ErrorCode         string `json:"errorCode"`
	ErrorMessage      string `json:"errorMessage"`
	RawData           string `json:"rawData"`
	SequenceNumber    string `json:"sequenceNumber"`
	SubSequenceNumber int    `json:"subSequenceNumber"`
}

func TestWriterJSONL(t *testing.T) {
	dir := t.TempDir()
	w := newTestWriter(t, dir, Options{})
	msgs := []testMsg{
		newMsg(1, t0, `{"DeviceID":"a","Time":1,"temperature_measure":20.5}`, `{"DeviceID":"b","Time":2}`),
		newMsg(2, t0.Add(time.Second), `not json`, `{"DeviceID":"c"}`, "{\"multi\":\n1}", `[1,2]`),
		newMsg(3, t0.Add(2*time.Second), `{"DeviceID":"d","Time":9999999999999}`), // far future: no clock correction in the lake
		rawMsg(4, t0.Add(3*time.Second), []byte("\x07garbage")),
	}
	for _, m := range msgs {
		if err := w.Add(m.Message); err != nil {
			t.Fatal(err)
		}
	}
	for _, m := range msgs {
		if n := m.acks.Load(); n != 0 {
			t.Fatalf("message %d acknowledged %d times before the flush", m.Seq, n)
		}
	}
	if err := w.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		if n := m.acks.Load(); n != 1 {
			t.Errorf("message %d acknowledged %d times after the flush, want 1", m.Seq, n)
		}
	}
	files := lakeFiles(t, dir)
	want := []string{
		"errors/processing-failed/year=2026/month=11/day=25/hour=18/events-00000000000000000001-00000000000000000004.errors.jsonl",
		"events/year=2026/month=11/day=25/hour=18/events-00000000000000000001-00000000000000000004.jsonl",
	}
	if !slices.Equal(files, want) {
		t.Fatalf("files %q, want %q", files, want)
	}
	lines := readLines(t, filepath.Join(dir, want[1]))
	wantLines := []string{`{"DeviceID":"a","Time":1,"temperature_measure":20.5}`, `{"DeviceID":"b","Time":2}`, `{"DeviceID":"c"}`, `{"DeviceID":"d","Time":9999999999999}`}
	if !slices.Equal(lines, wantLines) {
		t.Errorf("events:\n%q\nwant\n%q", lines, wantLines)
	}
	var errs []errRecord
	for _, l := range readLines(t, filepath.Join(dir, want[0])) {
		var r errRecord
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatal(err)
		}
		errs = append(errs, r)
	}
	wantErrs := []struct {
		seq, code, raw string
		sub            int
	}{
		{"2", CodeInvalidJSON, "not json", 0}, {"2", CodeMultiLineJSON, "{\"multi\":\n1}", 2},
		{"2", CodeNotJSONObject, "[1,2]", 3}, {"4", CodeMalformedFrame, "\x07garbage", -1},
	}
	if len(errs) != len(wantErrs) {
		t.Fatalf("error records %+v", errs)
	}
	for i, we := range wantErrs {
		raw, _ := base64.StdEncoding.DecodeString(errs[i].RawData)
		if errs[i].SequenceNumber != we.seq || errs[i].ErrorCode != we.code || string(raw) != we.raw || errs[i].SubSequenceNumber != we.sub || errs[i].ErrorMessage == "" {
			t.Errorf("error record %d: %+v (raw %q), want %+v", i, errs[i], raw, we)
		}
	}
	if errs[0].ArrivalTimestamp != t0.Add(time.Second).UnixMilli() {
		t.Errorf("arrivalTimestamp %d", errs[0].ArrivalTimestamp)
	}
}

func TestWriterBuffering(t *testing.T) {
	ev := `{"DeviceID":"a","v":1}`
	t.Run("size", func(t *testing.T) {
		w := newTestWriter(t, t.TempDir(), Options{BufferBytes: 100})
		seq := uint64(1)
		for {
			if err := w.Add(newMsg(seq, t0, ev).Message); err != nil {
				t.Fatal(err)
			}
			due, _ := w.Due()
			_, b := w.Buffered()
			if due != (b >= 100) {
				t.Fatalf("after %d bytes Due = %v", b, due)
			}
			if due {
				break
			}
			seq++
		}
		if seq != uint64((100+len(ev))/(len(ev)+1)) {
			t.Errorf("due after %d messages of %d bytes", seq, len(ev)+1)
		}
	})
	t.Run("messages", func(t *testing.T) {
		w := newTestWriter(t, t.TempDir(), Options{MaxMessages: 3})
		for seq := uint64(1); seq <= 3; seq++ {
			if due, _ := w.Due(); due {
				t.Fatalf("due with %d messages", seq-1)
			}
			w.Add(newMsg(seq, t0, ev).Message)
		}
		if due, _ := w.Due(); !due {
			t.Error("not due with MaxMessages buffered")
		}
	})
	t.Run("interval", func(t *testing.T) {
		w := newTestWriter(t, t.TempDir(), Options{BufferInterval: 200 * time.Millisecond})
		if due, wait := w.Due(); due || wait < time.Minute {
			t.Errorf("empty buffer: due %v, wait %v", due, wait)
		}
		w.Add(newMsg(1, t0, ev).Message)
		due, wait := w.Due()
		if due || wait <= 0 || wait > 200*time.Millisecond {
			t.Fatalf("fresh buffer: due %v, wait %v", due, wait)
		}
		time.Sleep(wait)
		if due, _ := w.Due(); !due {
			t.Error("not due after the interval")
		}
	})
}

func TestWriterPartitionsAndRuns(t *testing.T) {
	dir := t.TempDir()
	w := newTestWriter(t, dir, Options{})
	ev := `{"a":1}`
	for _, m := range []testMsg{
		newMsg(10, t0, ev),
		newMsg(11, t0.Add(10*time.Minute), ev),
		newMsg(12, t0.Add(40*time.Minute), ev), // next hour: a new object
		newMsg(13, t0.Add(41*time.Minute), ev),
		newMsg(20, t0.Add(42*time.Minute), ev), // a gap (another member has 14..19): a new object
		newMsg(5, t0.Add(-time.Minute), ev),    // a redelivery from before
		newMsg(11, t0.Add(10*time.Minute), ev), // redelivered while buffered: not twice
	} {
		if err := w.Add(m.Message); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := lakeFiles(t, dir)
	h18, h19 := "events/year=2026/month=11/day=25/hour=18/", "events/year=2026/month=11/day=25/hour=19/"
	want := []string{
		h18 + "events-00000000000000000005-00000000000000000005.jsonl",
		h18 + "events-00000000000000000010-00000000000000000011.jsonl",
		h19 + "events-00000000000000000012-00000000000000000013.jsonl",
		h19 + "events-00000000000000000020-00000000000000000020.jsonl",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("files\n%q\nwant\n%q", got, want)
	}
	if n := len(readLines(t, filepath.Join(dir, want[1]))); n != 2 {
		t.Errorf("%s has %d lines, want 2", want[1], n)
	}
}

func TestWriterGzip(t *testing.T) {
	dir := t.TempDir()
	w := newTestWriter(t, dir, Options{Compression: CompressionGzip})
	var want []string
	for i := range 1000 {
		ev := fmt.Sprintf(`{"DeviceID":"d%d","watt_measure":%d}`, i%7, i)
		want = append(want, ev)
		w.Add(newMsg(uint64(i+1), t0, ev).Message)
	}
	w.Add(newMsg(1001, t0, "bad").Message)
	if err := w.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	files := lakeFiles(t, dir)
	if len(files) != 2 || !strings.HasSuffix(files[0], ".errors.jsonl.gz") || !strings.HasSuffix(files[1], "-00000000000000001001.jsonl.gz") {
		t.Fatalf("files %q", files)
	}
	if got := readLines(t, filepath.Join(dir, files[1])); !slices.Equal(got, want) {
		t.Errorf("gzip lines differ: %d lines, want %d", len(got), len(want))
	}
	if got := readLines(t, filepath.Join(dir, files[0])); len(got) != 1 {
		t.Errorf("error lines %q", got)
	}
}

// readParquet reads a Parquet file with parquet-go's generic row reader
// (not the writer's code): its columns and types, and its rows as maps.
func readParquet(t *testing.T, path string) (map[string]string, []map[string]any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(b, []byte("PAR1")) || !bytes.HasSuffix(b, []byte("PAR1")) {
		t.Fatalf("%s: no Parquet magic", path)
	}
	f, err := parquet.OpenFile(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	types := map[string]string{}
	names := f.Schema().Columns()
	for _, c := range names {
		leaf, _ := f.Schema().Lookup(c...)
		typ := leaf.Node.Type().String()
		if !leaf.Node.Optional() {
			t.Errorf("column %s is not optional", c)
		}
		types[c[0]] = typ
	}
	r := parquet.NewReader(f)
	defer r.Close()
	var rows []map[string]any
	for {
		row := make(parquet.Row, 0, len(names))
		row, err := readRow(r, row)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]any{}
		for _, v := range row {
			if v.IsNull() {
				continue
			}
			name := names[v.Column()][0]
			switch v.Kind() {
			case parquet.Double:
				m[name] = v.Double()
			case parquet.Boolean:
				m[name] = v.Boolean()
			default:
				m[name] = string(v.ByteArray())
			}
		}
		rows = append(rows, m)
	}
	return types, rows
}

func readRow(r *parquet.Reader, row parquet.Row) (parquet.Row, error) {
	rows := []parquet.Row{row}
	n, err := r.ReadRows(rows)
	if n == 1 {
		return rows[0], nil
	}
	if err == nil {
		err = io.EOF
	}
	return nil, err
}

func TestWriterParquetSchemaEvolves(t *testing.T) {
	dir := t.TempDir()
	w := newTestWriter(t, dir, Options{Format: FormatParquet})
	flush := func() {
		t.Helper()
		if err := w.Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	// Object 1: a number, a string, a bool, a nested object, a null.
	w.Add(newMsg(1, t0, `{"DeviceID":"d1","watt_measure":1.5,"on":true,"loc":{"lat":1},"n":null}`, `{"DeviceID":"d2","watt_measure":2}`).Message)
	w.Add(newMsg(2, t0, `not json`).Message)
	flush()
	// Object 2: a new key, and watt_measure as a string: a type conflict.
	w.Add(newMsg(3, t0, `{"DeviceID":"d3","watt_measure":"high","extra":"x\u00e9"}`, `{"DeviceID":"d4","watt_measure":3.25,"on":false}`).Message)
	flush()
	// Object 3: watt_measure a number again: stays a string.
	w.Add(newMsg(4, t0, `{"DeviceID":"d5","watt_measure":7}`).Message)
	flush()

	files := lakeFiles(t, dir)
	var pq []string
	for _, f := range files {
		if strings.HasSuffix(f, ".parquet") {
			pq = append(pq, f)
		}
	}
	if len(pq) != 3 || len(files) != 4 || !strings.Contains(files[0], "errors/format-conversion-failed/") {
		t.Fatalf("files %q", files)
	}
	tests := []struct {
		types map[string]string
		rows  []map[string]any
	}{
		{
			map[string]string{"DeviceID": "STRING", "watt_measure": "DOUBLE", "on": "BOOLEAN", "loc": "STRING", "n": "STRING"},
			[]map[string]any{{"DeviceID": "d1", "watt_measure": 1.5, "on": true, "loc": `{"lat":1}`}, {"DeviceID": "d2", "watt_measure": 2.0}},
		},
		{
			map[string]string{"DeviceID": "STRING", "watt_measure": "STRING", "on": "BOOLEAN", "loc": "STRING", "n": "STRING", "extra": "STRING"},
			[]map[string]any{{"DeviceID": "d3", "watt_measure": "high", "extra": "xé"}, {"DeviceID": "d4", "watt_measure": "3.25", "on": false}},
		},
		{
			map[string]string{"DeviceID": "STRING", "watt_measure": "STRING", "on": "BOOLEAN", "loc": "STRING", "n": "STRING", "extra": "STRING"},
			[]map[string]any{{"DeviceID": "d5", "watt_measure": "7"}},
		},
	}
	for i, tt := range tests {
		types, rows := readParquet(t, filepath.Join(dir, pq[i]))
		if fmt.Sprint(types) != fmt.Sprint(tt.types) {
			t.Errorf("object %d: columns %v, want %v", i+1, types, tt.types)
		}
		if fmt.Sprint(rows) != fmt.Sprint(tt.rows) {
			t.Errorf("object %d: rows %v, want %v", i+1, rows, tt.rows)
		}
	}
}

// TestWriterRecovery plays crashes at each point of a flush: the writer is
// reopened on the same directory and fed the unacknowledged messages again;
// every event must end up in the lake exactly once.
func TestWriterRecovery(t *testing.T) {
	msgs := func() []testMsg {
		return []testMsg{
			newMsg(1, t0, `{"i":1}`, `bad1`),
			newMsg(2, t0, `{"i":2}`),
			newMsg(3, t0, `{"i":3}`, `bad3`),
		}
	}
	check := func(t *testing.T, dir string) {
		t.Helper()
		var events, errs []string
		for _, f := range lakeFiles(t, dir) {
			if strings.Contains(f, tmpMarker) {
				t.Errorf("temporary file left: %s", f)
				continue
			}
			if strings.HasPrefix(filepath.Base(f), ".") {
				continue
			}
			for _, l := range readLines(t, filepath.Join(dir, f)) {
				if strings.HasPrefix(f, "errors/") {
					var r errRecord
					json.Unmarshal([]byte(l), &r)
					raw, _ := base64.StdEncoding.DecodeString(r.RawData)
					errs = append(errs, string(raw))
				} else {
					events = append(events, l)
				}
			}
		}
		slices.Sort(events)
		slices.Sort(errs)
		if want := []string{`{"i":1}`, `{"i":2}`, `{"i":3}`}; !slices.Equal(events, want) {
			t.Errorf("events %q, want %q", events, want)
		}
		if want := []string{"bad1", "bad3"}; !slices.Equal(errs, want) {
			t.Errorf("errors %q, want %q", errs, want)
		}
	}
	// redeliver reopens the lake and delivers every message again, as the
	// stream does for unacknowledged ones.
	redeliver := func(t *testing.T, dir string, opts Options, wantWrites int) {
		t.Helper()
		w := newTestWriter(t, dir, opts)
		// Objects only: a lazy recovery removes temporary files later.
		objects := func() int {
			n := 0
			for _, f := range lakeFiles(t, dir) {
				if !strings.HasPrefix(path.Base(f), ".") {
					n++
				}
			}
			return n
		}
		before := objects()
		ms := msgs()
		for _, m := range ms {
			w.Add(m.Message)
		}
		if err := w.Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
		for _, m := range ms {
			if m.acks.Load() != 1 {
				t.Errorf("redelivered message %d acked %d times", m.Seq, m.acks.Load())
			}
		}
		if got := objects() - before; got != wantWrites {
			t.Errorf("%d objects written on redelivery, want %d", got, wantWrites)
		}
	}
	first := func(t *testing.T, opts Options) string {
		dir := t.TempDir()
		w := newTestWriter(t, dir, opts)
		for _, m := range msgs() {
			w.Add(m.Message)
		}
		if err := w.Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	// Without a StateDir the open reads the whole lake; with one, each
	// partition as its messages come.
	for _, state := range []bool{false, true} {
		t.Run(fmt.Sprintf("state=%v", state), func(t *testing.T) {
			var opts Options
			if state {
				opts.StateDir = t.TempDir()
			}
			t.Run("after rename before ack", func(t *testing.T) {
				dir := first(t, opts)
				redeliver(t, dir, opts, 0)
				check(t, dir)
			})
			t.Run("after the events object", func(t *testing.T) {
				dir := first(t, opts)
				for _, f := range lakeFiles(t, dir) {
					if strings.HasPrefix(f, "errors/") {
						os.Remove(filepath.Join(dir, f))
					}
				}
				redeliver(t, dir, opts, 1)
				check(t, dir)
			})
			t.Run("after the error object", func(t *testing.T) {
				dir := first(t, opts)
				for _, f := range lakeFiles(t, dir) {
					if strings.HasPrefix(f, "events/") {
						os.Remove(filepath.Join(dir, f))
					}
				}
				redeliver(t, dir, opts, 1)
				check(t, dir)
			})
			t.Run("during a write", func(t *testing.T) {
				dir := first(t, opts)
				for _, f := range lakeFiles(t, dir) {
					// Turn the objects into half-written temporary files.
					p := filepath.Join(dir, f)
					b, _ := os.ReadFile(p)
					os.WriteFile(filepath.Join(filepath.Dir(p), "."+filepath.Base(p)+tmpMarker+"123"), b[:len(b)/2], 0o644)
					os.Remove(p)
				}
				// Someone else's dot file stays.
				other := filepath.Join(dir, "events", ".keep")
				os.WriteFile(other, nil, 0o644)
				redeliver(t, dir, opts, 2)
				check(t, dir)
				if _, err := os.Stat(other); err != nil {
					t.Errorf("a file that is not ours was removed: %v", err)
				}
			})
		})
	}
}

func TestRangeSet(t *testing.T) {
	var s rangeSet
	for _, r := range [][2]uint64{{10, 20}, {30, 40}, {21, 25}, {1, 1}, {26, 29}, {50, 50}} {
		s.add(r[0], r[1])
	}
	want := [][2]uint64{{1, 1}, {10, 40}, {50, 50}}
	if fmt.Sprint(s.r) != fmt.Sprint(want) {
		t.Fatalf("ranges %v, want %v", s.r, want)
	}
	for seq, in := range map[uint64]bool{0: false, 1: true, 2: false, 9: false, 10: true, 33: true, 40: true, 41: false, 50: true, 51: false} {
		if s.contains(seq) != in {
			t.Errorf("contains(%d) = %v", seq, !in)
		}
	}
}

// TestWriterParquetMembers covers what the one-pass member filing must get
// right, read back with parquet-go's generic reader: keys in changing
// order (the per-position key cache), duplicate keys (the last wins, as in
// encoding/json), escaped keys and values, null-only keys (STRING),
// nested values as JSON text, a type conflict inside one object, and
// invalid events between valid ones (their members must not leak into
// the rows or the schema).
func TestWriterParquetMembers(t *testing.T) {
	dir := t.TempDir()
	w := newTestWriter(t, dir, Options{Format: FormatParquet})
	w.Add(newMsg(1, t0,
		`{"a":1,"b":"x","c":true}`,
		`{"c":false,"b":"y","a":2}`,
		`{"a":3,"a":4,"n":null}`,
		`{"bad":1,"a":`,
		`{"k\u0065y":"v\n","a":5}`,
		`{"o":{"p":[1,2]},"mixed":1}`,
		`["not an object"]`,
		`{"mixed":"s","a":6.5e1}`,
	).Message)
	if err := w.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	var pq string
	for _, f := range lakeFiles(t, dir) {
		if strings.HasSuffix(f, ".parquet") {
			pq = f
		}
	}
	types, rows := readParquet(t, filepath.Join(dir, pq))
	wantTypes := map[string]string{"a": "DOUBLE", "b": "STRING", "c": "BOOLEAN", "n": "STRING", "key": "STRING", "o": "STRING", "mixed": "STRING"}
	if fmt.Sprint(types) != fmt.Sprint(wantTypes) {
		t.Errorf("columns %v, want %v", types, wantTypes)
	}
	wantRows := []map[string]any{
		{"a": 1.0, "b": "x", "c": true},
		{"a": 2.0, "b": "y", "c": false},
		{"a": 4.0},
		{"key": "v\n", "a": 5.0},
		{"o": `{"p":[1,2]}`, "mixed": "1"},
		{"mixed": "s", "a": 65.0},
	}
	if fmt.Sprint(rows) != fmt.Sprint(wantRows) {
		t.Errorf("rows\n%v\nwant\n%v", rows, wantRows)
	}
}

// TestWriterTrustsJSONLine: a record marked JSONLine (ingest checked it) is
// written as it is (without being checked again); unmarked records are
// checked.
func TestWriterTrustsJSONLine(t *testing.T) {
	dir := t.TempDir()
	w := newTestWriter(t, dir, Options{})
	recs := []stream.Record{
		{Key: "k", Data: []byte(`{"DeviceID":"a"}`), JSONLine: true},
		{Key: "k", Data: []byte(`{"DeviceID":"b"`)},
	}
	m := rawMsg(1, t0, stream.AppendFrame(nil, recs))
	if err := w.Add(m.Message); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	files := lakeFiles(t, dir)
	if len(files) != 2 {
		t.Fatalf("files %q", files)
	}
	if lines, want := readLines(t, filepath.Join(dir, files[1])), []string{`{"DeviceID":"a"}`}; !slices.Equal(lines, want) {
		t.Errorf("events %q, want %q", lines, want)
	}
	if lines := readLines(t, filepath.Join(dir, files[0])); len(lines) != 1 || !strings.Contains(lines[0], CodeInvalidJSON) {
		t.Errorf("error records %q, want one %s", lines, CodeInvalidJSON)
	}
}

// TestWriterIncarnation: a stream deleted and created again restarts its
// sequences; objects of its earlier life must not make the new events look
// delivered, while objects of the same life, and objects named before
// names carried lives that are younger than the stream, still do.
func TestWriterIncarnation(t *testing.T) {
	dir := t.TempDir()
	deliver := func(created time.Time, ev string) {
		t.Helper()
		w := newTestWriter(t, dir, Options{StreamCreated: created})
		if err := w.Add(newMsg(1, t0, ev).Message); err != nil {
			t.Fatal(err)
		}
		if err := w.Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
	life1 := time.Now().Add(-time.Hour)
	life2 := time.Now().Add(time.Minute) // created again after the old lake's files
	deliver(time.Time{}, `{"life":1}`)   // an old lake: names without a life
	deliver(life1, `{"life":1}`)         // a redelivery after upgrading: skipped
	deliver(life2, `{"life":2}`)         // the stream was created again: delivered
	deliver(life2, `{"life":2}`)         // its redelivery: skipped
	h18 := "events/year=2026/month=11/day=25/hour=18/"
	want := []string{
		h18 + "events-00000000000000000001-00000000000000000001.jsonl",
		h18 + "events-" + strconv.FormatInt(life2.UnixNano(), 36) + "-00000000000000000001-00000000000000000001.jsonl",
	}
	if got := lakeFiles(t, dir); !slices.Equal(got, want) {
		t.Fatalf("files\n%q\nwant\n%q", got, want)
	}
	if got := readLines(t, filepath.Join(dir, want[1])); !slices.Equal(got, []string{`{"life":2}`}) {
		t.Errorf("second life's object holds %q", got)
	}
	deliver(life1, `{"life":1}`) // life 1 again (a test only): its legacy object still counts
	if got := lakeFiles(t, dir); len(got) != 2 {
		t.Errorf("files %q", got)
	}
}
