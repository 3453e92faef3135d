package ingest

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/sluice-dev/sluice/internal/stream"
)

func TestSplitBody(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		want    []string
		wantErr bool
	}{
		{"empty", "", nil, false},
		{"blank", " \n\r\n\t", nil, false},
		{"object", `{"a":1}`, []string{`{"a":1}`}, false},
		{"object padded", " \n{\"a\":1}\n\n", []string{`{"a":1}`}, false},
		{"pretty object", "{\n  \"a\": 1,\n  \"b\": [1, 2]\n}\n", []string{"{\n  \"a\": 1,\n  \"b\": [1, 2]\n}"}, false},
		{"ndjson", "{\"a\":1}\n{\"b\":2}\n", []string{`{"a":1}`, `{"b":2}`}, false},
		{"ndjson crlf blank lines", "{\"a\":1}\r\n\r\n  \n{\"b\":2}", []string{`{"a":1}`, `{"b":2}`}, false},
		{"ndjson bad line kept", "{\"a\":1}\nnope\n[1]", []string{`{"a":1}`, `nope`, `[1]`}, false},
		{"array", `[{"a":1}, {"b":"x,]}"} ,{"c":[1,{"d":2}]}]`, []string{`{"a":1}`, `{"b":"x,]}"}`, `{"c":[1,{"d":2}]}`}, false},
		{"array escaped quote", `[{"a":"\"],"}]`, []string{`{"a":"\"],"}`}, false},
		{"empty array", " [ ] ", nil, false},
		{"array empty elements", `[{},,1,]`, []string{`{}`, ``, `1`, ``}, false},
		{"array scalars", `[1,"s",null]`, []string{`1`, `"s"`, `null`}, false},
		{"unterminated array", `[{"a":1},`, []string{`{"a":1}`}, true},
		{"data after array", `[{"a":1}] {"b":2}`, []string{`{"a":1}`}, true},
		{"data after empty array", `[] x`, nil, true},
		{"scalar line", `42`, []string{`42`}, false},
		{"unclosed object", `{"a":`, []string{`{"a":`}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := splitBody(nil, []byte(tt.body))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d events %q, want %d %q", len(got), got, len(tt.want), tt.want)
			}
			for i := range got {
				if string(got[i]) != tt.want[i] {
					t.Errorf("event %d = %q, want %q", i, got[i], tt.want[i])
				}
			}
		})
	}
}

func TestCheckEvent(t *testing.T) {
	f := func(ev string, max int64, want string) {
		t.Helper()
		if _, got := checkEvent([]byte(ev), max); got != want {
			t.Errorf("checkEvent(%q, %d) = %q, want %q", ev, max, got, want)
		}
	}
	f(`{"a":1}`, 100, "")
	f(`{}`, 100, "")
	f(``, 100, reasonEmpty)
	f(`{"a":1}`, 6, reasonTooLarge)
	f(`{"a":}`, 100, reasonInvalid)
	f(`{"a":1}}`, 100, reasonInvalid)
	f(`[1]`, 100, reasonNotObject)
	f(`"s"`, 100, reasonNotObject)
	f(`nope`, 100, reasonInvalid)
}

// TestCheckEventKey: the partition key is the first top-level "DeviceID"
// member's value, found by the same pass that checks the syntax.
func TestCheckEventKey(t *testing.T) {
	tests := []struct {
		ev, key, reason string
	}{
		{`{"DeviceID":"d-1","x":2}`, "d-1", ""},
		{`{"x": 1, "DeviceID" :  "12345678-9012"}`, "12345678-9012", ""},
		{`{"DeviceID":42}`, "42", ""},
		{`{"DeviceID":-4.5e3,"a":1}`, "-4.5e3", ""},
		{`{"DeviceID":"a\"b"}`, "", ""},
		{`{"DeviceID":null}`, "", ""},
		{`{"DeviceID":null,"DeviceID":"late"}`, "", ""},
		{`{"DeviceID":"first","DeviceID":"second"}`, "first", ""},
		{`{"meta":{"DeviceID":"nested"},"DeviceID":"top"}`, "top", ""},
		{`{"meta":{"DeviceID":"nested"}}`, "", ""},
		{`{"deviceid":"x"}`, "", ""},
		{`{"note":"DeviceID","DeviceID":"d"}`, "d", ""},
		{`{"a":1}`, "", ""},
		{` {"DeviceID":"sp"} `, "", reasonNotObject}, // the splitter trims events
		{`{}`, "", ""},
		{`{"DeviceID"`, "", reasonInvalid},
		{`{"DeviceID":`, "", reasonInvalid},
		{`{"DeviceID":"unterminated`, "", reasonInvalid},
		{`{"DeviceID":"d"}}`, "", reasonInvalid},
		{`{"DeviceID":"d",}`, "", reasonInvalid},
		{`["DeviceID","d"]`, "", reasonNotObject},
	}
	for _, tt := range tests {
		key, reason := checkEvent([]byte(tt.ev), 1<<20)
		if string(key) != tt.key || reason != tt.reason {
			t.Errorf("checkEvent(%q) = %q, %q; want %q, %q", tt.ev, key, reason, tt.key, tt.reason)
		}
	}
}

