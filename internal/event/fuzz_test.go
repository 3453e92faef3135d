package event_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluice-dev/sluice/internal/event"
	"github.com/sluice-dev/sluice/internal/stream"
	"github.com/sluice-dev/sluice/internal/tsdb"
)

// addTestdataSeeds adds every input of the datadriven files to f's corpus.
func addTestdataSeeds(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.txt")
	for _, path := range files {
		b, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		lines := strings.Split(string(b), "\n")
		for i, l := range lines {
			if (strings.HasPrefix(l, "map") || strings.HasPrefix(l, "decode")) && i+1 < len(lines) && lines[i+1] != "----" {
				f.Add([]byte(lines[i+1]))
			}
		}
	}
	f.Add([]byte(seedEvent))
}

// jsonFlat decodes data with encoding/json (UseNumber). ok reports whether
// encoding/json accepts it; obj is non-nil if it is an object; flat whether
// no value is an object or array.
func jsonFlat(data []byte) (obj map[string]any, ok, flat bool) {
	if !json.Valid(data) {
		return nil, false, false
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, false, false
	}
	obj, _ = v.(map[string]any)
	if obj == nil {
		return nil, true, false
	}
	// Flatness from the token stream: the map keeps only the last of
	// duplicate keys, which may hide a nested value ({"a":{},"a":0}).
	toks := json.NewDecoder(bytes.NewReader(data))
	depth := 0
	for {
		tok, err := toks.Token()
		if err != nil {
			break
		}
		if d, ok := tok.(json.Delim); ok {
			if d == '{' || d == '[' {
				depth++
				if depth > 1 {
					return obj, true, false
				}
			} else {
				depth--
			}
		}
	}
	return obj, true, true
}

// FuzzMap checks that Map never panics and agrees with encoding/json: what
// encoding/json rejects, Decode and Map reject; every flat object that
// encoding/json accepts, Decode accepts with the same keys and values; and
// what Map makes of an event matches encoding/json's reading of it.
//
//	go test ./internal/event -run '^$' -fuzz FuzzMap -fuzztime 60s
func FuzzMap(f *testing.F) {
	addTestdataSeeds(f)
	arrival := time.Unix(0, 1609757175225499000)
	single, _ := event.NewMapper(event.Options{})
	multi, _ := event.NewMapper(event.Options{Mode: event.Multi})
	f.Fuzz(func(t *testing.T, data []byte) {
		obj, jsonOK, flat := jsonFlat(data)
		fields, decErr := event.Decode(nil, data)
		recs, corr, mapErr := single.Map(nil, data, arrival, nil)
		mrecs, _, multiErr := multi.Map(nil, data, arrival, nil)
		if !jsonOK {
			if decErr == nil || mapErr == nil || multiErr == nil {
				t.Fatalf("encoding/json rejects %q but Decode (%v) / Map (%v) / multi (%v) accept it", data, decErr, mapErr, multiErr)
			}
			return
		}
		if flat != (decErr == nil) {
			t.Fatalf("encoding/json flat object=%v, Decode error %v, input %q", flat, decErr, data)
		}
		if decErr != nil {
			if mapErr == nil {
				t.Fatalf("Decode fails (%v) but Map succeeds on %q", decErr, data)
			}
			return
		}
		// Same keys and values (the last duplicate wins in encoding/json).
		got := map[string]any{}
		for _, fl := range fields {
			switch fl.Kind {
			case event.KindString:
				got[string(fl.Key)] = string(fl.Value)
			case event.KindNumber:
				got[string(fl.Key)] = json.Number(fl.Value)
			case event.KindBool:
				got[string(fl.Key)] = string(fl.Value) == "true"
			case event.KindNull:
				got[string(fl.Key)] = nil
			}
		}
		if len(got) != len(obj) {
			t.Fatalf("Decode found %d distinct keys, encoding/json %d: %q", len(got), len(obj), data)
		}
		for k, v := range obj {
			if gv, ok := got[k]; !ok || gv != v {
				t.Fatalf("key %q: Decode %#v, encoding/json %#v", k, gv, v)
			}
		}
		if mapErr != nil {
			// Multi mode has every rule of single mode and one more.
			if multiErr == nil {
				t.Fatalf("single mode fails (%v) but multi succeeds on %q", mapErr, data)
			}
			return
		}
		checkRecords(t, data, obj, recs, corr, arrival)
		if multiErr == nil {
			if len(mrecs) != 1 || len(mrecs[0].Multi) != len(recs) {
				t.Fatalf("multi: %d records with %d measures, single: %d records", len(mrecs), len(mrecs[0].Multi), len(recs))
			}
			for i, mv := range mrecs[0].Multi {
				if mv.Name != recs[i].MeasureName || !mv.Value.Equal(recs[i].Value) {
					t.Fatalf("multi measure %d = %v, single record %v", i, mv, recs[i])
				}
			}
		}
	})
}

