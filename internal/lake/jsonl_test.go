package lake

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestClassify(t *testing.T) {
	tests := []struct {
		in   string
		code string
	}{
		{`{"a":1}`, ""},
		{` {"a":1} `, ""},
		{`{}`, ""},
		{`{"a":{"b":[1,2,{"c":null}]},"d":"x\"y","e":-1.5e+3,"f":true,"g":false}`, ""},
		{`{"a":"é\u00e9\ud83d\ude00"}`, ""},
		{"{\"a\":\n1}", CodeMultiLineJSON},
		{"{\"a\":1}\r", CodeMultiLineJSON},
		{`[1,2]`, CodeNotJSONObject},
		{`"str"`, CodeNotJSONObject},
		{`42`, CodeNotJSONObject},
		{`null`, CodeNotJSONObject},
		{``, CodeInvalidJSON},
		{`{`, CodeInvalidJSON},
		{`{"a":1}{"b":2}`, CodeInvalidJSON},
		{`{"a":01}`, CodeInvalidJSON},
		{`{"a":1.}`, CodeInvalidJSON},
		{`{"a":tru}`, CodeInvalidJSON},
		{`{"a":"\x"}`, CodeInvalidJSON},
		{"{\"a\":\"\x01\"}", CodeInvalidJSON},
		{`{a:1}`, CodeInvalidJSON},
		{`{"a":1,}`, CodeInvalidJSON},
		{`not json`, CodeInvalidJSON},
	}
	for _, tt := range tests {
		code, msg := classify([]byte(tt.in))
		if code != tt.code {
			t.Errorf("classify(%q) = %q (%s), want %q", tt.in, code, msg, tt.code)
		}
		// The scanner agrees with encoding/json on validity.
		valid := tt.code == "" || tt.code == CodeMultiLineJSON || tt.code == CodeNotJSONObject
		if json.Valid([]byte(tt.in)) != valid {
			t.Errorf("%q: json.Valid disagrees with the test table", tt.in)
		}
	}
}

func TestScanObjectMembers(t *testing.T) {
	in := `{"DeviceID":"d1","temperature_measure":21.5,"ok":true,"n":null,"nested":{"x":[1]},"k\u00e9y":"v\n"}`
	type member struct {
		key  string
		kind valueKind
		val  string
	}
	var got []member
	err := scanObject([]byte(in), func(key []byte, keyEsc bool, kind valueKind, val []byte, valEsc bool) {
		k := keyString(key, keyEsc)
		v := string(val)
		if valEsc {
			v = string(unescape(val))
		}
		got = append(got, member{k, kind, v})
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []member{
		{"DeviceID", kindString, "d1"}, {"temperature_measure", kindNumber, "21.5"}, {"ok", kindBool, "true"},
		{"n", kindNull, ""}, {"nested", kindObject, `{"x":[1]}`}, {"kéy", kindString, "v\n"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("member %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestErrorRecord(t *testing.T) {
	arrival := time.Date(2026, 11, 25, 18, 0, 0, 5e6, time.UTC)
	raw := []byte("not \"json\"\n\x00\xff")
	line := appendErrorRecord(nil, arrival, 42, 3, CodeInvalidJSON, `bad "thing"`, raw)
	if !bytes.HasSuffix(line, []byte("\n")) || bytes.Count(line, []byte("\n")) != 1 {
		t.Fatalf("not one line: %q", line)
	}
	var rec struct {
		AttemptsMade      int    `json:"attemptsMade"`
		ArrivalTimestamp  int64  `json:"arrivalTimestamp"`
		ErrorCode         string `json:"errorCode"`
		ErrorMessage      string `json:"errorMessage"`
		RawData           string `json:"rawData"`
		SequenceNumber    string `json:"sequenceNumber"`
		SubSequenceNumber int    `json:"subSequenceNumber"`
	}
	if err := json.Unmarshal(line, &rec); err != nil {
		t.Fatal(err)
	}
	data, err := base64.StdEncoding.DecodeString(rec.RawData)
	if err != nil || !bytes.Equal(data, raw) {
		t.Errorf("rawData decodes to %q (%v), want %q", data, err, raw)
	}
	if rec.AttemptsMade != 1 || rec.ArrivalTimestamp != arrival.UnixMilli() || rec.ErrorCode != CodeInvalidJSON ||
		rec.ErrorMessage != `bad "thing"` || rec.SequenceNumber != "42" || rec.SubSequenceNumber != 3 {
		t.Errorf("record %+v", rec)
	}
}

// FuzzScanObject checks the hand-written scanner against encoding/json:
// the same inputs are valid, and the members it reports are the object's.
func FuzzScanObject(f *testing.F) {
	for _, s := range []string{`{"a":1}`, `{"a":{"b":[1,"x",null]},"c":"\u00e9\n"}`, `[1]`, `{"a":-0.5e-3}`, `{"a":tru}`, "{\"a\":\"\xff\"}", `{"a":1,"a":2}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		members := map[string]any{}
		err := scanObject(b, func(key []byte, keyEsc bool, kind valueKind, val []byte, valEsc bool) {
			switch kind {
			case kindString:
				if valEsc || !bytesValidUTF8(val) {
					val = unescape(val)
				}
				members[keyString(key, keyEsc)] = string(val)
			case kindNull:
				members[keyString(key, keyEsc)] = nil
			default:
				var v any
				if err := decodeNumbers(val, &v); err != nil {
					t.Fatalf("member value %q of %q does not decode: %v", val, b, err)
				}
				members[keyString(key, keyEsc)] = v
			}
		})
		valid := json.Valid(b)
		trimmed := bytes.TrimLeft(b, " \t\r\n")
		isObject := len(trimmed) > 0 && trimmed[0] == '{'
		if (err == nil) != (valid && isObject) {
			t.Fatalf("scanObject(%q) = %v, json.Valid = %v", b, err, valid)
		}
		if err != nil {
			return
		}
		var want map[string]any
		if err := decodeNumbers(b, &want); err != nil {
			t.Fatal(err)
		}
		if len(want) != len(members) {
			t.Fatalf("%q: members %v, want %v", b, members, want)
		}
		for k, v := range want {
			gb, _ := json.Marshal(members[k])
			wb, _ := json.Marshal(v)
			if !bytes.Equal(gb, wb) {
				t.Fatalf("%q: member %q = %s, want %s", b, k, gb, wb)
			}
		}
	})
}

// decodeNumbers is json.Unmarshal keeping numbers as their text: a number
// such as 1e7000 is valid JSON although no float64 holds it.
func decodeNumbers(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	return dec.Decode(v)
}

func bytesValidUTF8(b []byte) bool { return strings.ToValidUTF8(string(b), "\uFFFD") == string(b) }
