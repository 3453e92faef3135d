package parse

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// tokKind classifies a token. Keywords are not a kind of their own: they
// lex as identifiers and the parser recognises them by spelling, so that
// non-reserved words like time, date or first stay usable as names.
type tokKind uint8

const (
	tEOF      tokKind = iota
	tIdent            // unquoted identifier or keyword; text is the source spelling
	tQIdent           // "quoted identifier"; text is the unescaped name
	tNumber           // 12, 1.5, .5, 1e-3; text as written
	tString           // 'text'; text is the unescaped value
	tDuration         // 15m, 1h, 250ms: an integer immediately followed by a unit
	tParam            // $1 or ?; text as written
	tOp               // punctuation and operators; text is the operator
)

// token is one lexeme with its byte range in the source.
type token struct {
	kind     tokKind
	pos, end int
	text     string
}

// lexer is a plain switch-loop scanner in the style of go/scanner: one call
// to next returns one token. Whitespace and comments are skipped.
type lexer struct {
	src string
	off int
}

// lex splits src into tokens, ending with a tEOF token. The parser works on
// the whole slice so it can look ahead freely (t.*, lambdas, subqueries).
func lex(src string, toks []token) ([]token, *Error) {
	lx := lexer{src: src}
	for {
		t, err := lx.next()
		if err != nil {
			return toks, err
		}
		toks = append(toks, t)
		if t.kind == tEOF {
			return toks, nil
		}
	}
}

func (lx *lexer) errorf(off int, msg string) *Error {
	return newError(lx.src, off, msg, nil)
}

func isIdentStart(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_'
}

func isIdentPart(c byte) bool {
	return isIdentStart(c) || isDigit(c) || c == '$'
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// typographic quotes are reported by name: SQL pasted from articles often
// carries them, and "unexpected character" would not say what to fix.
func typographicQuote(r rune) (ascii string, ok bool) {
	switch r {
	case '\u2018', '\u2019':
		return "'", true
	case '\u201c', '\u201d':
		return `"`, true
	}
	return "", false
}

func (lx *lexer) next() (token, *Error) {
	if err := lx.skipSpace(); err != nil {
		return token{}, err
	}
	src := lx.src
	start := lx.off
	if start >= len(src) {
		return token{kind: tEOF, pos: start, end: start}, nil
	}
	c := src[start]
	switch {
	case isIdentStart(c):
		return lx.ident(), nil
	case isDigit(c), c == '.' && start+1 < len(src) && isDigit(src[start+1]):
		return lx.number()
	case c == '\'':
		s, err := lx.quoted('\'')
		if err != nil {
			return token{}, err
		}
		return token{kind: tString, pos: start, end: lx.off, text: s}, nil
	case c == '"' || c == '`':
		// Backticks quote names in Athena/Hive DDL.
		s, err := lx.quoted(c)
		if err != nil {
			return token{}, err
		}
		if s == "" {
			return token{}, lx.errorf(start, "zero-length quoted identifier")
		}
		return token{kind: tQIdent, pos: start, end: lx.off, text: s}, nil
	case c == '$':
		i := start + 1
		for i < len(src) && isDigit(src[i]) {
			i++
		}
		if i == start+1 {
			// Grafana leaves $__macro and ${var} in place when it does
			// not know them; say so rather than "unexpected $".
			j := i
			for j < len(src) && (isIdentPart(src[j]) || src[j] == '{' || src[j] == '}' || src[j] == ':') {
				j++
			}
			if j > i {
				return token{}, lx.errorf(start, "unexpanded macro or template variable "+quoteText(src[start:j]))
			}
			return token{}, lx.errorf(start, "unexpected character '$'")
		}
		lx.off = i
		return token{kind: tParam, pos: start, end: i, text: src[start:i]}, nil
	case c == '?':
		lx.off++
		return token{kind: tParam, pos: start, end: lx.off, text: "?"}, nil
	case c >= utf8.RuneSelf:
		r, size := utf8.DecodeRuneInString(src[start:])
		if q, ok := typographicQuote(r); ok {
			return token{}, lx.errorf(start, "typographic quote "+string(r)+" (use ASCII "+q+")")
		}
		if unicode.IsLetter(r) {
			return lx.ident(), nil
		}
		if r == utf8.RuneError && size == 1 {
			return token{}, lx.errorf(start, "invalid UTF-8")
		}
		return token{}, lx.errorf(start, "unexpected character "+quoteText(string(r)))
	}
	// Operators: two-byte forms first.
	if start+1 < len(src) {
		switch src[start : start+2] {
		case "<=", ">=", "<>", "!=", "||", "::", "=>", "->":
			lx.off += 2
			return token{kind: tOp, pos: start, end: lx.off, text: src[start:lx.off]}, nil
		}
	}
	switch c {
	case '(', ')', ',', '.', ';', '*', '+', '-', '/', '%', '=', '<', '>', '[', ']', ':':
		lx.off++
		return token{kind: tOp, pos: start, end: lx.off, text: src[start:lx.off]}, nil
	}
	return token{}, lx.errorf(start, "unexpected character "+quoteText(string(c)))
}

// skipSpace skips whitespace, -- line comments and /* */ block comments,
// which nest as in PostgreSQL.
func (lx *lexer) skipSpace() *Error {
	src := lx.src
	for lx.off < len(src) {
		c := src[lx.off]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v':
			lx.off++
		case c == '-' && lx.off+1 < len(src) && src[lx.off+1] == '-':
			i := strings.IndexByte(src[lx.off:], '\n')
			if i < 0 {
				lx.off = len(src)
			} else {
				lx.off += i + 1
			}
		case c == '/' && lx.off+1 < len(src) && src[lx.off+1] == '*':
			start := lx.off
			depth := 0
			for {
				if lx.off+1 >= len(src) {
					return lx.errorf(start, "unterminated /* comment")
				}
				switch src[lx.off : lx.off+2] {
				case "/*":
					depth++
					lx.off += 2
				case "*/":
					depth--
					lx.off += 2
				default:
					lx.off++
				}
				if depth == 0 {
					break
				}
			}
		default:
			return nil
		}
	}
	return nil
}

