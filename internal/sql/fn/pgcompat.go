package fn

// PostgreSQL functions that clients of the wire protocol (Grafana's
// PostgreSQL data source above all) send in their catalog queries:
// quote_ident, parse_ident, string_to_array and the array helpers,
// to_timestamp and TimescaleDB's time_bucket.
//
// The engine has no array type. A one-dimensional array of text is carried
// as a VARCHAR holding PostgreSQL's text form of the array ('{a,"b c",NULL}'),
// which is what PostgreSQL prints for a text[] anyway. The array functions
// and the subscript operator "[]" (x[i], bound by the planner) decode it,
// so the literal '{a,b}' works as an array too, as an untyped literal does
// in PostgreSQL. Only what the catalog queries need is here: no nested
// arrays, no lower bounds other than 1.

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"unicode/utf8"

	"github.com/sluice-dev/sluice/internal/columnar"
)

func init() {
	register("quote_ident", sig(kS, strUnary(kS, func(s string) any { return QuoteIdent(s) }), kS))
	register("parse_ident",
		sig(kS, strRow(kS, func(a []*columnar.Column, i int, out *columnar.Column, _ *Context) error {
			return appendParseIdent(out, str(a[0], i), true)
		}), kS),
		sig(kS, strRow(kS, func(a []*columnar.Column, i int, out *columnar.Column, _ *Context) error {
			return appendParseIdent(out, str(a[0], i), boolv(a[1], i))
		}), kS, kB))
	register("string_to_array",
		sig(kS, stringToArray, kS, kS),
		sig(kS, stringToArray, kS, kS, kS))
	register("array_to_string",
		sig(kS, arrayToString, kS, kS),
		sig(kS, arrayToString, kS, kS, kS))
	register("array_length", sig(kI, arrayBound(func(n int64) int64 { return n }), kS, kI))
	register("array_lower", sig(kI, arrayBound(func(int64) int64 { return 1 }), kS, kI))
	register("array_upper", sig(kI, arrayBound(func(n int64) int64 { return n }), kS, kI))
	register("[]", sig(kS, arraySubscript, kS, kI))
	register("to_timestamp", sig(kTS, rowFunc(kTS, func(a []*columnar.Column, i int, out *columnar.Column, _ *Context) error {
		f := f64(a[0], i)
		if math.IsNaN(f) || math.IsInf(f, 0) || math.Abs(f) > math.MaxInt64/1e9 {
			return fmt.Errorf("to_timestamp: %v is out of range", f)
		}
		out.AppendInt(int64(math.Round(f * 1e9)))
		return nil
	}), kF))
	register("time_bucket",
		sig(kTS, func(a []*columnar.Column, n int, ctx *Context) (*columnar.Column, error) {
			return binFn([]*columnar.Column{a[1], a[0]}, n, ctx)
		}, kIV, kTS),
		sig(kTS, rowFunc(kTS, func(a []*columnar.Column, i int, out *columnar.Column, _ *Context) error {
			// TimescaleDB mode of Grafana's $__timeGroup sends
			// time_bucket('300.000s', ts).
			w, err := ParseInterval(str(a[0], i))
			if err != nil {
				return fmt.Errorf("time_bucket: %w", err)
			}
			if w <= 0 {
				return fmt.Errorf("time_bucket: interval must be positive, got %s", str(a[0], i))
			}
			v := i64(a[1], i)
			r := v % w
			if r < 0 {
				r += w
			}
			out.AppendInt(v - r)
			return nil
		}), kS, kTS))
}

