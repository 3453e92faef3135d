package auth

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Policy is an access policy in the spirit of an AWS IAM identity policy:
// a list of statements, each allowing or denying actions on resources.
//
// Evaluation (Allowed) follows IAM's rules for one identity policy: a
// request is allowed only if some Allow statement matches it and no Deny
// statement does; an explicit Deny always wins, and nothing matching means
// denied.
//
// Matching: Action and Resource patterns may use * (any run of characters,
// also none) and ? (one character). Both are compared without regard to
// case: actions are case-insensitive in IAM, and sluice resolves database
// and table names case-insensitively in SQL, so a case-sensitive Deny could
// be sidestepped by writing a name in another case. ARNs
// (arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE) are compared on SERVICE
// and RESOURCE only: sluice is one region of one account, so the seed's
// statements match whatever region and account id they were written for.
type Policy struct {
	Version   string      `yaml:"Version"`
	Statement []Statement `yaml:"Statement"`
}

// Statement is one IAM-style policy statement.
type Statement struct {
	Sid      string   `yaml:"Sid"`
	Effect   string   `yaml:"Effect"`   // "Allow" or "Deny"
	Action   []string `yaml:"Action"`   // e.g. "kinesis:PutRecords", "timestream:*"
	Resource []string `yaml:"Resource"` // e.g. "arn:aws:timestream:*:*:database/iot/table/*", "*"
}

// Effects of a Statement.
const (
	Allow = "Allow"
	Deny  = "Deny"
)

// AdminPolicy allows every action on every resource.
func AdminPolicy() Policy {
	return Policy{Version: "2012-10-17", Statement: []Statement{{Sid: "Admin", Effect: Allow, Action: []string{"*"}, Resource: []string{"*"}}}}
}

// UnmarshalYAML accepts what IAM accepts: Statement as one object or a
// list, Action and Resource as one string or a list. Unknown fields
// (Condition, NotAction, Principal, ...) are errors rather than being
// ignored, so that a policy never grants more than it appears to.
func (p *Policy) UnmarshalYAML(n *yaml.Node) error {
	var raw struct {
		Version   string    `yaml:"Version"`
		Statement yaml.Node `yaml:"Statement"`
	}
	if err := decodeStrict(n, &raw, "Version", "Statement"); err != nil {
		return err
	}
	p.Version = raw.Version
	p.Statement = nil
	switch raw.Statement.Kind {
	case 0:
		return errors.New("policy has no Statement")
	case yaml.MappingNode:
		var s Statement
		if err := s.decode(&raw.Statement); err != nil {
			return err
		}
		p.Statement = append(p.Statement, s)
	case yaml.SequenceNode:
		for i, sn := range raw.Statement.Content {
			var s Statement
			if err := s.decode(sn); err != nil {
				return fmt.Errorf("Statement %d: %w", i+1, err)
			}
			p.Statement = append(p.Statement, s)
		}
	default:
		return fmt.Errorf("line %d: Statement must be a statement or a list of statements", raw.Statement.Line)
	}
	return p.Validate()
}

func (s *Statement) decode(n *yaml.Node) error {
	var raw struct {
		Sid      string    `yaml:"Sid"`
		Effect   string    `yaml:"Effect"`
		Action   yaml.Node `yaml:"Action"`
		Resource yaml.Node `yaml:"Resource"`
	}
	if err := decodeStrict(n, &raw, "Sid", "Effect", "Action", "Resource"); err != nil {
		return err
	}
	var err error
	s.Sid, s.Effect = raw.Sid, raw.Effect
	if s.Action, err = stringList(&raw.Action, "Action"); err != nil {
		return err
	}
	if s.Resource, err = stringList(&raw.Resource, "Resource"); err != nil {
		return err
	}
	return nil
}

// decodeStrict decodes n into v, refusing keys other than known.
func decodeStrict(n *yaml.Node, v any, known ...string) error {
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: expected a mapping", n.Line)
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k := n.Content[i]; !slices.Contains(known, k.Value) {
			return fmt.Errorf("line %d: %q is not supported here (known: %s)", k.Line, k.Value, strings.Join(known, ", "))
		}
	}
	return n.Decode(v)
}

