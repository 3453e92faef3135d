package lake

import (
	"context"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// recoveryMsgs are messages in two minutes of one hour and in the next
// hour, some with events that go to the error output.
func recoveryMsgs() []testMsg {
	return []testMsg{
		newMsg(1, t0, `{"i":1}`, `bad1`),
		newMsg(2, t0.Add(time.Minute), `{"i":2}`),
		newMsg(3, t0.Add(time.Minute+time.Second), `{"i":3}`, `bad3`),
		newMsg(4, t0.Add(time.Hour), `{"i":4}`),
		newMsg(5, t0.Add(time.Hour), `bad5`),
	}
}

// writeAll writes msgs with a writer of opts and returns the objects.
func writeAll(t *testing.T, dir string, opts Options, msgs []testMsg) []string {
	t.Helper()
	w := newTestWriter(t, dir, opts)
	for _, m := range msgs {
		if err := w.Add(m.Message); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	w.Close()
	return objectFiles(t, dir)
}

// objectFiles lists the files under dir that are not hidden.
func objectFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	for _, f := range lakeFiles(t, dir) {
		if !strings.HasPrefix(path.Base(f), ".") {
			out = append(out, f)
		}
	}
	return out
}

// TestWriterRecoveryLayouts writes messages under one configuration,
// crashes (objects renamed but not acknowledged, or temporary files of a
// write in progress), and redelivers every message to a writer of another
// configuration with the same StateDir: every event must be in the lake
// exactly once, and no temporary file left.
func TestWriterRecoveryLayouts(t *testing.T) {
	tests := []struct {
		name         string
		before, then Options
		noState      bool // the first writer ran without StateDir (a lake from before it)
	}{
		{name: "same"},
		{name: "from before StateDir", noState: true},
		{name: "prefix changed",
			before: Options{Prefix: "raw/!{timestamp:yyyy}/!{timestamp:MM}/!{timestamp:dd}/!{timestamp:HH}/",
				ErrorPrefix: "bad/!{timestamp:yyyy-MM-dd}/!{firehose:error-output-type}/"}},
		{name: "finer partitions before", // two directories under one key of the new prefix
			before: Options{Prefix: "events/!{timestamp:yyyy/MM/dd/HH/mm}/"}},
		{name: "format changed", // the error output type names a directory
			before: Options{Format: FormatParquet}},
		{name: "file name tails", // the prefix goes on in the file name
			before: Options{Prefix: "events/!{timestamp:yyyy-MM-dd}/part-!{timestamp:H}-", ErrorPrefix: "errors/!{timestamp:yyyy}/!{firehose:error-output-type}-"},
			then:   Options{Prefix: "events/!{timestamp:yyyy-MM-dd}/part-!{timestamp:H}-", ErrorPrefix: "errors/!{timestamp:yyyy}/!{firehose:error-output-type}-"}},
		{name: "random string in the file name",
			before: Options{Prefix: "events/!{timestamp:yyyy/MM/dd/HH}/!{firehose:random-string}-"},
			then:   Options{Prefix: "events/!{timestamp:yyyy/MM/dd/HH}/!{firehose:random-string}-"}},
		{name: "random string in a directory", // directories cannot be computed: the whole lake is read
			before: Options{Prefix: "events/!{firehose:random-string}/!{timestamp:yyyy/MM/dd/HH}/"},
			then:   Options{Prefix: "events/!{firehose:random-string}/!{timestamp:yyyy/MM/dd/HH}/"}},
	}
	for _, tt := range tests {
		for _, crash := range []string{"after rename", "during write"} {
			t.Run(tt.name+"/"+crash, func(t *testing.T) {
				dir, state := t.TempDir(), t.TempDir()
				before := tt.before
				if !tt.noState {
					before.StateDir = state
				}
				objects := writeAll(t, dir, before, recoveryMsgs())
				if len(objects) < 3 {
					t.Fatalf("objects %q: want at least 3", objects)
				}
				if crash == "during write" {
					for _, f := range objects {
						p := filepath.Join(dir, filepath.FromSlash(f))
						b, _ := os.ReadFile(p)
						os.WriteFile(filepath.Join(filepath.Dir(p), "."+filepath.Base(p)+tmpMarker+"123"), b[:len(b)/2], 0o644)
						os.Remove(p)
					}
				}
				// Objects written again under the same name would be new
				// files.
				stats := map[string]os.FileInfo{}
				for _, f := range objects {
					if fi, err := os.Stat(filepath.Join(dir, filepath.FromSlash(f))); err == nil {
						stats[f] = fi
					}
				}
				then := tt.then
				then.StateDir = state
				w := newTestWriter(t, dir, then)
				ms := recoveryMsgs()
				for _, m := range ms {
					if err := w.Add(m.Message); err != nil {
						t.Fatal(err)
					}
				}
				if err := w.Flush(context.Background()); err != nil {
					t.Fatal(err)
				}
				for _, m := range ms {
					if m.acks.Load() != 1 {
						t.Errorf("message %d acked %d times", m.Seq, m.acks.Load())
					}
				}
				got := objectFiles(t, dir)
				if crash == "after rename" {
					if !slices.Equal(got, objects) {
						t.Errorf("objects after redelivery\n%q\nwant\n%q", got, objects)
					}
					for f, before := range stats {
						if fi, err := os.Stat(filepath.Join(dir, filepath.FromSlash(f))); err != nil || !os.SameFile(fi, before) {
							t.Errorf("%s written again", f)
						}
					}
				}
				for _, f := range lakeFiles(t, dir) {
					if strings.Contains(f, tmpMarker) {
						t.Errorf("temporary file left: %s", f)
					}
				}
				if then.Format != FormatParquet && before.Format != FormatParquet {
					checkEventsOnce(t, dir, 5)
				}
			})
		}
	}
}

// checkEventsOnce checks that the JSON Lines objects under dir hold the
// events {"i":1}..{"i":n} (those that are JSON objects) once each.
func checkEventsOnce(t *testing.T, dir string, n int) {
	t.Helper()
	seen := map[string]int{}
	for _, f := range objectFiles(t, dir) {
		if strings.HasSuffix(f, ".errors.jsonl") {
			continue
		}
		for _, l := range readLines(t, filepath.Join(dir, filepath.FromSlash(f))) {
			seen[l]++
		}
	}
	for l, c := range seen {
		if c != 1 {
			t.Errorf("event %s %d times in the lake", l, c)
		}
	}
	if len(seen) != n-1 { // one message has only a bad event
		t.Errorf("%d distinct events in the lake, want %d", len(seen), n-1)
	}
}

// TestWriterRecoveryReadsOnlyDeliveredPartitions checks the point of
// StateDir: opening reads no object names, and a delivered message makes
// the writer read its partition's directories only.
func TestWriterRecoveryReadsOnlyDeliveredPartitions(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	opts := Options{StateDir: state}
	writeAll(t, dir, opts, recoveryMsgs())
	w := newTestWriter(t, dir, opts)
	if !w.lazy || len(w.covered[outEvents].r)+len(w.covered[outErrors].r) != 0 || len(w.scanned) != 0 {
		t.Fatalf("open read the lake: lazy %v, covered %v, directories %v", w.lazy, w.covered, w.scanned)
	}
	m := newMsg(4, t0.Add(time.Hour), `{"i":4}`)
	if err := w.Add(m.Message); err != nil {
		t.Fatal(err)
	}
	if _, bytes := w.Buffered(); bytes != 0 {
		t.Errorf("the events of a delivered message were buffered again")
	}
	var dirs []string
	for d := range w.scanned {
		dirs = append(dirs, d)
	}
	slices.Sort(dirs)
	want := []string{
		"errors/format-conversion-failed/year=2026/month=11/day=25/hour=19/",
		"errors/processing-failed/year=2026/month=11/day=25/hour=19/",
		"events/year=2026/month=11/day=25/hour=19/",
	}
	if !slices.Equal(dirs, want) {
		t.Errorf("directories read\n%q\nwant\n%q", dirs, want)
	}
	// (Both objects of the hour hold 4..5, one of them an event only.)
	for out := range w.covered {
		if got := w.covered[out].r; !slices.Equal(got, [][2]uint64{{4, 5}}) {
			t.Errorf("covered %s %v, want only the read partition's [[4 5]]", outputName(out), got)
		}
	}
}

// TestWriterLayoutFile checks when the open reads the whole lake, and
// that the layout file keeps every prefix.
func TestWriterLayoutFile(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	file := filepath.Join(state, layoutFileName("events"))
	open := func(opts Options) *Writer {
		t.Helper()
		opts.StateDir = state
		w := newTestWriter(t, dir, opts)
		w.Close()
		return w
	}
	if w := open(Options{}); w.lazy {
		t.Error("first open of a lake did not read it")
	}
	if w := open(Options{}); !w.lazy {
		t.Error("second open read the whole lake")
	}
	other := Options{Prefix: "raw/!{timestamp:yyyy/MM/dd/HH}/"}
	if w := open(other); !w.lazy || len(w.layouts) != 2 {
		t.Errorf("open with a new prefix: lazy %v, %d layouts, want true, 2", w.lazy, len(w.layouts))
	}
	if w := open(Options{}); !w.lazy || len(w.layouts) != 2 {
		t.Errorf("open with the first prefix again: lazy %v, %d layouts, want true, 2", w.lazy, len(w.layouts))
	}
	os.WriteFile(file, []byte("{not json"), 0o644)
	if w := open(Options{}); w.lazy {
		t.Error("open with a damaged layout file did not read the whole lake")
	}
	if w := open(Options{}); !w.lazy || len(w.layouts) != 1 {
		t.Errorf("open after the damaged file was rewritten: lazy %v, %d layouts", w.lazy, len(w.layouts))
	}
	// The same state directory for another lake root says nothing of it.
	w, err := NewWriter(Options{Dir: t.TempDir(), StateDir: state}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if w.lazy {
		t.Error("open of another root with this root's layout file did not read it")
	}
	// A random string before the last '/': directories cannot be computed.
	random := Options{Prefix: "events/!{firehose:random-string}/!{timestamp:HH}/"}
	for range 2 {
		if w := open(random); w.lazy {
			t.Error("open with a random directory did not read the whole lake")
		}
	}
}

// FuzzParseName checks that object names parse back to what the writer
// named, with and without a life and a file name tail, and that no name
// makes parseName fail badly.
func FuzzParseName(f *testing.F) {
	f.Add("events", "", uint64(1), uint64(2), false, "events-00000000000000000001-00000000000000000002.jsonl")
	f.Add("events", "part-7-", uint64(0), uint64(0), true, "part-7-events-dn5irvjjmhra-00000000000000000000-00000000000000000000.errors.jsonl.gz")
	f.Add("a-b", "x-", uint64(5), uint64(1<<63), false, ".a-b-0-00000000000000000005.parquet.tmp-1")
	f.Fuzz(func(t *testing.T, streamName, tail string, first, last uint64, errs bool, name string) {
		if streamName == "" || strings.ContainsAny(streamName, "/\\") || first > last {
			return
		}
		prefix := "events/" + strings.ReplaceAll(strings.ReplaceAll(tail, "!", ""), "/", "")
		if _, err := ParsePrefix(prefix, false); err != nil {
			return
		}
		prefix += "!{timestamp:yyyy}" // no default suffix appended
		for _, created := range []time.Time{{}, t0} {
			w, err := NewWriter(Options{Dir: t.TempDir(), Stream: streamName, Prefix: prefix, StreamCreated: created}, nil, nil)
			if err != nil {
				return
			}
			out := outEvents
			if errs {
				out = outErrors
			}
			tailNow := path.Base(w.prefixes[out].Eval(t0, w.errType))
			if out == outErrors {
				tailNow = ""
			}
			objName := tailNow + w.objectName(out, first, last)
			gotOut, inc, f1, l1, ok := w.parseName(objName)
			if !ok || gotOut != out || inc != w.inc || f1 != first || l1 != last {
				t.Errorf("parseName(%q) = %v %q %d %d %v, want %v %q %d %d", objName, gotOut, inc, f1, l1, ok, out, w.inc, first, last)
			}
			if _, _, f2, l2, ok := w.parseName(name); ok && f2 > l2 {
				t.Errorf("parseName(%q): first %d > last %d", name, f2, l2)
			}
		}
	})
}