// pgKeywords are PostgreSQL's keywords that are not "unreserved"
// (reserved, column-name and type/function-name keywords, from PostgreSQL
// 15's pg_get_keywords()); quote_ident quotes them.
var pgKeywords = func() map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(`all analyse analyze and any array as asc asymmetric authorization between
		bigint binary bit boolean both case cast char character check coalesce collate collation column
		concurrently constraint create cross current_catalog current_date current_role current_schema
		current_time current_timestamp current_user dec decimal default deferrable desc distinct do else end
		except exists extract false fetch float for foreign freeze from full grant greatest group grouping
		having ilike in initially inner inout int integer intersect interval into is isnull join lateral
		leading least left like limit localtime localtimestamp national natural nchar none normalize not
		notnull null nullif numeric offset on only or order out outer overlaps overlay placing position
		precision primary real references returning right row select session_user setof similar smallint
		some substring symmetric table tablesample then time timestamp to trailing treat trim true union
		unique user using values varchar variadic verbose when where window with xmlattributes xmlconcat
		xmlelement xmlexists xmlforest xmlnamespaces xmlparse xmlpi xmlroot xmlserialize xmltable`) {
		m[w] = true
	}
	return m
}()

// QuoteIdent is PostgreSQL's quote_ident: s unchanged if it is a lower-case
// identifier that is not a keyword, else s in double quotes with quotes
// doubled.
func QuoteIdent(s string) string {
	safe := s != "" && (s[0] >= 'a' && s[0] <= 'z' || s[0] == '_')
	for i := 0; safe && i < len(s); i++ {
		c := s[i]
		safe = c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_'
	}
	if safe && !pgKeywords[s] {
		return s
	}
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}

// ParseIdent is PostgreSQL's parse_ident: it splits a qualified identifier
// such as `iot."Telemetry"` into its parts, folding unquoted parts to lower
// case. Without strict, anything after the last identifier is ignored.
func ParseIdent(s string, strict bool) ([]string, error) {
	var parts []string
	i := 0
	skip := func() {
		for i < len(s) && isPGSpace(s[i]) {
			i++
		}
	}
	skip()
	for {
		var part string
		switch {
		case i < len(s) && s[i] == '"':
			var b strings.Builder
			i++
			for {
				j := strings.IndexByte(s[i:], '"')
				if j < 0 {
					return nil, fmt.Errorf("string is not a valid identifier: %q: unclosed double quotes", s)
				}
				b.WriteString(s[i : i+j])
				i += j + 1
				if i < len(s) && s[i] == '"' {
					b.WriteByte('"')
					i++
					continue
				}
				break
			}
			if b.Len() == 0 {
				return nil, fmt.Errorf("string is not a valid identifier: %q: quoted identifier must not be empty", s)
			}
			part = b.String()
		case i < len(s) && isIdentStart(s, i):
			j := i
			for j < len(s) && isIdentCont(s, j) {
				_, size := utf8.DecodeRuneInString(s[j:])
				j += size
			}
			part = strings.ToLower(s[i:j])
			i = j
		default:
			if len(parts) == 0 {
				return nil, fmt.Errorf("string is not a valid identifier: %q", s)
			}
			return nil, fmt.Errorf("string is not a valid identifier: %q: no valid identifier after \".\"", s)
		}
		parts = append(parts, part)
		skip()
		if i < len(s) && s[i] == '.' {
			i++
			skip()
			continue
		}
		if i < len(s) && strict {
			return nil, fmt.Errorf("string is not a valid identifier: %q", s)
		}
		return parts, nil
	}
}

func isPGSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'
}

func isIdentStart(s string, i int) bool {
	c := s[i]
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c >= utf8.RuneSelf
}

func isIdentCont(s string, i int) bool {
	c := s[i]
	return isIdentStart(s, i) || c >= '0' && c <= '9' || c == '$'
}

func appendParseIdent(out *columnar.Column, s string, strict bool) error {
	parts, err := ParseIdent(s, strict)
	if err != nil {
		return err
	}
	out.AppendString(EncodeArray(parts, nil))
	return nil
}

