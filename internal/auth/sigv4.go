package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// SigV4 constants (reference §8).
const (
	sigV4Algorithm  = "AWS4-HMAC-SHA256"
	amzDateFormat   = "20060102T150405Z"
	scopeDateFormat = "20060102"
	// MaxClockSkew is how far a signed request's time may be from the
	// server's: AWS allows 15 minutes before "Signature expired".
	MaxClockSkew = 15 * time.Minute
	// maxPresignExpiry is the longest X-Amz-Expires AWS accepts (7 days).
	maxPresignExpiry = 7 * 24 * time.Hour
	unsignedPayload  = "UNSIGNED-PAYLOAD"
	emptySHA256      = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
)

// sigV4 is a parsed SigV4 authorisation, from the Authorization header or
// from a presigned URL's query.
type sigV4 struct {
	keyID, date, region, service string // the credential scope
	signedHeaders                string // as sent: lowercase names joined by ";"
	signature                    string // 64 lowercase hex digits
	presigned                    bool
	expires                      time.Duration // presigned only; 0 if absent
}

func (s *sigV4) scope() string {
	return s.date + "/" + s.region + "/" + s.service + "/aws4_request"
}

// IsSigV4 reports whether r carries a SigV4 signature (header or query),
// well-formed or not.
func IsSigV4(r *http.Request) bool {
	if strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-") {
		return true
	}
	return r.URL.Query().Has("X-Amz-Signature") || r.URL.Query().Has("X-Amz-Credential")
}

func incomplete(msg string) *Error {
	return errorf(CodeIncompleteSignature, http.StatusBadRequest, msg)
}

func invalid(msg string) *Error {
	return errorf(CodeInvalidSignature, http.StatusBadRequest, msg)
}

// parseAuthorization parses "AWS4-HMAC-SHA256 Credential=AKID/DATE/REGION/
// SERVICE/aws4_request, SignedHeaders=a;b, Signature=hex" (components in
// any order, optional spaces after commas).
func parseAuthorization(h string) (*sigV4, *Error) {
	alg, rest, _ := strings.Cut(strings.TrimSpace(h), " ")
	if alg != sigV4Algorithm {
		return nil, incomplete("Unsupported AWS 'algorithm': '" + truncate(alg, 40) + "' (only " + sigV4Algorithm + " is accepted)")
	}
	var cred, signed, sig string
	var haveCred, haveSigned, haveSig bool
	for part := range strings.SplitSeq(rest, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, value, ok := strings.Cut(part, "=")
		if !ok {
			return nil, incomplete("Authorization header requires each component to be name=value; got '" + truncate(part, 40) + "'")
		}
		var dst *string
		var seen *bool
		switch name {
		case "Credential":
			dst, seen = &cred, &haveCred
		case "SignedHeaders":
			dst, seen = &signed, &haveSigned
		case "Signature":
			dst, seen = &sig, &haveSig
		default:
			return nil, incomplete("Authorization header has an unknown component '" + truncate(name, 40) + "'")
		}
		if *seen {
			return nil, incomplete("Authorization header has '" + name + "' twice")
		}
		*dst, *seen = value, true
	}
	var missing []string
	if !haveCred {
		missing = append(missing, "Authorization header requires 'Credential' parameter.")
	}
	if !haveSigned {
		missing = append(missing, "Authorization header requires 'SignedHeaders' parameter.")
	}
	if !haveSig {
		missing = append(missing, "Authorization header requires 'Signature' parameter.")
	}
	if len(missing) > 0 {
		return nil, incomplete(strings.Join(missing, " "))
	}
	s := &sigV4{signedHeaders: signed, signature: sig}
	if err := s.parseCommon(cred); err != nil {
		return nil, err
	}
	return s, nil
}

