package lake

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"
)

// Error output types (Firehose's names for the stage that failed), the
// values of !{firehose:error-output-type}.
const (
	// ErrorProcessingFailed: the event is not a single-line JSON object, so
	// it cannot be a line of a JSON Lines object.
	ErrorProcessingFailed = "processing-failed"
	// ErrorFormatConversionFailed: the event cannot be converted to a
	// Parquet row (it is not a JSON object).
	ErrorFormatConversionFailed = "format-conversion-failed"
)

// maxPrefixLen is Firehose's limit on an evaluated prefix.
const maxPrefixLen = 512

// defaultTimestampSuffix is appended to a prefix without a timestamp
// expression, as Firehose does.
const defaultTimestampSuffix = "!{timestamp:yyyy/MM/dd/HH/}"

// Prefix is a compiled Firehose object key prefix: literal text,
// !{timestamp:PATTERN} (Java DateTimeFormatter letters y, M, d, H, m, s and
// 'quoted' literals), !{firehose:random-string} (11 characters, a new value
// at each use) and, in error prefixes, !{firehose:error-output-type}.
//
// Every timestamp expression of one prefix evaluates the same instant, in
// UTC. A Prefix is immutable and safe for concurrent use.
type Prefix struct {
	src   string
	parts []prefixPart
	isErr bool
}

type partKind uint8

const (
	partLiteral partKind = iota
	partYear             // width = minimum digits; 2 = two-digit year
	partMonth
	partDay
	partHour
	partMinute
	partSecond
	partRandom
	partErrorType
)

type prefixPart struct {
	kind  partKind
	width int
	lit   string
}

// ParsePrefix compiles a prefix. errorPrefix allows (and requires)
// !{firehose:error-output-type}; a normal prefix may not use it. As in
// Firehose, a prefix without any timestamp expression gets
// !{timestamp:yyyy/MM/dd/HH/} appended.
func ParsePrefix(s string, errorPrefix bool) (*Prefix, error) {
	p := &Prefix{src: s, isErr: errorPrefix}
	if err := p.parse(s); err != nil {
		return nil, fmt.Errorf("lake: prefix %q: %w", s, err)
	}
	hasTime, hasErrType := false, false
	for _, part := range p.parts {
		switch part.kind {
		case partYear, partMonth, partDay, partHour, partMinute, partSecond:
			hasTime = true
		case partErrorType:
			hasErrType = true
		}
	}
	if hasErrType && !errorPrefix {
		return nil, fmt.Errorf("lake: prefix %q: !{firehose:error-output-type} is only allowed in the error prefix", s)
	}
	if errorPrefix && !hasErrType {
		return nil, fmt.Errorf("lake: error prefix %q must contain !{firehose:error-output-type}", s)
	}
	if !hasTime {
		if err := p.parse(defaultTimestampSuffix); err != nil {
			return nil, err
		}
	}
	// The longest evaluation: every field at its widest.
	longest := p.eval(time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC), ErrorFormatConversionFailed, "xxxxxxxxxxx", nil)
	if len(longest) > maxPrefixLen {
		return nil, fmt.Errorf("lake: prefix %q evaluates to up to %d characters, over Firehose's limit of %d", s, len(longest), maxPrefixLen)
	}
	// Object keys are paths under the lake root: they must stay inside it.
	if strings.HasPrefix(longest, "/") || strings.Contains(longest, "\\") {
		return nil, fmt.Errorf("lake: prefix %q must be a relative path with / separators", s)
	}
	for _, seg := range strings.Split(longest, "/") {
		if seg == ".." || seg == "." {
			return nil, fmt.Errorf("lake: prefix %q may not contain %q path segments", s, seg)
		}
	}
	return p, nil
}

// String returns the prefix as written.
func (p *Prefix) String() string { return p.src }

func (p *Prefix) parse(s string) error {
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			p.parts = append(p.parts, prefixPart{kind: partLiteral, lit: lit.String()})
			lit.Reset()
		}
	}
	for len(s) > 0 {
		i := strings.Index(s, "!{")
		if i < 0 {
			lit.WriteString(s)
			break
		}
		lit.WriteString(s[:i])
		s = s[i+2:]
		end := strings.IndexByte(s, '}')
		if end < 0 {
			return errors.New(`unterminated "!{" expression`)
		}
		expr := s[:end]
		s = s[end+1:]
		ns, arg, ok := strings.Cut(expr, ":")
		if !ok {
			return fmt.Errorf("expression !{%s} has no namespace (want timestamp: or firehose:)", expr)
		}
		switch ns {
		case "timestamp":
			flush()
			parts, err := parsePattern(arg)
			if err != nil {
				return fmt.Errorf("!{%s}: %w", expr, err)
			}
			p.parts = append(p.parts, parts...)
		case "firehose":
			flush()
			switch arg {
			case "random-string":
				p.parts = append(p.parts, prefixPart{kind: partRandom})
			case "error-output-type":
				p.parts = append(p.parts, prefixPart{kind: partErrorType})
			default:
				return fmt.Errorf("!{%s}: unknown firehose expression (want random-string or error-output-type)", expr)
			}
		default:
			return fmt.Errorf("!{%s}: unknown namespace %q (dynamic partitioning is not supported)", expr, ns)
		}
	}
	flush()
	return nil
}