func TestTopicMatch(t *testing.T) {
	tests := []struct {
		pattern, topic string
		wantOK         bool
		wantDev        string
	}{
		{"devices/+/telemetry", "devices/d1/telemetry", true, "d1"},
		{"devices/+/telemetry", "devices/d1/other", false, ""},
		{"devices/+/telemetry", "devices/d1", false, ""},
		{"devices/+/telemetry", "devices/d1/telemetry/x", false, ""},
		{"devices/+/telemetry", "devices//telemetry", true, ""},
		{"devices/#", "devices", true, ""},
		{"devices/#", "devices/a/b/c", true, ""},
		{"site/+/dev/+/#", "site/s1/dev/d9/t/x", true, "s1"},
		{"#", "anything/at/all", true, ""},
		{"#", "$SYS/broker", false, ""},
		{"+/x", "$SYS/x", false, ""},
		{"a/b", "a/b", true, ""},
		{"a/b", "a/bc", false, ""},
	}
	for _, tt := range tests {
		ps, err := compileTopics([]TopicMapping{{Pattern: tt.pattern, Stream: "s"}})
		if err != nil {
			t.Fatalf("compile %q: %v", tt.pattern, err)
		}
		dev, ok := ps[0].match(tt.topic)
		if ok != tt.wantOK || dev != tt.wantDev {
			t.Errorf("%q matches %q = (%q, %v), want (%q, %v)", tt.pattern, tt.topic, dev, ok, tt.wantDev, tt.wantOK)
		}
	}
	for _, bad := range []string{"", "a/#/b", "a/b+", "a#"} {
		if _, err := compileTopics([]TopicMapping{{Pattern: bad, Stream: "s"}}); err == nil {
			t.Errorf("pattern %q compiled, want error", bad)
		}
	}
}

// TestEncoderChunks checks that chunks respect the group-commit size and
// that their frames decode to the input in order.
func TestEncoderChunks(t *testing.T) {
	for _, gcb := range []int64{64, 200, 1 << 20} {
		var e encoder
		e.reset(gcb)
		var want []string
		for i := 0; i < 50; i++ {
			data := `{"i":` + strings.Repeat("7", i%13) + `}`
			want = append(want, data)
			e.add(stream.Record{Key: "k", Data: []byte(data)})
		}
		chunks := e.finish()
		var got []string
		total := 0
		for _, ch := range chunks {
			frame := stream.AppendFrame(nil, nil)[:0]
			frame = append(stream.AppendFrameHeader(frame, ch.n), ch.data...)
			if ch.n > 1 && int64(len(frame)) > gcb {
				t.Errorf("gcb %d: frame of %d records is %d bytes", gcb, ch.n, len(frame))
			}
			err := stream.DecodeFrame(frame, func(_ int, r stream.Record) error {
				got = append(got, string(r.Data))
				return nil
			})
			if err != nil {
				t.Fatalf("gcb %d: %v", gcb, err)
			}
			total += ch.n
		}
		if total != 50 || strings.Join(got, "|") != strings.Join(want, "|") {
			t.Errorf("gcb %d: got %d records %q", gcb, total, got)
		}
		if gcb == 1<<20 && len(chunks) != 1 {
			t.Errorf("gcb %d: %d chunks, want 1", gcb, len(chunks))
		}
	}
}

