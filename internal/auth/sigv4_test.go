package auth

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

const (
	testID     = "AKIDEXAMPLE"
	testSecret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
)

var testNow = time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)

func testService(t testing.TB, opts Options) *Service {
	t.Helper()
	if opts.AdminKeyID == "" {
		opts.AdminKeyID, opts.AdminSecret = testID, NewSecret(testSecret)
	}
	if opts.Now == nil {
		opts.Now = func() time.Time { return testNow }
	}
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func hashOf(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// sdkSign signs r as aws-sdk-go-v2 does and returns the server-side view of
// it (what net/http hands a handler).
func sdkSign(t testing.TB, r *http.Request, body []byte, id, secret, service, region string, at time.Time, presign bool) *http.Request {
	t.Helper()
	signer := v4.NewSigner()
	creds := aws.Credentials{AccessKeyID: id, SecretAccessKey: secret}
	if presign {
		u, hdr, err := signer.PresignHTTP(context.Background(), creds, r, hashOf(body), service, region, at)
		if err != nil {
			t.Fatal(err)
		}
		sr := httptest.NewRequest(r.Method, u, bytes.NewReader(body))
		for k, vs := range hdr {
			if strings.EqualFold(k, "Host") {
				continue
			}
			sr.Header[k] = vs
		}
		sr.Host = r.Host
		return sr
	}
	if err := signer.SignHTTP(context.Background(), creds, r, hashOf(body), service, region, at); err != nil {
		t.Fatal(err)
	}
	return serverView(r, body)
}

// serverView turns a client request into what a server handler sees.
func serverView(r *http.Request, body []byte) *http.Request {
	sr := httptest.NewRequest(r.Method, r.URL.RequestURI(), bytes.NewReader(body))
	sr.Host = r.Host
	for k, vs := range r.Header {
		sr.Header[k] = append([]string(nil), vs...)
	}
	if len(body) > 0 {
		sr.Header.Set("Content-Length", strconv.Itoa(len(body)))
	}
	sr.ContentLength = int64(len(body))
	return sr
}

func newReq(t testing.TB, method, url string, body []byte, hdr map[string]string) *http.Request {
	t.Helper()
	r, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	return r
}

func TestSigV4AgainstSDK(t *testing.T) {
	kinesisBody := []byte(`{"StreamName":"events","Records":[{"Data":"eyJhIjoxfQ==","PartitionKey":"d1"}]}`)
	writeBody := []byte(`{"DatabaseName":"iot","TableName":"telemetry","Records":[]}`)
	cases := []struct {
		name, method, url, service string
		body                       []byte
		hdr                        map[string]string
		presign                    bool
	}{
		{"kinesis PutRecords", "POST", "http://localhost:7410/", "kinesis", kinesisBody,
			map[string]string{"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "Kinesis_20131202.PutRecords", "Amz-Sdk-Invocation-Id": "abc", "Amz-Sdk-Request": "attempt=1; max=3"}, false},
		{"timestream WriteRecords", "POST", "http://127.0.0.1:7410/", "timestream", writeBody,
			map[string]string{"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": "Timestream_20181101.WriteRecords"}, false},
		{"empty body", "POST", "http://localhost:7410/", "timestream", nil,
			map[string]string{"X-Amz-Target": "Timestream_20181101.DescribeEndpoints"}, false},
		{"native path and query", "GET", "http://localhost:7410/v1/databases/iot/tables?limit=10&b=a%2Fb&a=x%20y&a=w", "timestream", nil, nil, false},
		{"path needing escapes", "GET", "http://localhost:7410/v1/databases/my%20db/tables/t~1", "timestream", nil, nil, false},
		{"header with runs of spaces", "POST", "http://localhost:7410/", "kinesis", kinesisBody,
			map[string]string{"X-Amz-Target": "Kinesis_20131202.PutRecords", "X-Custom": "  a   b  c "}, false},
		{"presigned GET", "GET", "http://localhost:7410/v1/databases?x=1", "timestream", nil, nil, true},
		{"presigned POST", "POST", "http://localhost:7410/", "kinesis", kinesisBody,
			map[string]string{"X-Amz-Target": "Kinesis_20131202.ListStreams"}, true},
	}
	s := testService(t, Options{})
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := sdkSign(t, newReq(t, c.method, c.url, c.body, c.hdr), c.body, testID, testSecret, c.service, "eu-central-1", testNow.Add(-2*time.Minute), c.presign)
			p, err := s.Authenticate(r, c.body)
			if err != nil {
				t.Fatalf("good signature refused: %v", err)
			}
			if p.AccessKeyID() != testID {
				t.Fatalf("principal %q", p.AccessKeyID())
			}
			if cl := p.(*Caller); cl.Region != "eu-central-1" || cl.Service != c.service {
				t.Fatalf("scope %q %q", cl.Region, cl.Service)
			}
			// Tampering with the body must break it.
			if len(c.body) > 0 {
				bad := append(bytes.Clone(c.body[:len(c.body)-1]), ' ')
				if _, err := s.Authenticate(r, bad); code(err) != CodeInvalidSignature {
					t.Fatalf("tampered body: %v", err)
				}
			}
		})
	}
}

func code(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	if err == nil {
		return ""
	}
	return "not an *Error: " + err.Error()
}

func TestSigV4Refusals(t *testing.T) {
	body := []byte(`{"StreamName":"events"}`)
	hdr := map[string]string{"X-Amz-Target": "Kinesis_20131202.DescribeStream"}
	sign := func(id, secret string, at time.Time, presign bool) *http.Request {
		return sdkSign(t, newReq(t, "POST", "http://localhost:7410/", body, hdr), body, id, secret, "kinesis", "us-east-1", at, presign)
	}
	s := testService(t, Options{})
	cases := []struct {
		name string
		r    func() *http.Request
		want string
	}{
		{"no signature", func() *http.Request { return serverView(newReq(t, "POST", "http://localhost:7410/", body, hdr), body) }, CodeMissingAuthenticationToken},
		{"unknown key", func() *http.Request { return sign("AKIDUNKNOWN", testSecret, testNow, false) }, CodeUnrecognizedClient},
		{"wrong secret", func() *http.Request { return sign(testID, "wrong", testNow, false) }, CodeInvalidSignature},
		{"expired", func() *http.Request { return sign(testID, testSecret, testNow.Add(-16*time.Minute), false) }, CodeInvalidSignature},
		{"from the future", func() *http.Request { return sign(testID, testSecret, testNow.Add(16*time.Minute), false) }, CodeInvalidSignature},
		{"presigned expired", func() *http.Request { return sign(testID, testSecret, testNow.Add(-20*time.Minute), true) }, CodeInvalidSignature},
		{"presigned X-Amz-Expires passed", func() *http.Request {
			r := sign(testID, testSecret, testNow.Add(-2*time.Minute), true)
			q := r.URL.Query()
			q.Set("X-Amz-Expires", "60") // not what was signed either; expiry is checked first
			r.URL.RawQuery = q.Encode()
			return r
		}, CodeInvalidSignature},
		{"v2 signature", func() *http.Request {
			r := serverView(newReq(t, "POST", "http://localhost:7410/", body, hdr), body)
			r.Header.Set("Authorization", "AWS AKIDEXAMPLE:abc")
			return r
		}, CodeIncompleteSignature},
		{"no signature component", func() *http.Request {
			r := sign(testID, testSecret, testNow, false)
			a := r.Header.Get("Authorization")
			r.Header.Set("Authorization", a[:strings.Index(a, ", Signature=")])
			return r
		}, CodeIncompleteSignature},
		{"host not signed", func() *http.Request {
			r := sign(testID, testSecret, testNow, false)
			a := r.Header.Get("Authorization")
			a = strings.Replace(strings.Replace(a, ";host;", ";", 1), "SignedHeaders=host;", "SignedHeaders=", 1)
			r.Header.Set("Authorization", a)
			return r
		}, CodeIncompleteSignature},
		{"signed header changed", func() *http.Request {
			r := sign(testID, testSecret, testNow, false)
			r.Header.Set("X-Amz-Target", "Kinesis_20131202.DeleteStream")
			return r
		}, CodeInvalidSignature},
		{"other host", func() *http.Request {
			r := sign(testID, testSecret, testNow, false)
			r.Host = "evil.example:7410"
			return r
		}, CodeInvalidSignature},
		{"content sha256 mismatch", func() *http.Request {
			r := sign(testID, testSecret, testNow, false)
			r.Header.Set("X-Amz-Content-Sha256", emptySHA256)
			return r
		}, CodeInvalidSignature},
		{"unsigned payload without TLS", func() *http.Request {
			r := sign(testID, testSecret, testNow, false)
			r.Header.Set("X-Amz-Content-Sha256", unsignedPayload)
			return r
		}, CodeInvalidSignature},
		{"scope date differs from X-Amz-Date", func() *http.Request {
			r := sign(testID, testSecret, testNow, false)
			r.Header.Set("X-Amz-Date", testNow.Add(-24*time.Hour).Format(amzDateFormat))
			return r
		}, CodeInvalidSignature},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := s.Authenticate(c.r(), body)
			if got := code(err); got != c.want {
				t.Fatalf("got %q (%v), want %s", got, err, c.want)
			}
			if strings.Contains(err.Error(), testSecret) {
				t.Fatal("error leaks the secret")
			}
		})
	}
}