// parseQuery parses a presigned URL's X-Amz-* parameters.
func parsePresigned(q url.Values) (*sigV4, *Error) {
	if alg := q.Get("X-Amz-Algorithm"); alg != sigV4Algorithm {
		return nil, incomplete("X-Amz-Algorithm must be " + sigV4Algorithm)
	}
	for _, p := range []string{"X-Amz-Credential", "X-Amz-Date", "X-Amz-SignedHeaders", "X-Amz-Signature"} {
		if len(q[p]) != 1 {
			return nil, incomplete("a presigned request needs exactly one " + p + " query parameter")
		}
	}
	s := &sigV4{signedHeaders: q.Get("X-Amz-SignedHeaders"), signature: q.Get("X-Amz-Signature"), presigned: true}
	if e := q.Get("X-Amz-Expires"); e != "" {
		n, err := strconv.ParseInt(e, 10, 64)
		if err != nil || n <= 0 || time.Duration(n)*time.Second > maxPresignExpiry {
			return nil, incomplete("X-Amz-Expires must be a number of seconds from 1 to 604800")
		}
		s.expires = time.Duration(n) * time.Second
	}
	if err := s.parseCommon(q.Get("X-Amz-Credential")); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *sigV4) parseCommon(cred string) *Error {
	parts := strings.Split(cred, "/")
	if len(parts) != 5 || parts[4] != "aws4_request" {
		return incomplete("Credential must have the form <access key id>/<YYYYMMDD>/<region>/<service>/aws4_request; got '" + truncate(cred, 120) + "'")
	}
	s.keyID, s.date, s.region, s.service = parts[0], parts[1], parts[2], parts[3]
	if s.keyID == "" || s.region == "" || s.service == "" {
		return incomplete("Credential has an empty access key id, region or service")
	}
	if _, err := time.Parse(scopeDateFormat, s.date); err != nil {
		return incomplete("Credential date '" + truncate(s.date, 20) + "' is not YYYYMMDD")
	}
	if s.signedHeaders == "" {
		return incomplete("SignedHeaders is empty")
	}
	hasHost := false
	for h := range strings.SplitSeq(s.signedHeaders, ";") {
		if h == "" || h != strings.ToLower(h) {
			return incomplete("SignedHeaders must be lowercase header names separated by ';'")
		}
		if h == "host" {
			hasHost = true
		}
	}
	if !hasHost {
		return incomplete("SignedHeaders must include 'host'")
	}
	if len(s.signature) != 64 || strings.ContainsFunc(s.signature, func(r rune) bool { return !('0' <= r && r <= '9' || 'a' <= r && r <= 'f') }) {
		return incomplete("Signature must be 64 lowercase hexadecimal digits")
	}
	return nil
}

// requestTime returns the signed time of r and its X-Amz-Date spelling.
func (s *sigV4) requestTime(r *http.Request) (time.Time, string, *Error) {
	var v string
	if s.presigned {
		v = r.URL.Query().Get("X-Amz-Date")
	} else {
		v = r.Header.Get("X-Amz-Date")
	}
	if v != "" {
		t, err := time.Parse(amzDateFormat, v)
		if err != nil {
			return time.Time{}, "", incomplete("X-Amz-Date must be in ISO 8601 basic format YYYYMMDD'T'HHMMSS'Z'")
		}
		return t, v, nil
	}
	if d := r.Header.Get("Date"); d != "" {
		t, err := http.ParseTime(d)
		if err != nil {
			return time.Time{}, "", incomplete("Date header is not an HTTP date")
		}
		return t.UTC(), t.UTC().Format(amzDateFormat), nil
	}
	return time.Time{}, "", incomplete("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.")
}

// checkTime applies the clock-skew and expiry rules.
func (s *sigV4) checkTime(t, now time.Time, stamp string) *Error {
	if t.Format(scopeDateFormat) != s.date {
		return invalid("Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '" + s.date + "' != '" + t.Format(scopeDateFormat) + "', from '" + stamp + "'.")
	}
	nowStamp := now.UTC().Format(amzDateFormat)
	if t.After(now.Add(MaxClockSkew)) {
		return invalid(fmt.Sprintf("Signature not yet current: %s is still later than %s (%s + 15 min.)", stamp, now.Add(MaxClockSkew).UTC().Format(amzDateFormat), nowStamp))
	}
	if s.presigned && s.expires > 0 {
		if now.After(t.Add(s.expires)) {
			return invalid(fmt.Sprintf("Signature expired: %s is now earlier than %s (%s - %d sec.)", t.Add(s.expires).Format(amzDateFormat), nowStamp, nowStamp, int(s.expires/time.Second)))
		}
		return nil
	}
	if t.Before(now.Add(-MaxClockSkew)) {
		return invalid(fmt.Sprintf("Signature expired: %s is now earlier than %s (%s - 15 min.)", stamp, now.Add(-MaxClockSkew).UTC().Format(amzDateFormat), nowStamp))
	}
	return nil
}