func stringList(n *yaml.Node, name string) ([]string, error) {
	switch n.Kind {
	case 0:
		return nil, fmt.Errorf("statement has no %s", name)
	case yaml.ScalarNode:
		return []string{n.Value}, nil
	case yaml.SequenceNode:
		out := make([]string, 0, len(n.Content))
		for _, c := range n.Content {
			if c.Kind != yaml.ScalarNode {
				return nil, fmt.Errorf("line %d: %s items must be strings", c.Line, name)
			}
			out = append(out, c.Value)
		}
		return out, nil
	}
	return nil, fmt.Errorf("line %d: %s must be a string or a list of strings", n.Line, name)
}

// Validate checks that every statement has an effect, actions and resources.
func (p *Policy) Validate() error {
	if len(p.Statement) == 0 {
		return errors.New("policy has no Statement")
	}
	for i, s := range p.Statement {
		if s.Effect != Allow && s.Effect != Deny {
			return fmt.Errorf("Statement %d: Effect must be %q or %q, got %q", i+1, Allow, Deny, s.Effect)
		}
		if len(s.Action) == 0 {
			return fmt.Errorf("Statement %d: no Action", i+1)
		}
		if len(s.Resource) == 0 {
			return fmt.Errorf("Statement %d: no Resource (use \"*\" for all)", i+1)
		}
		for _, a := range s.Action {
			if a != "*" && !strings.Contains(a, ":") {
				return fmt.Errorf("Statement %d: Action %q is not service:action (e.g. kinesis:PutRecords) or *", i+1, a)
			}
		}
	}
	return nil
}

// Allowed reports whether the policy allows action on resource: some Allow
// statement matches and no Deny statement does.
func (p *Policy) Allowed(action, resource string) bool {
	allowed := false
	for i := range p.Statement {
		s := &p.Statement[i]
		if !s.matches(action, resource) {
			continue
		}
		if s.Effect == Deny {
			return false
		}
		allowed = true
	}
	return allowed
}

// AllowsSomewhere reports whether some Allow statement names action,
// whatever its resources; it answers "may this key use this door at all"
// before a concrete resource is known. A Deny matters only if it denies the
// action on every resource ("*").
func (p *Policy) AllowsSomewhere(action string) bool {
	allowed := false
	for i := range p.Statement {
		s := &p.Statement[i]
		if !matchAny(s.Action, action, false) {
			continue
		}
		if s.Effect == Deny {
			for _, r := range s.Resource {
				if r == "*" {
					return false
				}
			}
			continue
		}
		allowed = true
	}
	return allowed
}

func (s *Statement) matches(action, resource string) bool {
	return matchAny(s.Action, action, false) && matchAny(s.Resource, resource, true)
}

func matchAny(patterns []string, s string, arn bool) bool {
	for _, p := range patterns {
		if arn {
			if matchResource(p, s) {
				return true
			}
		} else if wildMatch(p, s) {
			return true
		}
	}
	return false
}

// matchResource matches a resource pattern against a resource, comparing
// ARNs on service and resource only (see Policy).
func matchResource(pattern, resource string) bool {
	if pattern == "*" {
		return true
	}
	ps, pr, pok := splitARN(pattern)
	rs, rr, rok := splitARN(resource)
	if pok && rok {
		return wildMatch(ps, rs) && wildMatch(pr, rr)
	}
	return wildMatch(pattern, resource)
}

// splitARN returns the service and resource of arn:P:S:R:A:RESOURCE.
func splitARN(s string) (service, resource string, ok bool) {
	parts := strings.SplitN(s, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" {
		return "", "", false
	}
	return parts[2], parts[5], true
}

// wildMatch reports whether s matches pattern, where * matches any run of
// characters and ? one character, ASCII case folded. It runs in
// O(len(pattern)*len(s)) at worst (the usual greedy algorithm with one
// backtracking point), so hostile patterns cannot blow it up.
func wildMatch(pattern, s string) bool {
	p, i := 0, 0
	star, mark := -1, 0
	for i < len(s) {
		switch {
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, i
			p++
		case p < len(pattern) && (pattern[p] == '?' || lower(pattern[p]) == lower(s[i])):
			p++
			i++
		case star >= 0:
			p = star + 1
			mark++
			i = mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}
