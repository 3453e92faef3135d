package fn_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/sluice-dev/sluice/internal/sql/fn"
)

// FuzzDecodeArray checks that whatever DecodeArray accepts survives a
// round trip through EncodeArray, and that EncodeArray's output always
// decodes to what was encoded.
func FuzzDecodeArray(f *testing.F) {
	for _, s := range []string{`{}`, `{a,b}`, `{"\"$user\""," public"}`, `{a,NULL,"NULL",\NULL}`, `{ a b , "c\"d" }`, `{a\,b}`, `{`, `{a}x`, `{{a}}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		vals, nulls, err := fn.DecodeArray(s)
		if err != nil {
			return
		}
		enc := fn.EncodeArray(vals, nulls)
		v2, n2, err := fn.DecodeArray(enc)
		if err != nil {
			t.Fatalf("DecodeArray(EncodeArray(%q)) = %q: %v", s, enc, err)
		}
		if !slices.Equal(vals, v2) || !slices.Equal(nulls, n2) {
			t.Fatalf("round trip of %q via %q: %q %v != %q %v", s, enc, vals, nulls, v2, n2)
		}
		// The elements of a decoded array, encoded afresh, decode back.
		parts := strings.Split(s, ",")
		e2 := fn.EncodeArray(parts, nil)
		if back, _, err := fn.DecodeArray(e2); err != nil || !slices.Equal(back, parts) {
			t.Fatalf("EncodeArray(%q) = %q decodes to %q, %v", parts, e2, back, err)
		}
	})
}

// FuzzParseIdent checks that the parts of an identifier, quoted with
// QuoteIdent and joined by dots, parse back to the same parts.
func FuzzParseIdent(f *testing.F) {
	for _, s := range []string{`iot.telemetry`, `"A b"."c""d"`, `Foo.BAR`, `a.`, `"a`, `""`, `a b`, `é.x`} {
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, s string, strict bool) {
		parts, err := fn.ParseIdent(s, strict)
		if err != nil {
			return
		}
		if len(parts) == 0 {
			t.Fatalf("ParseIdent(%q) gave no parts and no error", s)
		}
		quoted := make([]string, len(parts))
		for i, p := range parts {
			if p == "" {
				t.Fatalf("ParseIdent(%q) gave an empty part: %q", s, parts)
			}
			quoted[i] = `"` + strings.ReplaceAll(p, `"`, `""`) + `"`
		}
		again, err := fn.ParseIdent(strings.Join(quoted, "."), true)
		if err != nil || !slices.Equal(again, parts) {
			t.Fatalf("ParseIdent(%q) = %q; requoted %q parses to %q, %v", s, parts, quoted, again, err)
		}
		if q := fn.QuoteIdent(parts[0]); q != parts[0] {
			if back, err := fn.ParseIdent(q, true); err != nil || back[0] != parts[0] {
				t.Fatalf("QuoteIdent(%q) = %q parses to %q, %v", parts[0], q, back, err)
			}
		}
	})
}
