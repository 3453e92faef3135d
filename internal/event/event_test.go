package event_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sluice-dev/sluice/internal/event"
	"github.com/sluice-dev/sluice/internal/stream"
	"github.com/sluice-dev/sluice/internal/tsdb"
)

const seedEvent = `{"Time": 1609757175225.499, "DeviceID": "12345678-9012-3456-7890-123456789012", "temperature_measure": 11.2, "humidity_measure": 33.4, "voltage_measure": 55.6, "watt_measure": 777.8}`

// buildEvent makes an event with n dimensions d0..d(n-1) and m measures.
func buildEvent(nDims, nMeas int, mutate func(b *strings.Builder)) string {
	var b strings.Builder
	b.WriteString(`{"time": 1609757175225`)
	for i := range nDims {
		fmt.Fprintf(&b, `, "d%d": "v"`, i)
	}
	for i := range nMeas {
		fmt.Fprintf(&b, `, "m%d_measure": %d`, i, i)
	}
	if mutate != nil {
		mutate(&b)
	}
	b.WriteString("}")
	return b.String()
}

func TestLimits(t *testing.T) {
	long := func(n int) string { return strings.Repeat("x", n) }
	extra := func(n int) []stream.Attr {
		var a []stream.Attr
		for i := range n {
			a = append(a, stream.Attr{Name: fmt.Sprintf("e%d", i), Value: "v"})
		}
		return a
	}
	cases := []struct {
		name    string
		event   string
		extra   []stream.Attr
		wantErr string // empty: must succeed
	}{
		{"128 dimensions", buildEvent(128, 1, nil), nil, ""},
		{"129 dimensions", buildEvent(129, 1, nil), nil, "more than 128 dimensions"},
		{"128 with extras", buildEvent(100, 1, nil), extra(28), ""},
		{"129 with extras", buildEvent(100, 1, nil), extra(29), "129 dimensions (100 in the event), limit is 128"},
		{"256 measures", buildEvent(1, 256, nil), nil, ""},
		{"257 measures", buildEvent(1, 257, nil), nil, "more than 256 measures"},
		{"measure name 256", buildEvent(1, 0, func(b *strings.Builder) { fmt.Fprintf(b, `, "%s_measure": 1`, long(256)) }), nil, ""},
		{"measure name 257", buildEvent(1, 0, func(b *strings.Builder) { fmt.Fprintf(b, `, "%s_measure": 1`, long(257)) }), nil, "measure name is 257 bytes, limit is 256"},
		{"dimension value 2048", buildEvent(0, 1, func(b *strings.Builder) { fmt.Fprintf(b, `, "d": "%s"`, long(2048)) }), nil, ""},
		{"dimension value 2049", buildEvent(0, 1, func(b *strings.Builder) { fmt.Fprintf(b, `, "d": "%s"`, long(2049)) }), nil, "dimension value is 2049 bytes, limit is 2048"},
		{"varchar 2048", buildEvent(0, 1, func(b *strings.Builder) { fmt.Fprintf(b, `, "s_measure": "%s"`, long(2048)) }), nil, ""},
		{"varchar 2049", buildEvent(0, 1, func(b *strings.Builder) { fmt.Fprintf(b, `, "s_measure": "%s"`, long(2049)) }), nil, "measure value is 2049 bytes, limit is 2048"},
		{"escaped value counts unescaped bytes", buildEvent(0, 1, func(b *strings.Builder) {
			fmt.Fprintf(b, `, "d": "%s"`, strings.Repeat(`\u0041`, 2048))
		}), nil, ""},
		{"extra name 61", buildEvent(0, 1, nil), []stream.Attr{{Name: long(61), Value: "v"}}, "dimension name is 61 bytes"},
		{"extra value 2049", buildEvent(0, 1, nil), []stream.Attr{{Name: "e", Value: long(2049)}}, "dimension value is 2049 bytes"},
		{"extra empty name", buildEvent(0, 1, nil), []stream.Attr{{Name: "", Value: "v"}}, "empty dimension name"},
		{"long key shortened in error", buildEvent(0, 1, func(b *strings.Builder) { fmt.Fprintf(b, `, "%s": null`, long(5000)) }), nil, "…\": dimension value is null"},
	}
	m, err := event.NewMapper(event.Options{})
	if err != nil {
		t.Fatal(err)
	}
	arrival := time.Unix(0, 1609757175225000000)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			recs, _, err := m.Map(nil, []byte(c.event), arrival, c.extra)
			if c.wantErr == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				if len(recs) == 0 {
					t.Fatal("no records")
				}
				return
			}
			if err == nil {
				t.Fatalf("no error, want %q", c.wantErr)
			}
			if !strings.Contains(err.Error(), c.wantErr) {
				t.Fatalf("error %q does not contain %q", err, c.wantErr)
			}
			if len(err.Error()) > 600 {
				t.Fatalf("error message is %d bytes, too long for a dead letter reason", len(err.Error()))
			}
			var e *event.Error
			if !errors.As(err, &e) {
				t.Fatalf("error %T is not *event.Error", err)
			}
		})
	}
}