// payloadHashes returns the payload hashes a correct client may have
// signed: the body's SHA-256, and UNSIGNED-PAYLOAD when the client says so
// (header) or may have (presigned) — only over TLS, where the body cannot be
// swapped in transit. An X-Amz-Content-Sha256 that disagrees with the body
// is refused.
func payloadHashes(r *http.Request, body []byte, presigned bool) ([]string, *Error) {
	sum := sha256.Sum256(body)
	computed := hex.EncodeToString(sum[:])
	claimed := r.Header.Get("X-Amz-Content-Sha256")
	switch {
	case claimed == "" || claimed == computed:
	case claimed == unsignedPayload:
		if r.TLS == nil {
			return nil, invalid("UNSIGNED-PAYLOAD is accepted only over TLS")
		}
		return []string{unsignedPayload}, nil
	default:
		return nil, invalid("The provided 'x-amz-content-sha256' header does not match what was computed.")
	}
	if presigned && r.TLS != nil {
		return []string{computed, unsignedPayload}, nil
	}
	return []string{computed}, nil
}

// canonicalRequest builds the SigV4 canonical request of r (reference §8.2
// step 1), as aws-sdk-go-v2's signer does for non-S3 services.
func canonicalRequest(r *http.Request, s *sigV4, payloadHash string) string {
	var b strings.Builder
	b.WriteString(r.Method)
	b.WriteByte('\n')
	path := r.URL.EscapedPath()
	if path == "" {
		path = "/"
	}
	escapePath(&b, path)
	b.WriteByte('\n')
	canonicalQuery(&b, r.URL.Query(), s.presigned)
	b.WriteByte('\n')
	for h := range strings.SplitSeq(s.signedHeaders, ";") {
		b.WriteString(h)
		b.WriteByte(':')
		switch h {
		case "host":
			b.WriteString(stripSpaces(r.Host))
		case "content-length":
			if v := r.Header.Get("Content-Length"); v != "" {
				b.WriteString(stripSpaces(v))
			} else {
				b.WriteString(strconv.FormatInt(r.ContentLength, 10))
			}
		default:
			for i, v := range r.Header.Values(h) {
				if i > 0 {
					b.WriteByte(',')
				}
				b.WriteString(stripSpaces(v))
			}
		}
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	b.WriteString(s.signedHeaders)
	b.WriteByte('\n')
	b.WriteString(payloadHash)
	return b.String()
}

// escapePath percent-encodes every byte of p except unreserved characters
// and '/', like smithy's httpbinding.EscapePath(p, false): the SDKs encode
// the already-escaped path once more for non-S3 services.
func escapePath(b *strings.Builder, p string) {
	for i := 0; i < len(p); i++ {
		c := p[i]
		if unreserved(c) || c == '/' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(b, "%%%02X", c)
		}
	}
}

func unreserved(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~'
}

func encodeComponent(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if unreserved(c) {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// canonicalQuery writes the query parameters encoded, sorted after
// encoding by name then value; a presigned request's signature is left out.
func canonicalQuery(b *strings.Builder, q url.Values, presigned bool) {
	type kv struct{ k, v string }
	var params []kv
	for k, vs := range q {
		if presigned && k == "X-Amz-Signature" {
			continue
		}
		ek := encodeComponent(k)
		for _, v := range vs {
			params = append(params, kv{ek, encodeComponent(v)})
		}
	}
	sort.Slice(params, func(i, j int) bool {
		if params[i].k != params[j].k {
			return params[i].k < params[j].k
		}
		return params[i].v < params[j].v
	})
	for i, p := range params {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(p.k)
		b.WriteByte('=')
		b.WriteString(p.v)
	}
}

// stripSpaces trims v and collapses inner runs of spaces to one.
func stripSpaces(v string) string {
	v = strings.TrimSpace(v)
	if !strings.Contains(v, "  ") {
		return v
	}
	var b strings.Builder
	space := false
	for i := 0; i < len(v); i++ {
		if v[i] == ' ' {
			if space {
				continue
			}
			space = true
		} else {
			space = false
		}
		b.WriteByte(v[i])
	}
	return b.String()
}

func stringToSign(amzDate, scope, canonical string) string {
	sum := sha256.Sum256([]byte(canonical))
	return sigV4Algorithm + "\n" + amzDate + "\n" + scope + "\n" + hex.EncodeToString(sum[:])
}

func hmacSum(key []byte, data string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(data))
	return h.Sum(nil)
}

// deriveSigningKey is step 3 of reference §8.2.
func deriveSigningKey(secret, date, region, service string) []byte {
	k := hmacSum([]byte("AWS4"+secret), date)
	k = hmacSum(k, region)
	k = hmacSum(k, service)
	return hmacSum(k, "aws4_request")
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}
