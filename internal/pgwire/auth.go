package pgwire

import (
	"bytes"
	"crypto/hmac"
	"crypto/md5"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5/pgproto3"
)

// Authentication methods for Options.AuthMethod.
const (
	AuthTrust    = "trust"
	AuthPassword = "password" // cleartext; use it only over TLS
	AuthMD5      = "md5"
	AuthSCRAM    = "scram-sha-256"
)

const scramIterations = 4096

// errAuthFailed is returned for any failed authentication; the client sees
// the same message whether the user is unknown or the password wrong.
var errAuthFailed = errors.New("password authentication failed")

// scramVerifier is what a PostgreSQL server stores for a SCRAM user.
type scramVerifier struct {
	password  string // what it was derived from, to notice a change
	salt      []byte
	storedKey []byte
	serverKey []byte
}

// scramCache keeps one verifier per user so that PBKDF2 (4096 rounds) runs
// once per user and password rather than once per connection.
type scramCache struct {
	mu sync.Mutex
	m  map[string]*scramVerifier
}

func (c *scramCache) get(user, password string) *scramVerifier {
	c.mu.Lock()
	defer c.mu.Unlock()
	if v := c.m[user]; v != nil && v.password == password {
		return v
	}
	v := newScramVerifier(password, nil)
	if c.m == nil {
		c.m = map[string]*scramVerifier{}
	}
	if len(c.m) > 10000 { // users come from Options.Passwords; bound it anyway
		clear(c.m)
	}
	c.m[user] = v
	return v
}

func newScramVerifier(password string, salt []byte) *scramVerifier {
	if salt == nil {
		salt = make([]byte, 16)
		_, _ = rand.Read(salt)
	}
	salted, _ := pbkdf2.Key(sha256.New, password, salt, scramIterations, sha256.Size)
	clientKey := hmacSHA256(salted, "Client Key")
	stored := sha256.Sum256(clientKey)
	return &scramVerifier{password: password, salt: salt, storedKey: stored[:], serverKey: hmacSHA256(salted, "Server Key")}
}

func hmacSHA256(key []byte, msg string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(msg))
	return h.Sum(nil)
}

// authenticate runs the configured method for user. It returns nil on
// success, errAuthFailed for a wrong password or unknown user, and another
// error when the client broke the protocol or the connection failed.
func (c *conn) authenticate(user string) error {
	s := c.srv
	if s.opts.Passwords == nil || s.opts.AuthMethod == AuthTrust {
		return nil
	}
	password, known := s.opts.Passwords(user)
	switch s.opts.AuthMethod {
	case AuthPassword:
		if err := c.sendAuth(&pgproto3.AuthenticationCleartextPassword{}, pgproto3.AuthTypeCleartextPassword); err != nil {
			return err
		}
		got, err := c.receivePassword()
		if err != nil {
			return err
		}
		if !known || subtle.ConstantTimeCompare([]byte(got), []byte(password)) != 1 {
			return errAuthFailed
		}
		return nil
	case AuthMD5:
		var salt [4]byte
		_, _ = rand.Read(salt[:])
		if err := c.sendAuth(&pgproto3.AuthenticationMD5Password{Salt: salt}, pgproto3.AuthTypeMD5Password); err != nil {
			return err
		}
		got, err := c.receivePassword()
		if err != nil {
			return err
		}
		if !known || subtle.ConstantTimeCompare([]byte(got), []byte(md5Response(user, password, salt))) != 1 {
			return errAuthFailed
		}
		return nil
	default: // AuthSCRAM
		var v *scramVerifier
		if known {
			v = s.scram.get(user, password)
		} else {
			// Go through the whole exchange with a throwaway verifier so
			// that an unknown user looks like a wrong password.
			v = newScramVerifier(string(randBytes(18)), nil)
		}
		return c.scram(v)
	}
}

func randBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

// md5Response is what a client sends for MD5 authentication:
// "md5" + hex(md5(hex(md5(password + user)) + salt)).
func md5Response(user, password string, salt [4]byte) string {
	inner := md5.Sum([]byte(password + user))
	h := hex.EncodeToString(inner[:])
	outer := md5.Sum(append([]byte(h), salt[:]...))
	return "md5" + hex.EncodeToString(outer[:])
}

func (c *conn) sendAuth(msg pgproto3.BackendMessage, authType uint32) error {
	if err := c.be.SetAuthType(authType); err != nil {
		return err
	}
	c.send(msg)
	return c.flush()
}

func (c *conn) receivePassword() (string, error) {
	msg, err := c.be.Receive()
	if err != nil {
		return "", err
	}
	pm, ok := msg.(*pgproto3.PasswordMessage)
	if !ok {
		return "", fmt.Errorf("expected a password message, got %T", msg)
	}
	return pm.Password, nil
}

