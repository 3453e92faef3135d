// Package auth is sluice's access control: access keys (an administrator
// key from the configuration, more from a keys file), an IAM-style policy
// per key, verification of AWS Signature Version 4 (header and presigned
// forms), and the checks that guard each door once keys are configured:
// the native HTTP API (Guard: SigV4, HTTP Basic or "Bearer id:secret"),
// MQTT (MQTTHook: username and password) and the PostgreSQL wire protocol
// (PGPassword: user and password). The AWS-compatible APIs call
// Authenticate through their own Authorizer interface.
//
// Concurrency: a Service is immutable after New except for its signing-key
// cache, which is guarded by a mutex; every method is safe for concurrent
// use.
//
// Invariants: secrets are never logged or printed (Secret masks itself in
// every format; errors never contain one); secrets and signatures are
// compared in constant time; a request is allowed only if an Allow
// statement matches and no Deny does (deny wins, default deny); with keys
// configured, a request without credentials is refused unless
// AllowUnsigned is set, and a wrong credential is refused even then.
package auth

import (
	"crypto/hmac"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"
)

// Principal is an authenticated caller: what it may do and which key it
// used. It has the method set of internal/awsapi's Principal.
type Principal interface {
	// Allow reports whether the caller may do action ("kinesis:PutRecords")
	// on resource (an ARN such as "arn:aws:kinesis:REGION:ACCOUNT:stream/NAME").
	Allow(action, resource string) bool
	// AccessKeyID is the key the caller authenticated with ("anonymous"
	// for unsigned access).
	AccessKeyID() string
}

// Caller is the Principal that Service returns.
type Caller struct {
	key *Key
	// Region and Service are the SigV4 credential scope's; empty for
	// other kinds of credential.
	Region, Service string
}

// AccessKeyID returns the id of the caller's key.
func (c *Caller) AccessKeyID() string { return c.key.ID }

// Allow reports whether the caller's policy allows action on resource.
func (c *Caller) Allow(action, resource string) bool { return c.key.Allow(action, resource) }

// AllowsSomewhere reports whether the caller may do action on some resource.
func (c *Caller) AllowsSomewhere(action string) bool { return c.key.AllowsSomewhere(action) }

// Anonymous is the id of the caller of unsigned requests when they are
// allowed (no keys configured, or AllowUnsigned).
const Anonymous = "anonymous"

// Options configure a Service. With no admin key and no keys the Service
// is open: every request is admitted with full access (Enabled is false).
type Options struct {
	// AdminKeyID and AdminSecret form the administrator key, allowed
	// everything.
	AdminKeyID  string
	AdminSecret Secret
	// Keys are further keys with their policies (see LoadKeys).
	Keys []*Key
	// AllowUnsigned admits requests that carry no credential at all, with
	// full access, even when keys are configured (loopback dev setups).
	// Requests that carry a wrong credential are still refused.
	AllowUnsigned bool
	// Now is the clock (default time.Now), for tests.
	Now func() time.Time
	// Logger receives refusals at debug level; nil discards.
	Logger *slog.Logger
}

// Service authenticates callers and answers policy questions.
type Service struct {
	keys          map[string]*Key // set in New, read-only after
	allowUnsigned bool
	now           func() time.Time
	log           *slog.Logger
	anon          *Caller

	mu       sync.Mutex
	sigCache map[string][]byte // keyID/date/region/service → signing key
}

