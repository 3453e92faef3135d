package auth

import (
	"net/http/httptest"
	"testing"
)

// FuzzParseAuthorization feeds arbitrary Authorization headers to the
// parser and to the whole verification; neither may panic, and a header
// that parses must satisfy the parser's promises.
//
//	go test ./internal/auth -run '^$' -fuzz FuzzParseAuthorization -fuzztime 30s
func FuzzParseAuthorization(f *testing.F) {
	f.Add("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260314/us-east-1/kinesis/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7")
	f.Add("AWS4-HMAC-SHA256 Credential=a/b/c/d/aws4_request,SignedHeaders=host,Signature=")
	f.Add("AWS4-HMAC-SHA256 Signature=x, Signature=y")
	f.Add("AWS AKID:sig")
	f.Add("")
	s := testService(f, Options{})
	f.Fuzz(func(t *testing.T, h string) {
		sig, err := parseAuthorization(h)
		if err == nil {
			if sig.keyID == "" || len(sig.signature) != 64 || sig.signedHeaders == "" || sig.region == "" || sig.service == "" {
				t.Fatalf("accepted %q as %+v", h, sig)
			}
		} else if err.Code != CodeIncompleteSignature {
			t.Fatalf("%q: code %s", h, err.Code)
		}
		r := httptest.NewRequest("POST", "http://localhost/", nil)
		r.Header.Set("Authorization", h)
		r.Header.Set("X-Amz-Date", "20260314T150926Z")
		if _, err := s.Authenticate(r, nil); err == nil && h != "" {
			t.Fatalf("fuzzed header %q authenticated", h)
		}
	})
}

// FuzzWildMatch checks the matcher against a simple recursive definition.
func FuzzWildMatch(f *testing.F) {
	f.Add("a*b?c", "aXXbYc")
	f.Add("**?", "")
	f.Fuzz(func(t *testing.T, p, s string) {
		if len(p) > 12 || len(s) > 24 {
			return
		}
		if got, want := wildMatch(p, s), slowMatch(p, s); got != want {
			t.Fatalf("wildMatch(%q, %q) = %v, want %v", p, s, got, want)
		}
	})
}

func slowMatch(p, s string) bool {
	if p == "" {
		return s == ""
	}
	switch p[0] {
	case '*':
		return slowMatch(p[1:], s) || (s != "" && slowMatch(p, s[1:]))
	case '?':
		return s != "" && slowMatch(p[1:], s[1:])
	}
	return s != "" && lower(p[0]) == lower(s[0]) && slowMatch(p[1:], s[1:])
}