// scram runs the server side of SCRAM-SHA-256 (RFC 5802, RFC 7677) as
// PostgreSQL does: the user name in the client's first message is ignored
// (the startup user counts), no channel binding is offered, so a client on
// TLS sends the GS2 flag "y" and one without sends "n".
func (c *conn) scram(v *scramVerifier) error {
	if err := c.sendAuth(&pgproto3.AuthenticationSASL{AuthMechanisms: []string{"SCRAM-SHA-256"}}, pgproto3.AuthTypeSASL); err != nil {
		return err
	}
	msg, err := c.be.Receive()
	if err != nil {
		return err
	}
	init, ok := msg.(*pgproto3.SASLInitialResponse)
	if !ok {
		return fmt.Errorf("expected SASLInitialResponse, got %T", msg)
	}
	if init.AuthMechanism != "SCRAM-SHA-256" {
		return fmt.Errorf("unsupported SASL mechanism %q", init.AuthMechanism)
	}
	gs2, clientFirstBare, clientNonce, err := parseClientFirst(string(init.Data))
	if err != nil {
		return err
	}
	nonce := clientNonce + base64.RawStdEncoding.EncodeToString(randBytes(18))
	serverFirst := "r=" + nonce + ",s=" + base64.StdEncoding.EncodeToString(v.salt) + fmt.Sprintf(",i=%d", scramIterations)
	if err := c.sendAuth(&pgproto3.AuthenticationSASLContinue{Data: []byte(serverFirst)}, pgproto3.AuthTypeSASLContinue); err != nil {
		return err
	}
	msg, err = c.be.Receive()
	if err != nil {
		return err
	}
	resp, ok := msg.(*pgproto3.SASLResponse)
	if !ok {
		return fmt.Errorf("expected SASLResponse, got %T", msg)
	}
	final := string(resp.Data)
	i := strings.LastIndex(final, ",p=")
	if i < 0 {
		return errors.New("SCRAM client-final-message has no proof")
	}
	withoutProof, proofB64 := final[:i], final[i+3:]
	var channel, gotNonce string
	for _, attr := range strings.Split(withoutProof, ",") {
		switch {
		case strings.HasPrefix(attr, "c="):
			channel = attr[2:]
		case strings.HasPrefix(attr, "r="):
			gotNonce = attr[2:]
		}
	}
	if channel != base64.StdEncoding.EncodeToString([]byte(gs2)) {
		return errors.New("SCRAM channel binding data does not match")
	}
	if gotNonce != nonce {
		return errors.New("SCRAM nonce does not match")
	}
	proof, err := base64.StdEncoding.DecodeString(proofB64)
	if err != nil || len(proof) != sha256.Size {
		return errors.New("malformed SCRAM proof")
	}
	authMessage := clientFirstBare + "," + serverFirst + "," + withoutProof
	clientSig := hmacSHA256(v.storedKey, authMessage)
	clientKey := make([]byte, sha256.Size)
	for k := range clientKey {
		clientKey[k] = proof[k] ^ clientSig[k]
	}
	stored := sha256.Sum256(clientKey)
	if subtle.ConstantTimeCompare(stored[:], v.storedKey) != 1 {
		return errAuthFailed
	}
	serverSig := hmacSHA256(v.serverKey, authMessage)
	c.send(&pgproto3.AuthenticationSASLFinal{Data: []byte("v=" + base64.StdEncoding.EncodeToString(serverSig))})
	return nil // AuthenticationOk follows
}

// parseClientFirst splits "n,,n=user,r=nonce" into the GS2 header, the
// bare message and the client nonce.
func parseClientFirst(m string) (gs2, bare, nonce string, err error) {
	parts := strings.SplitN(m, ",", 3)
	if len(parts) != 3 {
		return "", "", "", errors.New("malformed SCRAM client-first-message")
	}
	switch {
	case parts[0] == "n" || parts[0] == "y":
	case strings.HasPrefix(parts[0], "p="):
		return "", "", "", errors.New("SCRAM channel binding was not offered")
	default:
		return "", "", "", errors.New("malformed SCRAM GS2 header")
	}
	if parts[1] != "" {
		return "", "", "", errors.New("SCRAM authorization identity is not supported")
	}
	gs2 = parts[0] + "," + parts[1] + ","
	bare = parts[2]
	for _, attr := range strings.Split(bare, ",") {
		if strings.HasPrefix(attr, "r=") {
			nonce = attr[2:]
		}
		if strings.HasPrefix(attr, "m=") {
			return "", "", "", errors.New("SCRAM extensions are not supported")
		}
	}
	if nonce == "" || !isPrintableNonce(nonce) {
		return "", "", "", errors.New("malformed SCRAM client nonce")
	}
	return gs2, bare, nonce, nil
}

func isPrintableNonce(s string) bool {
	return !bytes.ContainsFunc([]byte(s), func(r rune) bool { return r < 0x21 || r > 0x7e || r == ',' })
}
