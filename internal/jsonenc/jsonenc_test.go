package jsonenc_test

import (
	"encoding/json"
	"testing"

	"github.com/sluice-dev/sluice/internal/jsonenc"
)

func TestAppendString(t *testing.T) {
	for _, c := range []struct {
		in         string
		html, want string
	}{
		{"", `""`, `""`},
		{"a\"b\\c", `"a\"b\\c"`, `"a\"b\\c"`},
		{"\n\r\t\x01", `"\n\r\t\u0001"`, `"\n\r\t\u0001"`},
		{"<a&b>", `"\u003ca\u0026b\u003e"`, `"<a&b>"`},
		{"\xff€", `"` + "\ufffd€" + `"`, `"` + "\ufffd€" + `"`},
	} {
		if got := string(jsonenc.AppendString(nil, c.in, true)); got != c.html {
			t.Errorf("%q with HTML escaping: %s, want %s", c.in, got, c.html)
		}
		if got := string(jsonenc.AppendString([]byte("x"), c.in, false)); got != "x"+c.want {
			t.Errorf("%q: %s, want x%s", c.in, got, c.want)
		}
	}
}

// FuzzAppendString checks both modes against encoding/json: the HTML-safe
// one byte for byte, the other by what it decodes to.
func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "a\"b", "\x00", "\xff\xfe", "€", "<&>", "\u2028"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, _ := json.Marshal(s)
		got := jsonenc.AppendString(nil, s, true)
		var back, wantBack string
		if err := json.Unmarshal(got, &back); err != nil {
			t.Fatalf("%q encodes to invalid JSON %s: %v", s, got, err)
		}
		json.Unmarshal(want, &wantBack)
		if back != wantBack {
			t.Fatalf("%q: round trip %q, encoding/json gives %q", s, back, wantBack)
		}
		plain := jsonenc.AppendString(nil, s, false)
		if err := json.Unmarshal(plain, &back); err != nil || back != wantBack {
			t.Fatalf("%q without HTML escaping: %s decodes to %q (%v), want %q", s, plain, back, err, wantBack)
		}
	})
}