func (lx *lexer) ident() token {
	src := lx.src
	start := lx.off
	i := start
	for i < len(src) {
		c := src[i]
		if isIdentPart(c) {
			i++
			continue
		}
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(src[i:])
			if _, q := typographicQuote(r); !q && (unicode.IsLetter(r) || unicode.IsDigit(r)) {
				i += size
				continue
			}
		}
		break
	}
	lx.off = i
	return token{kind: tIdent, pos: start, end: i, text: src[start:i]}
}

// durationUnits are the Timestream duration suffixes (never pluralised).
var durationUnits = map[string]bool{
	"ns": true, "nanosecond": true, "us": true, "microsecond": true,
	"ms": true, "millisecond": true, "s": true, "second": true,
	"m": true, "minute": true, "h": true, "hour": true, "d": true, "day": true,
}

func (lx *lexer) number() (token, *Error) {
	src := lx.src
	start := lx.off
	i := start
	for i < len(src) && isDigit(src[i]) {
		i++
	}
	integer := true
	if i < len(src) && src[i] == '.' {
		integer = false
		i++
		for i < len(src) && isDigit(src[i]) {
			i++
		}
	}
	if i < len(src) && (src[i] == 'e' || src[i] == 'E') {
		j := i + 1
		if j < len(src) && (src[j] == '+' || src[j] == '-') {
			j++
		}
		if j < len(src) && isDigit(src[j]) {
			integer = false
			for j < len(src) && isDigit(src[j]) {
				j++
			}
			i = j
		}
	}
	if i < len(src) && (isIdentStart(src[i]) || src[i] >= utf8.RuneSelf) {
		// A number glued to letters is a duration literal (15m, 250ms).
		j := i
		for j < len(src) && (isIdentPart(src[j]) || src[j] >= utf8.RuneSelf) {
			j++
		}
		unit := strings.ToLower(src[i:j])
		if !integer || !durationUnits[unit] {
			lx.off = j
			return token{}, lx.errorf(start, "invalid number or duration "+quoteText(src[start:j])+
				" (duration units: ns us ms s m h d)")
		}
		lx.off = j
		return token{kind: tDuration, pos: start, end: j, text: src[start:j]}, nil
	}
	lx.off = i
	return token{kind: tNumber, pos: start, end: i, text: src[start:i]}, nil
}

// quoted scans a '…' string or "…" identifier, where a doubled quote stands
// for one. The result shares memory with src unless it held an escape.
func (lx *lexer) quoted(q byte) (string, *Error) {
	src := lx.src
	start := lx.off
	i := start + 1
	var b []byte
	seg := i
	for {
		j := strings.IndexByte(src[i:], q)
		if j < 0 {
			what := "string"
			if q != '\'' {
				what = "quoted identifier"
			}
			return "", lx.errorf(start, "unterminated "+what)
		}
		i += j
		if i+1 < len(src) && src[i+1] == q {
			b = append(b, src[seg:i+1]...)
			i += 2
			seg = i
			continue
		}
		lx.off = i + 1
		if b == nil {
			return src[seg:i], nil
		}
		b = append(b, src[seg:i]...)
		return string(b), nil
	}
}

// quoteText renders source text for an error message, shortened.
func quoteText(s string) string {
	if len(s) > 40 {
		cut := 40
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return `"` + s + `"`
}
