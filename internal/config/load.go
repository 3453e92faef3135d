package config

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Load fills a Config from, in increasing priority, Default, the YAML file
// named by --config (or SLUICE_CONFIG), the SLUICE_* variables in environ
// (e.g. os.Environ(); the first occurrence of a name wins, as in os.Getenv)
// and the flags in args, then validates it.
//
// Flags are registered on fs first if RegisterFlags has not done so. A
// malformed flag stops at fs.Parse, as with any Go command, and its error is
// returned wrapped (errors.Is(err, flag.ErrHelp) for -h). Every other problem
// — bad values in the file or the environment, unknown YAML keys, failed
// validation — is collected into one *Error; the Config returned with an
// *Error is filled as far as possible, for diagnostics.
func Load(fs *flag.FlagSet, args []string, environ []string) (Config, error) {
	scratch := Default()
	scratch.RegisterFlags(fs) // no-op for flags already registered
	if err := fs.Parse(args); err != nil {
		return Config{}, fmt.Errorf("config: parsing flags: %w", err)
	}

	cfg := Default()
	src := make(map[string]string) // setting name → where its value came from
	var probs []Problem
	env := envMap(environ)

	path, fromFlag := "", false
	fs.Visit(func(f *flag.Flag) {
		if f.Name == configFlag {
			path, fromFlag = f.Value.String(), true
		}
	})
	if !fromFlag {
		path = env[configEnv]
	}
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			probs = append(probs, Problem{Source: path, Message: fmt.Sprintf("reading config file: %v", err)})
		} else {
			probs = append(probs, applyYAML(&cfg, path, data, src)...)
		}
	}

	for i := range settings {
		s := &settings[i]
		v, ok := env[s.env()]
		if !ok {
			continue
		}
		if err := s.set(&cfg, v); err != nil {
			probs = append(probs, Problem{Setting: s.name, Source: s.env(), Message: err.Error()})
			continue
		}
		src[s.name] = s.env()
	}

	// The flag values were parsed into whichever Config they were bound to
	// (ours above, or the caller's); copy only those the user set.
	fs.Visit(func(f *flag.Flag) {
		fv, ok := f.Value.(*flagValue)
		if !ok || fv.s == nil || fv.c == nil {
			return
		}
		fv.s.copy(&cfg, fv.c)
		src[fv.s.name] = "--" + fv.s.name
	})

	probs = append(probs, cfg.problems(src)...)
	if len(probs) > 0 {
		return cfg, &Error{Problems: probs}
	}
	return cfg, nil
}

// envMap indexes environ ("NAME=value" entries) by name; the first
// occurrence wins, matching os.Getenv.
func envMap(environ []string) map[string]string {
	m := make(map[string]string)
	for _, kv := range environ {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(k, "SLUICE_") {
			continue
		}
		if _, dup := m[k]; !dup {
			m[k] = v
		}
	}
	return m
}

// UnknownEnv returns the SLUICE_* variables in environ that name no setting,
// sorted, so that a caller can warn about typos. They are not errors: other
// tools may share the prefix.
func UnknownEnv(environ []string) []string {
	var out []string
	for k := range envMap(environ) {
		if k == configEnv {
			continue
		}
		known := false
		for i := range settings {
			if settings[i].env() == k {
				known = true
				break
			}
		}
		if !known {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// applyYAML reads a YAML mapping of setting keys to values into c. It is
// strict: unknown and duplicate keys are problems with their line and column,
// and so are values of the wrong shape.
func applyYAML(c *Config, path string, data []byte, src map[string]string) []Problem {
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil // empty file: nothing to set
		}
		return []Problem{{Source: path, Message: fmt.Sprintf("parsing YAML: %v", err)}}
	}
	var probs []Problem
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		probs = append(probs, Problem{Source: pos(path, &extra), Message: "more than one YAML document; put every setting in the first"})
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		return probs // a file of comments only
	}
	if root.Kind != yaml.MappingNode {
		return append(probs, Problem{Source: pos(path, root), Message: "the top level must be a mapping of setting keys to values, e.g. \"http_addr: 127.0.0.1:7410\""})
	}
	seen := make(map[string]string)
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		at := pos(path, k)
		s := byYAMLKey(k.Value)
		if s == nil {
			msg := fmt.Sprintf("unknown key %q", k.Value)
			if hint := suggestKey(k.Value); hint != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", hint)
			}
			probs = append(probs, Problem{Source: at, Message: msg})
			continue
		}
		if prev, dup := seen[s.name]; dup {
			probs = append(probs, Problem{Setting: s.name, Source: at, Message: "set twice in the file (first at " + prev + ")"})
			continue
		}
		seen[s.name] = at
		if v.Kind == yaml.AliasNode && v.Alias != nil {
			v = v.Alias
		}
		vat := pos(path, v)
		var err error
		switch v.Kind {
		case yaml.ScalarNode:
			text := v.Value
			if v.Tag == "!!null" {
				text = ""
			}
			err = s.set(c, text)
		case yaml.SequenceNode:
			if s.add == nil {
				err = errors.New("takes a single value, not a list")
				break
			}
			if err = s.set(c, ""); err != nil {
				break
			}
			for _, item := range v.Content {
				if item.Kind != yaml.ScalarNode {
					err = fmt.Errorf("list item at %s must be a string", pos(path, item))
					break
				}
				if err = s.add(c, item.Value); err != nil {
					vat = pos(path, item)
					break
				}
			}
		default:
			err = errors.New("takes a single value, not a mapping")
		}
		if err != nil {
			probs = append(probs, Problem{Setting: s.name, Source: vat, Message: err.Error()})
			continue
		}
		src[s.name] = vat
	}
	return probs
}

func pos(path string, n *yaml.Node) string {
	if n == nil || n.Line == 0 {
		return path
	}
	return fmt.Sprintf("%s:%d:%d", path, n.Line, n.Column)
}

func byYAMLKey(key string) *setting {
	for i := range settings {
		if settings[i].yamlKey() == key {
			return &settings[i]
		}
	}
	return nil
}

// suggestKey returns the known YAML key closest to an unknown one (flag
// spelling, case, or a small typo), or "".
func suggestKey(key string) string {
	norm := strings.ToLower(strings.ReplaceAll(strings.TrimLeft(key, "-"), "-", "_"))
	best, bestD := "", 3 // suggest only within edit distance 2
	for i := range settings {
		k := settings[i].yamlKey()
		if k == norm {
			return k
		}
		if d := editDistance(norm, k); d < bestD {
			best, bestD = k, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b (bytes).
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