// checkRecords compares Map's single-mode records with encoding/json's
// reading of the event, applying the rules independently.
func checkRecords(t *testing.T, data []byte, obj map[string]any, recs []tsdb.Record, corr *event.Correction, arrival time.Time) {
	t.Helper()
	wantDims := map[string]string{}
	wantMeas := map[string]any{}
	for k, v := range obj {
		lk := strings.ToLower(k)
		switch {
		case strings.HasSuffix(lk, "_measure"):
			wantMeas[k[:len(k)-len("_measure")]] = v
		case lk == "time" || lk == "timeunit":
		default:
			switch x := v.(type) {
			case string:
				wantDims[k] = x
			case json.Number:
				wantDims[k] = string(x)
			case bool:
				wantDims[k] = strconv.FormatBool(x)
			default:
				t.Fatalf("Map accepted dimension %q = %#v in %q", k, v, data)
			}
		}
	}
	if len(recs) != len(wantMeas) {
		t.Fatalf("%d records, want %d measures: %q", len(recs), len(wantMeas), data)
	}
	for i, r := range recs {
		if i > 0 && recs[i-1].MeasureName >= r.MeasureName {
			t.Fatalf("records not sorted by measure name: %q", data)
		}
		if r.Time != recs[0].Time {
			t.Fatalf("records of one event have different times")
		}
		if len(r.Dimensions) != len(wantDims) {
			t.Fatalf("%d dimensions, want %d: %q", len(r.Dimensions), len(wantDims), data)
		}
		for j, d := range r.Dimensions {
			if j > 0 && r.Dimensions[j-1].Name >= d.Name {
				t.Fatalf("dimensions not sorted: %q", data)
			}
			if w, ok := wantDims[d.Name]; !ok || w != d.Value {
				t.Fatalf("dimension %q = %q, want %q (present %v)", d.Name, d.Value, w, ok)
			}
		}
		v, ok := wantMeas[r.MeasureName]
		if !ok {
			t.Fatalf("measure %q not in the event", r.MeasureName)
		}
		switch x := v.(type) {
		case json.Number:
			f, err := strconv.ParseFloat(string(x), 64)
			if err != nil || r.Value.Type.String() != "DOUBLE" || math.Float64bits(f) != math.Float64bits(r.Value.F) {
				t.Fatalf("measure %q = %v, want DOUBLE %s", r.MeasureName, r.Value, x)
			}
		case bool:
			if r.Value.Type.String() != "BOOLEAN" || r.Value.B != x {
				t.Fatalf("measure %q = %v, want BOOLEAN %v", r.MeasureName, r.Value, x)
			}
		case string:
			switch r.Value.Type.String() {
			case "VARCHAR":
				if r.Value.S != x {
					t.Fatalf("measure %q = %q, want %q", r.MeasureName, r.Value.S, x)
				}
			case "DOUBLE":
				f, err := strconv.ParseFloat(x, 64)
				if err != nil || f != r.Value.F {
					t.Fatalf("measure %q = %v from string %q", r.MeasureName, r.Value.F, x)
				}
			default:
				t.Fatalf("measure %q has type %v from a string", r.MeasureName, r.Value.Type)
			}
		default:
			t.Fatalf("Map accepted measure %q = %#v", r.MeasureName, v)
		}
	}
	if r := recs[0]; r.Time < 0 || (r.Time > arrival.UnixNano()+int64(event.DefaultFuture)) {
		t.Fatalf("time %d out of range", r.Time)
	}
	if corr != nil && (corr.Corrected != recs[0].Time || corr.Original-corr.Corrected <= int64(event.DefaultFuture)) {
		t.Fatalf("bad correction %+v", corr)
	}
}

// TestDecodeSpecialAtEveryOffset puts each kind of special byte at every
// offset of a string, to exercise the 8-bytes-at-a-time scan's edges, and
// compares with encoding/json.
func TestDecodeSpecialAtEveryOffset(t *testing.T) {
	specials := []string{`\n`, `\"`, `\\`, `\u00e9`, "\x01", "\x1f", "\x7f", "é", "\xff", "\xc3", "😀", "\xed\xa0\x80", " ", "~"}
	for _, sp := range specials {
		for off := range 20 {
			for _, tail := range []int{0, 1, 7, 8, 9} {
				val := strings.Repeat("a", off) + sp + strings.Repeat("b", tail)
				data := []byte(`{"k` + val + `": "` + val + `"}`)
				obj, ok, _ := jsonFlat(data)
				fields, err := event.Decode(nil, data)
				if ok != (err == nil) {
					t.Fatalf("%q: encoding/json ok=%v, Decode %v", data, ok, err)
				}
				if !ok {
					continue
				}
				for k, v := range obj {
					if len(fields) != 1 || string(fields[0].Key) != k || string(fields[0].Value) != v.(string) {
						t.Fatalf("%q: Decode %q=%q, encoding/json %q=%q", data, fields[0].Key, fields[0].Value, k, v)
					}
				}
			}
		}
	}
}

// mapResult renders what Map made of an event, for comparing mappers.
func mapResult(recs []tsdb.Record, corr *event.Correction, err error) string {
	if err != nil {
		return "error: " + err.Error()
	}
	var b strings.Builder
	for _, r := range recs {
		fmt.Fprintf(&b, "%v %q %d %v %v\n", r.Dimensions, r.MeasureName, r.Time, r.Value, r.Multi)
	}
	if corr != nil {
		fmt.Fprintf(&b, "corr %v %d %d\n", corr.Dimensions, corr.Original, corr.Corrected)
	}
	return b.String()
}