// EncodeArray formats a one-dimensional text array as PostgreSQL prints
// it: {a,"b c",NULL}. nulls, if not nil, marks NULL elements.
func EncodeArray(vals []string, nulls []bool) string {
	var b strings.Builder
	b.WriteByte('{')
	for i, v := range vals {
		if i > 0 {
			b.WriteByte(',')
		}
		if nulls != nil && nulls[i] {
			b.WriteString("NULL")
			continue
		}
		if !needsArrayQuotes(v) {
			b.WriteString(v)
			continue
		}
		b.WriteByte('"')
		for j := 0; j < len(v); j++ {
			if v[j] == '"' || v[j] == '\\' {
				b.WriteByte('\\')
			}
			b.WriteByte(v[j])
		}
		b.WriteByte('"')
	}
	b.WriteByte('}')
	return b.String()
}

func needsArrayQuotes(v string) bool {
	if v == "" || strings.EqualFold(v, "NULL") {
		return true
	}
	for i := 0; i < len(v); i++ {
		switch c := v[i]; c {
		case '{', '}', ',', '"', '\\':
			return true
		default:
			if isPGSpace(c) {
				return true
			}
		}
	}
	return false
}

var errNotArray = errors.New("malformed array literal")

// DecodeArray parses the text form of a one-dimensional array (what
// EncodeArray writes, and what PostgreSQL accepts: elements may be quoted,
// backslash escapes a character, unquoted NULL is a NULL element, white
// space around elements is ignored). nulls is nil when no element is NULL.
func DecodeArray(s string) (vals []string, nulls []bool, err error) {
	i := 0
	skip := func() {
		for i < len(s) && isPGSpace(s[i]) {
			i++
		}
	}
	skip()
	if i >= len(s) || s[i] != '{' {
		return nil, nil, fmt.Errorf("%w: %q: array value must start with \"{\"", errNotArray, s)
	}
	i++
	skip()
	if i < len(s) && s[i] == '}' {
		i++
		skip()
		if i != len(s) {
			return nil, nil, fmt.Errorf("%w: %q: junk after closing brace", errNotArray, s)
		}
		return []string{}, nil, nil
	}
	for {
		skip()
		var b strings.Builder
		null := false
		if i < len(s) && s[i] == '"' {
			i++
			for {
				if i >= len(s) {
					return nil, nil, fmt.Errorf("%w: %q: unexpected end of input", errNotArray, s)
				}
				c := s[i]
				if c == '"' {
					i++
					break
				}
				if c == '\\' {
					i++
					if i >= len(s) {
						return nil, nil, fmt.Errorf("%w: %q: unexpected end of input", errNotArray, s)
					}
					c = s[i]
				}
				b.WriteByte(c)
				i++
			}
			skip()
		} else {
			// Unquoted: up to ',' or '}', inner white space kept, trailing
			// white space dropped, backslash escapes a character (and
			// makes NULL an ordinary string).
			trail, escaped := 0, false
			for i < len(s) && s[i] != ',' && s[i] != '}' {
				c := s[i]
				switch {
				case c == '{' || c == '"':
					return nil, nil, fmt.Errorf("%w: %q: unexpected %q (nested arrays are not supported)", errNotArray, s, c)
				case c == '\\':
					i++
					if i >= len(s) {
						return nil, nil, fmt.Errorf("%w: %q: unexpected end of input", errNotArray, s)
					}
					b.WriteByte(s[i])
					trail, escaped = 0, true
				case isPGSpace(c):
					b.WriteByte(c)
					trail++
				default:
					b.WriteByte(c)
					trail = 0
				}
				i++
			}
			v := b.String()
			v = v[:len(v)-trail]
			if v == "" {
				return nil, nil, fmt.Errorf("%w: %q: unexpected %s", errNotArray, s, byteAt(s, i))
			}
			b.Reset()
			b.WriteString(v)
			null = !escaped && strings.EqualFold(v, "NULL")
		}
		if null && nulls == nil {
			nulls = make([]bool, len(vals), len(vals)+1)
		}
		if null {
			vals = append(vals, "")
		} else {
			vals = append(vals, b.String())
		}
		if nulls != nil {
			nulls = append(nulls, null)
		}
		if i >= len(s) {
			return nil, nil, fmt.Errorf("%w: %q: unexpected end of input", errNotArray, s)
		}
		if s[i] == ',' {
			i++
			continue
		}
		// s[i] == '}'
		i++
		skip()
		if i != len(s) {
			return nil, nil, fmt.Errorf("%w: %q: junk after closing brace", errNotArray, s)
		}
		return vals, nulls, nil
	}
}