// FuzzSplitBody: no panics; events alias the body; a body of valid NDJSON
// object lines splits into exactly those lines, and the same objects as a
// JSON array split into the same elements as encoding/json finds.
func FuzzSplitBody(f *testing.F) {
	for _, s := range []string{
		`{"a":1}`, "{\"a\":1}\n{\"b\":2}\n", `[{"a":1},{"b":[1,2]}]`, "[\n]", `{"s":"\"}\n"}`,
		"{\"DeviceID\":\"x\"}\r\n\r\n{}", `[{"a":"]"},]`, `[`, `{`, "\n\n", `[1,2,"x\\"]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		events, err := splitBody(nil, body)
		for _, ev := range events {
			if len(ev) > 0 && !aliases(body, ev) {
				t.Fatalf("event %q does not alias the body", ev)
			}
			_, _ = checkEvent(ev, 1<<20)
		}

		// Valid NDJSON object lines round-trip.
		var lines [][]byte
		allObjects := true
		for _, l := range bytes.Split(body, []byte("\n")) {
			l = bytes.TrimRight(l, "\r")
			if len(bytes.TrimLeft(l, " \t\r")) == 0 {
				continue
			}
			if len(l) == 0 || l[0] != '{' || l[len(l)-1] != '}' || !json.Valid(l) {
				allObjects = false
				break
			}
			lines = append(lines, l)
		}
		if allObjects && len(lines) > 0 {
			if err != nil || len(events) != len(lines) {
				t.Fatalf("NDJSON body %q: got %d events %q (err %v), want lines %q", body, len(events), events, err, lines)
			}
			for i := range lines {
				if !bytes.Equal(events[i], lines[i]) {
					t.Fatalf("NDJSON line %d: got %q, want %q", i, events[i], lines[i])
				}
			}
		}

		// A valid JSON array splits like encoding/json splits it.
		if trimmed := trimSpace(body); len(trimmed) > 0 && trimmed[0] == '[' && json.Valid(trimmed) {
			var raw []json.RawMessage
			if jerr := json.Unmarshal(trimmed, &raw); jerr != nil {
				t.Fatalf("unmarshal: %v", jerr)
			}
			if err != nil || len(events) != len(raw) {
				t.Fatalf("array %q: got %d events (err %v), encoding/json %d", body, len(events), err, len(raw))
			}
			for i := range raw {
				if !bytes.Equal(events[i], raw[i]) {
					t.Fatalf("array element %d: got %q, encoding/json %q", i, events[i], raw[i])
				}
			}
		}
	})
}

func aliases(body, ev []byte) bool {
	if len(body) == 0 {
		return false
	}
	start := &body[0]
	for i := range body {
		if &body[i] == &ev[0] {
			return i+len(ev) <= len(body) && start != nil
		}
	}
	return false
}

func TestValidJSON(t *testing.T) {
	deep := strings.Repeat("[", maxNesting) + strings.Repeat("]", maxNesting)
	tooDeep := strings.Repeat("[", maxNesting+1) + strings.Repeat("]", maxNesting+1)
	for _, s := range []string{
		`{}`, ` { "a" : [1, -0.5e+3, true, false, null, "x\u00e9\n"] } `, `0`, `-0`, `1.5E3`, `"\/"`,
		`{"a":1,}`, `[1,]`, `01`, `1.`, `.5`, `-`, `1e`, `+1`, `"\x"`, `"\u12g4"`, "\"a\tb\"", `tru`, `nul`,
		`{"a" 1}`, `{1:2}`, `[1 2]`, `{"a":1}x`, `"` + "\xff" + `"`, deep, tooDeep, `{"a":{"b":{}}}`, ``, ` `,
	} {
		if got, want := validJSON([]byte(s)), json.Valid([]byte(s)); got != want {
			t.Errorf("validJSON(%.40q) = %v, json.Valid says %v", s, got, want)
		}
	}
}

// FuzzValidJSON checks validJSON against encoding/json.Valid.
func FuzzValidJSON(f *testing.F) {
	for _, s := range []string{`{"a":[1,2,{"b":null}],"c":"\u00e9"}`, `-0.5e-7`, `[1,]`, `"\ud800"`, `{"a":tru}`} {
		f.Add([]byte(s))
	}
	f.Add([]byte(`{"x":{"DeviceID":1},"DeviceID":"d"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		want := json.Valid(b)
		if got := validJSON(b); got != want {
			t.Fatalf("validJSON(%q) = %v, json.Valid says %v", b, got, want)
		}
		key, ok := scanEvent(b)
		if ok != want {
			t.Fatalf("scanEvent(%q) ok = %v, json.Valid says %v", b, ok, want)
		}
		if key == nil {
			return
		}
		if got, want := string(key), firstDeviceID(t, b); got != want {
			t.Fatalf("scanEvent(%q) key %q, encoding/json finds %q", b, got, want)
		}
	})
}

// firstDeviceID finds with encoding/json what scanEvent's key should be:
// the first top-level member written "DeviceID" (without escapes), its
// value if an unescaped string or a number; "" otherwise.
func firstDeviceID(t *testing.T, b []byte) string {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return ""
	}
	for dec.More() {
		off := dec.InputOffset()
		if _, err := dec.Token(); err != nil {
			t.Fatalf("decode %q: %v", b, err)
		}
		name := bytes.TrimLeft(b[off:dec.InputOffset()], " \t\r\n,")
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			t.Fatalf("decode %q: %v", b, err)
		}
		if string(name) != `"DeviceID"` {
			continue
		}
		switch {
		case raw[0] == '"' && !bytes.ContainsRune(raw, '\\'):
			return string(raw[1 : len(raw)-1])
		case raw[0] == '-' || (raw[0] >= '0' && raw[0] <= '9'):
			return string(raw)
		}
		return ""
	}
	return ""
}