// FuzzMapShape checks that what a Mapper learnt from the event before
// (the keys of the last event it mapped) never changes what it makes of
// the next: mapping b after a gives what a fresh Mapper makes of b, in
// both modes, with and without extra attributes. The seeds include pairs
// of events with the same keys and values the shortcut must not take.
//
//	go test ./internal/event -run '^$' -fuzz FuzzMapShape -fuzztime 60s
func FuzzMapShape(f *testing.F) {
	same := []string{
		`{"DeviceID": "a", "Time": 5, "x_measure": 1, "y_measure": "s"}`,
		`{"DeviceID": null, "Time": 5, "x_measure": 1, "y_measure": "s"}`,
		`{"DeviceID": "a", "Time": "x", "x_measure": 1, "y_measure": "s"}`,
		`{"DeviceID": "a", "Time": 5, "x_measure": null, "y_measure": "s"}`,
		`{"DeviceID": "a", "Time": 5, "x_measure": 1e999, "y_measure": "s"}`,
		`{"DeviceID": "a", "Time": 5, "x_measure": "2.5", "y_measure": true}`,
		`{"DeviceID": 7, "Time": 1e3, "x_measure": 1, "y_measure": "` + strings.Repeat("v", 2049) + `"}`,
		`{"DeviceID": "` + strings.Repeat("d", 2049) + `", "Time": 5, "x_measure": 1, "y_measure": "s"}`,
		`{"DeviceID": "a", "Time": 99999999999999999, "x_measure": 1, "y_measure": "s"}`,
		`{"DeviceID": "a", "Time": 1609757175225, "TimeUnit": "s", "x_measure": 1, "y_measure": "s"}`,
		`{"DeviceID": "a", "Time": 1609757175225, "TimeUnit": "bad", "x_measure": 1, "y_measure": "s"}`,
		// Same keys, sent otherwise (for Decoder.decodeKeys).
		` { "DeviceID" : "a" ,"Time":5 , "x_measure" :1, "y_measure":"s"}` + "\n",
		`{"DeviceID": "a", "Time": 5, "x_measure": 1, "y_measure": "s"} x`,
		`{"Device\u0049D": "a", "Time": 5, "x_measure": 1, "y_measure": "s"}`,
		`{"DeviceID": "a", "Time": 5, "x_measure": 1, "y_measure": {"s": 1}}`,
		`{"DeviceID": "a\t\u00e9", "Time": 5, "x_measure": 1, "y_measure": "s\n"}`,
		`{"DeviceID": "a", "Time": 5, "x_measure": 1, "y_measure": "s"`,
		`{"DeviceID": "a", "Time": 5, "x_measure": 1, "y_measure": "s", "z": 1}`,
		`{"DeviceID": "a", "Time": 5, "x_measure": 1}`,
		`{"DeviceID": "a", "Time": 5, "x_measure": -, "y_measure": "s"}`,
		`{"DeviceID": "a", "Time": 5, "x_measure": tru, "y_measure": "s"}`,
	}
	for _, a := range same {
		for _, b := range same {
			f.Add([]byte(a), []byte(b), uint8(0))
			f.Add([]byte(a), []byte(b), uint8(3))
		}
	}
	f.Add([]byte(seedEvent), []byte(seedEvent), uint8(1))
	f.Add([]byte(`{"metrics_measure": 1, "x": "1"}`), []byte(`{"metrics_measure": 1, "x": "1"}`), uint8(2))
	arrival := time.Unix(0, 1609757175225499000)
	f.Fuzz(func(t *testing.T, a, b []byte, opt uint8) {
		opts := event.Options{}
		if opt&1 != 0 {
			opts.Mode = event.Multi
			if opt&4 != 0 {
				opts.MultiMeasureName = "x"
			}
		}
		var extra []stream.Attr
		if opt&2 != 0 {
			extra = []stream.Attr{{Name: "DeviceID", Value: "topic"}, {Name: "gw", Value: strings.Repeat("g", int(opt>>3)*300)}}
		}
		warm, _ := event.NewMapper(opts)
		fresh, _ := event.NewMapper(opts)
		warm.Map(nil, a, arrival, extra)
		warm.Map(nil, a, arrival, extra) // and once more: the shape path
		recs, dims, corr, err := warm.MapInto(nil, make([]tsdb.Dimension, 1, 4), b, arrival, extra)
		got := mapResult(recs, corr, err)
		if want := mapResult(fresh.Map(nil, b, arrival, extra)); got != want {
			t.Fatalf("after %q, %q maps to\n%s\nfresh mapper:\n%s", a, b, got, want)
		}
		if err == nil && len(recs) > 0 && len(recs[0].Dimensions) > 0 && &dims[1] != &recs[0].Dimensions[0] {
			t.Fatalf("dimensions not in the arena after its first element")
		}
	})
}