// parsePattern compiles a Java DateTimeFormatter pattern restricted to the
// numeric fields a prefix needs. Letters are pattern letters (an unknown
// one is an error, as Java rejects or misreads them); text in single quotes
// is literal, ” is a quote; other characters are literal.
func parsePattern(pat string) ([]prefixPart, error) {
	var parts []prefixPart
	lit := func(s string) {
		if n := len(parts); n > 0 && parts[n-1].kind == partLiteral {
			parts[n-1].lit += s
			return
		}
		parts = append(parts, prefixPart{kind: partLiteral, lit: s})
	}
	for i := 0; i < len(pat); {
		c := pat[i]
		switch {
		case c == '\'':
			if i+1 < len(pat) && pat[i+1] == '\'' {
				lit("'")
				i += 2
				continue
			}
			end := strings.IndexByte(pat[i+1:], '\'')
			if end < 0 {
				return nil, fmt.Errorf("unterminated quote in pattern %q", pat)
			}
			// Inside quotes, '' is a quote too.
			text := pat[i+1 : i+1+end]
			i += end + 2
			for i < len(pat) && pat[i] == '\'' && i+1 < len(pat) {
				next := strings.IndexByte(pat[i+1:], '\'')
				if next < 0 {
					return nil, fmt.Errorf("unterminated quote in pattern %q", pat)
				}
				text += "'" + pat[i+1:i+1+next]
				i += next + 2
			}
			lit(text)
		case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
			n := 1
			for i+n < len(pat) && pat[i+n] == c {
				n++
			}
			var k partKind
			switch c {
			case 'y', 'u':
				k = partYear
			case 'M':
				k = partMonth
			case 'd':
				k = partDay
			case 'H':
				k = partHour
			case 'm':
				k = partMinute
			case 's':
				k = partSecond
			default:
				return nil, fmt.Errorf("pattern letter %q is not supported (use y, M, d, H, m, s; quote literal text)", c)
			}
			if k != partYear && n > 2 {
				return nil, fmt.Errorf("pattern %q: %d %q letters (at most 2; month names are not supported)", pat, n, c)
			}
			parts = append(parts, prefixPart{kind: k, width: n})
			i += n
		case c == '[' || c == ']' || c == '{' || c == '}' || c == '#':
			return nil, fmt.Errorf("pattern character %q is reserved (quote it)", c)
		default:
			lit(string(c))
			i++
		}
	}
	if len(parts) == 0 {
		return nil, errors.New("empty timestamp pattern")
	}
	return parts, nil
}

// Eval evaluates the prefix at t (converted to UTC) for error type errType
// (ignored by a normal prefix).
func (p *Prefix) Eval(t time.Time, errType string) string {
	return p.eval(t, errType, "", nil)
}

// partitionKey is the prefix evaluated without its random strings: two
// events with the same key belong in the same object.
func (p *Prefix) partitionKey(t time.Time, errType string) string {
	return p.eval(t, errType, "*", nil)
}

func (p *Prefix) eval(t time.Time, errType, random string, dst []byte) string {
	t = t.UTC()
	b := dst
	for _, part := range p.parts {
		switch part.kind {
		case partLiteral:
			b = append(b, part.lit...)
		case partYear:
			y := t.Year()
			if part.width == 2 {
				y %= 100
			}
			b = appendPadded(b, y, part.width)
		case partMonth:
			b = appendPadded(b, int(t.Month()), part.width)
		case partDay:
			b = appendPadded(b, t.Day(), part.width)
		case partHour:
			b = appendPadded(b, t.Hour(), part.width)
		case partMinute:
			b = appendPadded(b, t.Minute(), part.width)
		case partSecond:
			b = appendPadded(b, t.Second(), part.width)
		case partRandom:
			if random != "" {
				b = append(b, random...)
			} else {
				b = appendRandom(b)
			}
		case partErrorType:
			b = append(b, errType...)
		}
	}
	return string(b)
}

func appendPadded(b []byte, v, width int) []byte {
	s := strconv.Itoa(v)
	for i := len(s); i < width; i++ {
		b = append(b, '0')
	}
	return append(b, s...)
}

// randomLen is the length of !{firehose:random-string}.
const randomLen = 11

func appendRandom(b []byte) []byte {
	const chars = "abcdefghijklmnopqrstuvwxyz0123456789"
	for range randomLen {
		b = append(b, chars[rand.IntN(len(chars))])
	}
	return b
}