// New returns a Service over the admin key and keys of opts.
func New(opts Options) (*Service, error) {
	s := &Service{
		keys:          map[string]*Key{},
		allowUnsigned: opts.AllowUnsigned,
		now:           opts.Now,
		log:           opts.Logger,
		anon:          &Caller{key: &Key{ID: Anonymous, Policy: AdminPolicy()}},
		sigCache:      map[string][]byte{},
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if opts.AdminKeyID != "" || !opts.AdminSecret.IsZero() {
		if err := checkKeyID(opts.AdminKeyID); err != nil {
			return nil, fmt.Errorf("auth: admin key: %w", err)
		}
		if opts.AdminSecret.IsZero() {
			return nil, errors.New("auth: admin key has no secret")
		}
		s.keys[opts.AdminKeyID] = &Key{ID: opts.AdminKeyID, Secret: opts.AdminSecret, Description: "administrator (aws-access-key-id)", Policy: AdminPolicy()}
	}
	for _, k := range opts.Keys {
		if err := checkKeyID(k.ID); err != nil {
			return nil, fmt.Errorf("auth: key %q: %w", k.ID, err)
		}
		if k.Secret.IsZero() {
			return nil, fmt.Errorf("auth: key %q has no secret", k.ID)
		}
		if err := k.Policy.Validate(); err != nil {
			return nil, fmt.Errorf("auth: key %q: %w", k.ID, err)
		}
		if _, dup := s.keys[k.ID]; dup {
			return nil, fmt.Errorf("auth: key %q is configured twice (keys file and aws-access-key-id?)", k.ID)
		}
		s.keys[k.ID] = k
	}
	return s, nil
}

// Enabled reports whether keys are configured, i.e. whether the doors are
// guarded at all.
func (s *Service) Enabled() bool { return s != nil && len(s.keys) > 0 }

// AllowUnsigned reports whether requests without credentials are admitted.
func (s *Service) AllowUnsigned() bool { return s == nil || !s.Enabled() || s.allowUnsigned }

// Keys returns the number of configured keys.
func (s *Service) Keys() int { return len(s.keys) }

// Authenticate verifies r's SigV4 signature over body (the raw request
// body) and returns the caller. Errors are *Error with the AWS code:
// MissingAuthenticationTokenException (no signature),
// IncompleteSignatureException (malformed), UnrecognizedClientException
// (unknown key), InvalidSignatureException (wrong signature, expired or
// not yet valid). With no keys configured, or with AllowUnsigned and no
// signature, the anonymous full-access caller is returned.
func (s *Service) Authenticate(r *http.Request, body []byte) (Principal, error) {
	c, err := s.authenticateSigV4(r, body)
	if err != nil {
		return nil, err
	}
	return c, nil
}

func (s *Service) authenticateSigV4(r *http.Request, body []byte) (*Caller, error) {
	var sig *sigV4
	var perr *Error
	switch {
	case r.Header.Get("Authorization") != "":
		sig, perr = parseAuthorization(r.Header.Get("Authorization"))
	case r.URL.Query().Has("X-Amz-Signature") || r.URL.Query().Has("X-Amz-Credential") || r.URL.Query().Has("X-Amz-Algorithm"):
		sig, perr = parsePresigned(r.URL.Query())
	default:
		if s.AllowUnsigned() {
			return s.anon, nil
		}
		return nil, errMissing
	}
	if !s.Enabled() {
		// Open server: like the AWS emulators, accept any signature but
		// keep the scope, which callers may use for region routing.
		c := &Caller{key: s.anon.key}
		if sig != nil {
			c.Region, c.Service = sig.region, sig.service
		}
		return c, nil
	}
	if perr != nil {
		return nil, s.refuse(r, perr)
	}
	key := s.keys[sig.keyID]
	if key == nil {
		return nil, s.refuse(r, errUnrecognized)
	}
	t, stamp, perr := sig.requestTime(r)
	if perr != nil {
		return nil, s.refuse(r, perr)
	}
	if perr := sig.checkTime(t, s.now(), stamp); perr != nil {
		return nil, s.refuse(r, perr)
	}
	hashes, perr := payloadHashes(r, body, sig.presigned)
	if perr != nil {
		return nil, s.refuse(r, perr)
	}
	signingKey := s.signingKey(key, sig)
	scope := sig.scope()
	for _, h := range hashes {
		want := hmacSum(signingKey, stringToSign(stamp, scope, canonicalRequest(r, sig, h)))
		got := make([]byte, 32)
		if _, err := hexDecode(got, sig.signature); err == nil && hmac.Equal(want, got) {
			return &Caller{key: key, Region: sig.region, Service: sig.service}, nil
		}
	}
	return nil, s.refuse(r, errMismatch)
}

func hexDecode(dst []byte, s string) (int, error) {
	if len(s) != 2*len(dst) {
		return 0, errors.New("bad length")
	}
	for i := range dst {
		hi, ok1 := unhex(s[2*i])
		lo, ok2 := unhex(s[2*i+1])
		if !ok1 || !ok2 {
			return 0, errors.New("bad digit")
		}
		dst[i] = hi<<4 | lo
	}
	return len(dst), nil
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

func (s *Service) refuse(r *http.Request, e *Error) *Error {
	s.log.Debug("auth: request refused", "code", e.Code, "message", e.Message, "remote", r.RemoteAddr, "path", r.URL.Path)
	return e
}

// signingKey returns the derived key of key for sig's scope, cached: it
// changes once a day per region and service.
func (s *Service) signingKey(key *Key, sig *sigV4) []byte {
	ck := key.ID + "/" + sig.date + "/" + sig.region + "/" + sig.service
	s.mu.Lock()
	k, ok := s.sigCache[ck]
	s.mu.Unlock()
	if ok {
		return k
	}
	k = deriveSigningKey(key.Secret.Reveal(), sig.date, sig.region, sig.service)
	s.mu.Lock()
	if len(s.sigCache) >= 4096 { // bounded: scopes come from clients
		clear(s.sigCache)
	}
	s.sigCache[ck] = k
	s.mu.Unlock()
	return k
}

// CheckSecret authenticates a key id and secret given as a password (HTTP
// Basic, Bearer, MQTT, PostgreSQL cleartext). An unknown id costs the same
// comparison as a wrong secret.
func (s *Service) CheckSecret(id, secret string) (*Caller, error) {
	if !s.Enabled() {
		return s.anon, nil
	}
	key := s.keys[id]
	want := "\x00no such key: compare against something anyway"
	if key != nil {
		want = key.Secret.Reveal()
	}
	if subtle.ConstantTimeCompare([]byte(secret), []byte(want)) != 1 || key == nil {
		return nil, errBadPassword
	}
	return &Caller{key: key}, nil
}

// Key returns the key with the given id, or nil. Callers that need the
// secret (PostgreSQL SCRAM derives a verifier from it) read Key.Secret.
func (s *Service) Key(id string) *Key {
	if s == nil {
		return nil
	}
	return s.keys[id]
}

// AnonymousCaller returns the full-access caller used for unsigned access.
func (s *Service) AnonymousCaller() *Caller { return s.anon }