func TestSigV4UnsignedPayloadOverTLS(t *testing.T) {
	s := testService(t, Options{})
	body := []byte(`{}`)
	r := newReq(t, "POST", "https://localhost:7410/", body, map[string]string{"X-Amz-Content-Sha256": unsignedPayload})
	if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: testID, SecretAccessKey: testSecret}, r, unsignedPayload, "kinesis", "us-east-1", testNow); err != nil {
		t.Fatal(err)
	}
	sr := serverView(r, body)
	if _, err := s.Authenticate(sr, body); code(err) != CodeInvalidSignature {
		t.Fatalf("plain HTTP: %v", err)
	}
	sr.TLS = &tls.ConnectionState{}
	if _, err := s.Authenticate(sr, body); err != nil {
		t.Fatalf("TLS: %v", err)
	}
}

func TestAllowUnsignedAndOpen(t *testing.T) {
	body := []byte(`{}`)
	unsigned := serverView(newReq(t, "POST", "http://localhost:7410/", body, nil), body)
	s := testService(t, Options{AllowUnsigned: true})
	p, err := s.Authenticate(unsigned, body)
	if err != nil || p.AccessKeyID() != Anonymous || !p.Allow("kinesis:DeleteStream", "arn:aws:kinesis:x:y:stream/events") {
		t.Fatalf("allow-unsigned: %v %v", p, err)
	}
	// A wrong signature is still refused.
	bad := sdkSign(t, newReq(t, "POST", "http://localhost:7410/", body, nil), body, testID, "wrong", "kinesis", "us-east-1", testNow, false)
	if _, err := s.Authenticate(bad, body); code(err) != CodeInvalidSignature {
		t.Fatalf("allow-unsigned with a bad signature: %v", err)
	}
	open, err := New(Options{})
	if err != nil || open.Enabled() {
		t.Fatal(err)
	}
	for _, r := range []*http.Request{unsigned, bad} {
		if p, err := open.Authenticate(r, body); err != nil || p.AccessKeyID() != Anonymous {
			t.Fatalf("open service: %v %v", p, err)
		}
	}
}