func TestMapAppendsAndKeepsDst(t *testing.T) {
	m, err := event.NewMapper(event.Options{})
	if err != nil {
		t.Fatal(err)
	}
	arrival := time.Unix(0, 1609757175225499000)
	sentinel := tsdb.Record{MeasureName: "existing"}
	dst := []tsdb.Record{sentinel}
	dst, _, err = m.Map(dst, []byte(seedEvent), arrival, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(dst) != 5 || dst[0].MeasureName != "existing" {
		t.Fatalf("got %d records, first %q", len(dst), dst[0].MeasureName)
	}
	// An error leaves dst as it was.
	before := len(dst)
	dst2, corr, err := m.Map(dst, []byte(`{"a_measure": null}`), arrival, nil)
	if err == nil || len(dst2) != before || corr != nil {
		t.Fatalf("error case: len %d (want %d), corr %v, err %v", len(dst2), before, corr, err)
	}
	// Records stay valid after the Mapper's buffers are reused: nothing
	// aliases the input or the scratch space.
	input := []byte(`{"Time": 1, "DeviceID": "d\u00e9vice", "s_measure": "text\n", "x_measure": 1}`)
	recs, _, err := m.Map(nil, input, arrival, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range input {
		input[i] = 'Z'
	}
	for range 3 {
		if _, _, err := m.Map(nil, []byte(`{"DeviceID": "other\u0041", "s_measure": "other\t", "x_measure": 2}`), arrival, nil); err != nil {
			t.Fatal(err)
		}
	}
	if got := recs[0].Dimensions[0].Value; got != "dévice" {
		t.Fatalf("dimension value changed to %q", got)
	}
	if got := recs[0].Value.S; got != "text\n" {
		t.Fatalf("VARCHAR value changed to %q", got)
	}
}

func TestMapRecordsShareDimensions(t *testing.T) {
	m, _ := event.NewMapper(event.Options{})
	recs, _, err := m.Map(nil, []byte(seedEvent), time.Unix(0, 1609757175225499000), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs[1:] {
		if &r.Dimensions[0] != &recs[0].Dimensions[0] {
			t.Fatal("records of one event should share one Dimensions slice")
		}
	}
	// Two events make distinct slices.
	recs2, _, _ := m.Map(nil, []byte(seedEvent), time.Unix(0, 1609757175225499000), nil)
	if &recs2[0].Dimensions[0] == &recs[0].Dimensions[0] {
		t.Fatal("events must not share Dimensions slices")
	}
}

func TestParseMode(t *testing.T) {
	for _, c := range []struct {
		in   string
		want event.Mode
		err  bool
	}{
		{"", event.Single, false},
		{"single", event.Single, false},
		{"MULTI", event.Multi, false},
		{"both", 0, true},
	} {
		got, err := event.ParseMode(c.in)
		if (err != nil) != c.err || got != c.want {
			t.Errorf("ParseMode(%q) = %v, %v", c.in, got, err)
		}
		if err == nil && got.String() != strings.ToLower(c.in) && c.in != "" {
			t.Errorf("Mode(%q).String() = %q", c.in, got)
		}
	}
}

func TestNewMapperOptions(t *testing.T) {
	for _, c := range []struct {
		opts event.Options
		err  string
	}{
		{event.Options{}, ""},
		{event.Options{Mode: event.Multi, MultiMeasureName: "m"}, ""},
		{event.Options{Mode: 7}, "unknown record mode"},
		{event.Options{FutureThreshold: -time.Nanosecond}, "negative"},
		{event.Options{Mode: event.Multi, MultiMeasureName: "ts_x"}, "reserved"},
		{event.Options{Mode: event.Multi, MultiMeasureName: strings.Repeat("m", 257)}, "limit is 256"},
	} {
		_, err := event.NewMapper(c.opts)
		if c.err == "" && err != nil || c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)) {
			t.Errorf("NewMapper(%+v) = %v, want error containing %q", c.opts, err, c.err)
		}
	}
}

func TestErrorMessage(t *testing.T) {
	e := &event.Error{Field: "a\"b", Reason: "is bad"}
	if got, want := e.Error(), `event: key "a\"b": is bad`; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	e = &event.Error{Reason: "no measures"}
	if got, want := e.Error(), `event: no measures`; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

// TestDecoderReuse checks that fields from an escaped string survive the
// scratch buffer growing while later fields are decoded.
func TestDecoderReuse(t *testing.T) {
	var d event.Decoder
	var b strings.Builder
	b.WriteString("{")
	for i := range 200 {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `"k\u00e9%d": "v\n%d"`, i, i)
	}
	b.WriteString("}")
	for range 2 {
		fields, err := d.Decode(nil, []byte(b.String()))
		if err != nil {
			t.Fatal(err)
		}
		for i, f := range fields {
			if string(f.Key) != fmt.Sprintf("ké%d", i) || string(f.Value) != fmt.Sprintf("v\n%d", i) {
				t.Fatalf("field %d = %q: %q", i, f.Key, f.Value)
			}
		}
	}
}
