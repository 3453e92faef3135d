package auth

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Secret is a secret access key. It prints as REDACTED in every format
// (String, GoString, LogValue, text and JSON marshalling), so that a key
// logged or dumped by accident leaks nothing; use Reveal to get the value.
type Secret struct{ s string }

// NewSecret wraps a secret access key.
func NewSecret(s string) Secret { return Secret{s} }

// Reveal returns the secret itself, for signing and comparing.
func (s Secret) Reveal() string { return s.s }

// IsZero reports whether the secret is empty.
func (s Secret) IsZero() bool { return s.s == "" }

func (s Secret) String() string               { return redacted(s.s) }
func (s Secret) GoString() string             { return `auth.Secret("` + redacted(s.s) + `")` }
func (s Secret) LogValue() slog.Value         { return slog.StringValue(redacted(s.s)) }
func (s Secret) MarshalText() ([]byte, error) { return []byte(redacted(s.s)), nil }
func (s Secret) Format(f fmt.State, verb rune) {
	_, _ = f.Write([]byte(redacted(s.s)))
}

func redacted(s string) string {
	if s == "" {
		return ""
	}
	return "REDACTED"
}

// Key is one access key: its id, its secret and what it may do.
type Key struct {
	ID          string
	Secret      Secret
	Description string
	Policy      Policy
}

// AccessKeyID returns the key's id.
func (k *Key) AccessKeyID() string { return k.ID }

// Allow reports whether the key's policy allows action on resource.
func (k *Key) Allow(action, resource string) bool { return k.Policy.Allowed(action, resource) }

// AllowsSomewhere reports whether the key may do action on some resource.
func (k *Key) AllowsSomewhere(action string) bool { return k.Policy.AllowsSomewhere(action) }

// LogValue logs the id and description, never the secret.
func (k *Key) LogValue() slog.Value {
	return slog.GroupValue(slog.String("access_key_id", k.ID), slog.String("description", k.Description))
}

// keysFile is the YAML layout of --keys-file (docs/security.md).
type keysFile struct {
	Keys []struct {
		AccessKeyID     string  `yaml:"access_key_id"`
		SecretAccessKey string  `yaml:"secret_access_key"`
		Description     string  `yaml:"description"`
		Policy          *Policy `yaml:"policy"`
	} `yaml:"keys"`
}

// ParseKeys reads a keys file's contents. Every key needs an id, a secret
// and a policy; ids must be unique.
func ParseKeys(data []byte) ([]*Key, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var f keysFile
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("keys file: %w", err)
	}
	if len(f.Keys) == 0 {
		return nil, errors.New("keys file: no keys (expected a top-level keys: list)")
	}
	seen := map[string]bool{}
	keys := make([]*Key, 0, len(f.Keys))
	for i, k := range f.Keys {
		where := fmt.Sprintf("keys file: key %d", i+1)
		if k.AccessKeyID != "" {
			where += " (" + k.AccessKeyID + ")"
		}
		if err := checkKeyID(k.AccessKeyID); err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		if k.SecretAccessKey == "" {
			return nil, fmt.Errorf("%s: secret_access_key is missing", where)
		}
		if k.Policy == nil {
			return nil, fmt.Errorf("%s: policy is missing (a key without a policy could do nothing)", where)
		}
		if seen[k.AccessKeyID] {
			return nil, fmt.Errorf("%s: access_key_id appears twice", where)
		}
		seen[k.AccessKeyID] = true
		keys = append(keys, &Key{ID: k.AccessKeyID, Secret: NewSecret(k.SecretAccessKey), Description: k.Description, Policy: *k.Policy})
	}
	return keys, nil
}

// LoadKeys reads and parses a keys file.
func LoadKeys(path string) ([]*Key, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading keys file: %w", err)
	}
	keys, err := ParseKeys(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return keys, nil
}

// checkKeyID refuses ids that would break one of the places an id travels:
// the SigV4 credential scope (split on "/"), HTTP Basic (split on ":"),
// headers and PostgreSQL user names.
func checkKeyID(id string) error {
	if id == "" {
		return errors.New("access_key_id is missing")
	}
	if len(id) > 128 {
		return errors.New("access_key_id is longer than 128 characters")
	}
	if strings.ContainsFunc(id, func(r rune) bool {
		return !(r == '_' || r == '-' || r == '.' || ('a' <= r && r <= 'z') || ('A' <= r && r <= 'Z') || ('0' <= r && r <= '9'))
	}) {
		return errors.New("access_key_id may contain only letters, digits, '_', '-' and '.'")
	}
	return nil
}
