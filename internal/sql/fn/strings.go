package fn

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/sluice-dev/sluice/internal/columnar"
)

func strUnary(ret columnar.Type, f func(string) any) ScalarFunc {
	return func(a []*columnar.Column, n int, _ *Context) (*columnar.Column, error) {
		x := a[0]
		m := colLen(x)
		out := &columnar.Column{Type: ret, Nulls: copyNulls(x.Nulls)}
		switch ret {
		case columnar.String:
			out.Strs = make([]string, m)
		case columnar.Int64:
			out.Ints = make([]int64, m)
		}
		for i, s := range x.Strs {
			if x.IsNull(i) {
				continue
			}
			switch v := f(s).(type) {
			case string:
				out.Strs[i] = v
			case int64:
				out.Ints[i] = v
			}
		}
		return broadcast(out, n), nil
	}
}

func strRow(ret columnar.Type, f func(a []*columnar.Column, i int, out *columnar.Column, ctx *Context) error) ScalarFunc {
	return rowFunc(ret, f)
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// Substr is Trino's substr: 1-based start counted in characters, negative
// start counts from the end, start 0 or past the end gives ”.
func Substr(s string, start, length int64, hasLen bool) string {
	var n int64
	ascii := isASCII(s)
	if ascii {
		n = int64(len(s))
	} else {
		n = int64(utf8.RuneCountInString(s))
	}
	if start == 0 || (hasLen && length <= 0) {
		return ""
	}
	if start < 0 {
		start = n + start + 1
		if start < 1 {
			return ""
		}
	}
	if start > n {
		return ""
	}
	end := n + 1
	if hasLen && start+length < end {
		end = start + length
	}
	if ascii {
		return s[start-1 : end-1]
	}
	r := []rune(s)
	return string(r[start-1 : end-1])
}

// javaReplacement converts a Java/Trino replacement string ($1, \$) to Go's
// regexp.Expand syntax (${1}, $$).
func javaReplacement(r string) string {
	var b strings.Builder
	for i := 0; i < len(r); i++ {
		c := r[i]
		switch {
		case c == '\\' && i+1 < len(r):
			i++
			if r[i] == '$' {
				b.WriteString("$$")
			} else {
				b.WriteByte(r[i])
			}
		case c == '$':
			j := i + 1
			for j < len(r) && r[j] >= '0' && r[j] <= '9' {
				j++
			}
			if j > i+1 {
				b.WriteString("${" + r[i+1:j] + "}")
				i = j - 1
			} else if j < len(r) && r[j] == '{' {
				k := strings.IndexByte(r[j:], '}')
				if k < 0 {
					b.WriteString("$$")
				} else {
					b.WriteString("$" + r[j:j+k+1])
					i = j + k
				}
			} else {
				b.WriteString("$$")
			}
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

func init() {
	register("length", sig(kI, strUnary(kI, func(s string) any { return int64(utf8.RuneCountInString(s)) }), kS))
	register("lower", sig(kS, strUnary(kS, func(s string) any { return strings.ToLower(s) }), kS))
	register("upper", sig(kS, strUnary(kS, func(s string) any { return strings.ToUpper(s) }), kS))
	register("trim", sig(kS, strUnary(kS, func(s string) any { return strings.TrimSpace(s) }), kS),
		sig(kS, strRow(kS, func(a []*columnar.Column, i int, out *columnar.Column, _ *Context) error {
			out.AppendString(strings.Trim(str(a[0], i), str(a[1], i)))
			return nil
		}), kS, kS))
	register("ltrim", sig(kS, strUnary(kS, func(s string) any { return strings.TrimLeft(s, " \t\n\r\f\v") }), kS))
	register("rtrim", sig(kS, strUnary(kS, func(s string) any { return strings.TrimRight(s, " \t\n\r\f\v") }), kS))
	register("reverse", sig(kS, strUnary(kS, func(s string) any {
		r := []rune(s)
		for i, j := 0, len(r)-1; i < j; i, j = i+1, j-1 {
			r[i], r[j] = r[j], r[i]
		}
		return string(r)
	}), kS))
	register("substr",
		sig(kS, strRow(kS, func(a []*columnar.Column, i int, out *columnar.Column, _ *Context) error {
			out.AppendString(Substr(str(a[0], i), i64(a[1], i), 0, false))
			return nil
		}), kS, kI),
		sig(kS, strRow(kS, func(a []*columnar.Column, i int, out *columnar.Column, _ *Context) error {
			out.AppendString(Substr(str(a[0], i), i64(a[1], i), i64(a[2], i), true))
			return nil
		}), kS, kI, kI))
	alias("substring", "substr")
	register("concat", variadic(kS, func(a []*columnar.Column, n int, _ *Context) (*columnar.Column, error) {
		out := make([]string, n)
		var b strings.Builder
		for i := range out {
			b.Reset()
			for _, c := range a {
				b.WriteString(str(c, i))
			}
			out[i] = b.String()
		}
		return &columnar.Column{Type: columnar.String, Strs: out, Nulls: unionNulls(a, n)}, nil
	}, kS))
	register("replace",
		sig(kS, strRow(kS, func(a []*columnar.Column, i int, out *columnar.Column, _ *Context) error {
			out.AppendString(strings.ReplaceAll(str(a[0], i), str(a[1], i), ""))
			return nil
		}), kS, kS),
		sig(kS, strRow(kS, func(a []*columnar.Column, i int, out *columnar.Column, _ *Context) error {
			out.AppendString(strings.ReplaceAll(str(a[0], i), str(a[1], i), str(a[2], i)))
			return nil
		}), kS, kS, kS))
	strpos := func(s, sub string) int64 {
		k := strings.Index(s, sub)
		if k < 0 {
			return 0
		}
		return int64(utf8.RuneCountInString(s[:k])) + 1
	}
	register("strpos", sig(kI, strRow(kI, func(a []*columnar.Column, i int, out *columnar.Column, _ *Context) error {
		out.AppendInt(strpos(str(a[0], i), str(a[1], i)))
		return nil
	}), kS, kS))
	// position(substring, string): the binder passes POSITION(sub IN s) in that order.
	register("position", sig(kI, strRow(kI, func(a []*columnar.Column, i int, out *columnar.Column, _ *Context) error {
		out.AppendInt(strpos(str(a[1], i), str(a[0], i)))
		return nil
	}), kS, kS))
	register("split_part", sig(kS, strRow(kS, func(a []*columnar.Column, i int, out *columnar.Column, _ *Context) error {
		s, d, k := str(a[0], i), str(a[1], i), i64(a[2], i)
		if k <= 0 {
			return fmt.Errorf("split_part: index must be positive, got %d", k)
		}
		var parts []string
		if d == "" {
			parts = []string{s}
		} else {
			parts = strings.SplitN(s, d, int(min(k+1, 1<<20)))
		}
		if int(k) > len(parts) {
			out.AppendNull()
			return nil
		}
		out.AppendString(parts[k-1])
		return nil
	}), kS, kS, kI))
	register("starts_with", sig(kB, strRow(kB, func(a []*columnar.Column, i int, out *columnar.Column, _ *Context) error {
		out.AppendBool(strings.HasPrefix(str(a[0], i), str(a[1], i)))
		return nil
	}), kS, kS))
	register("ends_with", sig(kB, strRow(kB, func(a []*columnar.Column, i int, out *columnar.Column, _ *Context) error {
		out.AppendBool(strings.HasSuffix(str(a[0], i), str(a[1], i)))
		return nil
	}), kS, kS))
	pad := func(left bool) ScalarFunc {
		return strRow(kS, func(a []*columnar.Column, i int, out *columnar.Column, _ *Context) error {
			s, size, p := []rune(str(a[0], i)), i64(a[1], i), []rune(str(a[2], i))
			if size < 0 || size > 1<<20 {
				return fmt.Errorf("pad: target size %d out of range", size)
			}
			if int64(len(s)) >= size {
				out.AppendString(string(s[:size]))
				return nil
			}
			if len(p) == 0 {
				return errors.New("pad: padding string must not be empty")
			}
			fill := make([]rune, 0, size)
			for int64(len(fill)) < size-int64(len(s)) {
				fill = append(fill, p[len(fill)%len(p)])
			}
			if left {
				out.AppendString(string(fill) + string(s))
			} else {
				out.AppendString(string(s) + string(fill))
			}
			return nil
		})
	}
	register("lpad", sig(kS, pad(true), kS, kI, kS))
	register("rpad", sig(kS, pad(false), kS, kI, kS))
	register("regexp_like", sig(kB, withRegexp(kB, func(re *regexp.Regexp, a []*columnar.Column, i int, out *columnar.Column, _ *Context) error {
		out.AppendBool(re.MatchString(str(a[0], i)))
		return nil
	}), kS, kS))
	extract := func(re *regexp.Regexp, a []*columnar.Column, i int, out *columnar.Column, _ *Context) error {
		g := int64(0)
		if len(a) > 2 {
			g = i64(a[2], i)
		}
		if g < 0 || g > int64(re.NumSubexp()) {
			return fmt.Errorf("regexp_extract: pattern has %d groups, not %d", re.NumSubexp(), g)
		}
		m := re.FindStringSubmatchIndex(str(a[0], i))
		if m == nil || m[2*g] < 0 {
			out.AppendNull()
			return nil
		}
		out.AppendString(str(a[0], i)[m[2*g]:m[2*g+1]])
		return nil
	}
	register("regexp_extract", sig(kS, withRegexp(kS, extract), kS, kS), sig(kS, withRegexp(kS, extract), kS, kS, kI))
	replace := func(re *regexp.Regexp, a []*columnar.Column, i int, out *columnar.Column, c *Context) error {
		repl := ""
		if len(a) > 2 {
			v, _ := c.cached("repl", str(a[2], i), func(s string) (any, error) { return javaReplacement(s), nil })
			repl = v.(string)
		}
		out.AppendString(re.ReplaceAllString(str(a[0], i), repl))
		return nil
	}
	register("regexp_replace", sig(kS, withRegexp(kS, replace), kS, kS), sig(kS, withRegexp(kS, replace), kS, kS, kS))
	register("regexp_count", sig(kI, withRegexp(kI, func(re *regexp.Regexp, a []*columnar.Column, i int, out *columnar.Column, c *Context) error {
		out.AppendInt(int64(len(re.FindAllStringIndex(str(a[0], i), -1))))
		return nil
	}), kS, kS))
	register("chr", sig(kS, strRow(kS, func(a []*columnar.Column, i int, out *columnar.Column, _ *Context) error {
		v := i64(a[0], i)
		if v < 0 || v > utf8.MaxRune || !utf8.ValidRune(rune(v)) {
			return fmt.Errorf("chr: not a valid Unicode code point: %d", v)
		}
		out.AppendString(string(rune(v)))
		return nil
	}), kI))
	register("codepoint", sig(kI, strRow(kI, func(a []*columnar.Column, i int, out *columnar.Column, _ *Context) error {
		s := str(a[0], i)
		if utf8.RuneCountInString(s) != 1 {
			return fmt.Errorf("codepoint: want a single character, got %q", s)
		}
		r, _ := utf8.DecodeRuneInString(s)
		out.AppendInt(int64(r))
		return nil
	}), kS))
	register("to_hex", sig(kS, strRow(kS, func(a []*columnar.Column, i int, out *columnar.Column, _ *Context) error {
		out.AppendString(strings.ToUpper(strconv.FormatUint(uint64(i64(a[0], i)), 16)))
		return nil
	}), kI))
}

// withRegexp builds a strict function whose second argument is a regular
// expression; a constant pattern is compiled once per call, not per row.
func withRegexp(ret columnar.Type, f func(re *regexp.Regexp, a []*columnar.Column, i int, out *columnar.Column, c *Context) error) ScalarFunc {
	return func(a []*columnar.Column, n int, c *Context) (*columnar.Column, error) {
		var constRe *regexp.Regexp
		if p, ok := constStr(a[1]); ok {
			re, err := c.regexp(p)
			if err != nil {
				return nil, err
			}
			constRe = re
		}
		return rowFunc(ret, func(a []*columnar.Column, i int, out *columnar.Column, c *Context) error {
			re := constRe
			if re == nil {
				var err error
				if re, err = c.regexp(str(a[1], i)); err != nil {
					return err
				}
			}
			return f(re, a, i, out, c)
		})(a, n, c)
	}
}