func byteAt(s string, i int) string {
	if i >= len(s) {
		return "end of input"
	}
	return string(s[i])
}

// stringToArray is PostgreSQL's string_to_array(s, sep [, null_string]):
// a NULL separator splits into characters, an empty one gives s as the
// only element, an empty s gives an empty array.
func stringToArray(a []*columnar.Column, n int, _ *Context) (*columnar.Column, error) {
	out := columnar.NewColumn(columnar.String, n)
	for i := 0; i < n; i++ {
		if null(a[0], i) {
			out.AppendNull()
			continue
		}
		s := str(a[0], i)
		var parts []string
		switch {
		case s == "":
			parts = []string{}
		case null(a[1], i):
			for _, r := range s {
				parts = append(parts, string(r))
			}
		case str(a[1], i) == "":
			parts = []string{s}
		default:
			parts = strings.Split(s, str(a[1], i))
		}
		var nulls []bool
		if len(a) > 2 && !null(a[2], i) {
			ns := str(a[2], i)
			for j, p := range parts {
				if p == ns {
					if nulls == nil {
						nulls = make([]bool, len(parts))
					}
					nulls[j] = true
				}
			}
		}
		out.AppendString(EncodeArray(parts, nulls))
	}
	return out, nil
}

func arrayToString(a []*columnar.Column, n int, _ *Context) (*columnar.Column, error) {
	out := columnar.NewColumn(columnar.String, n)
	for i := 0; i < n; i++ {
		if null(a[0], i) || null(a[1], i) {
			out.AppendNull()
			continue
		}
		vals, nulls, err := DecodeArray(str(a[0], i))
		if err != nil {
			return nil, fmt.Errorf("array_to_string: %w", err)
		}
		var keep []string
		for j, v := range vals {
			if nulls != nil && nulls[j] {
				if len(a) < 3 || null(a[2], i) {
					continue
				}
				v = str(a[2], i)
			}
			keep = append(keep, v)
		}
		out.AppendString(strings.Join(keep, str(a[1], i)))
	}
	return out, nil
}

// arrayBound implements array_length, array_lower and array_upper for
// dimension 1: NULL for other dimensions and for empty arrays, as in
// PostgreSQL.
func arrayBound(f func(n int64) int64) ScalarFunc {
	return func(a []*columnar.Column, n int, _ *Context) (*columnar.Column, error) {
		out := columnar.NewColumn(columnar.Int64, n)
		for i := 0; i < n; i++ {
			if null(a[0], i) || null(a[1], i) || i64(a[1], i) != 1 {
				out.AppendNull()
				continue
			}
			vals, _, err := DecodeArray(str(a[0], i))
			if err != nil {
				return nil, err
			}
			if len(vals) == 0 {
				out.AppendNull()
				continue
			}
			out.AppendInt(f(int64(len(vals))))
		}
		return out, nil
	}
}

// arraySubscript is x[i]: element i (from 1), NULL when out of range.
func arraySubscript(a []*columnar.Column, n int, _ *Context) (*columnar.Column, error) {
	out := columnar.NewColumn(columnar.String, n)
	for i := 0; i < n; i++ {
		if null(a[0], i) || null(a[1], i) {
			out.AppendNull()
			continue
		}
		vals, nulls, err := DecodeArray(str(a[0], i))
		if err != nil {
			return nil, err
		}
		k := i64(a[1], i)
		if k < 1 || k > int64(len(vals)) || nulls != nil && nulls[k-1] {
			out.AppendNull()
			continue
		}
		out.AppendString(vals[k-1])
	}
	return out, nil
}
