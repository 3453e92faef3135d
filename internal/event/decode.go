package event

import (
	"encoding/binary"
	"fmt"
	"unicode/utf8"
)

// Kind is the JSON kind of a decoded value.
type Kind uint8

// Kinds of Field values. Objects and arrays have no kind: a flat event may
// not contain them.
const (
	KindString Kind = iota + 1 // Value is the unescaped string
	KindNumber                 // Value is the number literal exactly as sent
	KindBool                   // Value is "true" or "false"
	KindNull                   // Value is "null"
)

// String names the kind as JSON does.
func (k Kind) String() string {
	switch k {
	case KindString:
		return "string"
	case KindNumber:
		return "number"
	case KindBool:
		return "boolean"
	case KindNull:
		return "null"
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// Field is one key/value pair of a flat event, in the order sent. Key and
// Value alias the decoded input, or the Decoder's buffer for strings that
// had escapes or invalid UTF-8; they are valid until the input changes or
// the Decoder decodes again.
type Field struct {
	Key   []byte
	Value []byte
	Kind  Kind
}

// Decoder decodes flat JSON objects. It keeps a scratch buffer between calls
// (for unescaped strings), so it is not safe for concurrent use; the zero
// value is ready.
//
// The grammar is RFC 8259's, checked as strictly as encoding/json checks it:
// whatever encoding/json rejects, Decode rejects. Strings are unescaped as
// encoding/json unescapes them: invalid UTF-8 bytes and unpaired surrogate
// escapes become U+FFFD. Duplicate keys are reported as sent (Map rejects
// them).
type Decoder struct {
	buf []byte
	fix []fixup
}

// span is a byte range either in the input or in Decoder.buf; buf may grow
// while decoding, so slices into it are made only at the end.
type span struct {
	off, end int
	inBuf    bool
}

type rawField struct {
	k, v span
	kind Kind
}

// fixup is a field with a string in buf, whose slices are set once buf
// stops growing.
type fixup struct {
	idx int
	f   rawField
}

// Decode parses one flat JSON object from data and appends its fields to
// dst in the order they appear. Nested objects and arrays, anything but an
// object at the top, and any syntax error give an *Error.
func Decode(dst []Field, data []byte) ([]Field, error) {
	var d Decoder
	return d.Decode(dst, data)
}

// Decode is the package-level Decode reusing d's scratch space.
func (d *Decoder) Decode(dst []Field, data []byte) ([]Field, error) {
	d.buf = d.buf[:0]
	d.fix = d.fix[:0]
	n0 := len(dst)
	i := skipWS(data, 0)
	if i >= len(data) {
		return dst[:n0], &Error{Reason: "empty input, want a JSON object"}
	}
	if data[i] != '{' {
		return dst[:n0], &Error{Reason: fmt.Sprintf("not a JSON object (the input starts with %s)", describeByte(data, i))}
	}
	i = skipWS(data, i+1)
	if i < len(data) && data[i] == '}' {
		i++
	} else {
		for {
			if i >= len(data) {
				return dst[:n0], syntaxError(nil, i, "unexpected end of input, want a key")
			}
			if data[i] != '"' {
				return dst[:n0], syntaxError(nil, i, "want a string key, found "+describeByte(data, i))
			}
			var f rawField
			var err error
			f.k, i, err = d.scanString(data, i+1)
			if err != nil {
				return dst[:n0], err
			}
			i = skipWS(data, i)
			if i >= len(data) || data[i] != ':' {
				return dst[:n0], syntaxError(d.bytes(data, f.k), i, "want ':' after the key, found "+describeByte(data, i))
			}
			i = skipWS(data, i+1)
			if i >= len(data) {
				return dst[:n0], syntaxError(d.bytes(data, f.k), i, "unexpected end of input, want a value")
			}
			switch c := data[i]; {
			case c == '"':
				f.kind = KindString
				f.v, i, err = d.scanString(data, i+1)
				if err != nil {
					err.(*Error).Field = fieldName(d.bytes(data, f.k))
					return dst[:n0], err
				}
			case c == '{' || c == '[':
				return dst[:n0], &Error{Field: fieldName(d.bytes(data, f.k)),
					Reason: "nested objects and arrays are not allowed (events are flat JSON objects)"}
			case c == '-' || (c >= '0' && c <= '9'):
				f.kind = KindNumber
				end, ok := scanNumber(data, i)
				if !ok {
					return dst[:n0], syntaxError(d.bytes(data, f.k), end, "malformed number")
				}
				f.v = span{off: i, end: end}
				i = end
			case c == 't':
				f.kind = KindBool
				i, err = d.scanLiteral(data, i, "true", &f)
			case c == 'f':
				f.kind = KindBool
				i, err = d.scanLiteral(data, i, "false", &f)
			case c == 'n':
				f.kind = KindNull
				i, err = d.scanLiteral(data, i, "null", &f)
			default:
				return dst[:n0], syntaxError(d.bytes(data, f.k), i, "want a value, found "+describeByte(data, i))
			}
			if err != nil {
				return dst[:n0], err
			}
			if f.k.inBuf || f.v.inBuf {
				d.fix = append(d.fix, fixup{idx: len(dst), f: f})
			}
			dst = append(dst, Field{Key: d.bytes(data, f.k), Value: d.bytes(data, f.v), Kind: f.kind})
			i = skipWS(data, i)
			if i < len(data) && data[i] == ',' {
				i = skipWS(data, i+1)
				continue
			}
			if i < len(data) && data[i] == '}' {
				i++
				break
			}
			return dst[:n0], syntaxError(d.bytes(data, f.k), i, "want ',' or '}' after a value, found "+describeByte(data, i))
		}
	}
	if i = skipWS(data, i); i < len(data) {
		return dst[:n0], syntaxError(nil, i, "data after the end of the object")
	}
	for _, x := range d.fix {
		dst[x.idx].Key, dst[x.idx].Value = d.bytes(data, x.f.k), d.bytes(data, x.f.v)
	}
	return dst, nil
}

// decodeKeys is Decode for an object expected to have exactly keys, in
// this order, each sent as it is (no escapes; every byte of every key is a
// plainByte): it reports false, having decoded nothing of use, as soon as
// data is anything else (other keys, whitespace it does not expect, a
// syntax error, a nested value), and the caller decodes data with Decode.
// When it reports true, it has appended exactly what Decode would have.
// Devices send the same keys event after event; comparing each key with
// the expected one spares scanning it for its end and comparing it again
// afterwards.
func (d *Decoder) decodeKeys(dst []Field, data []byte, keys []string) ([]Field, bool) {
	d.buf = d.buf[:0]
	d.fix = d.fix[:0]
	n0 := len(dst)
	i := skipWS(data, 0)
	if i >= len(data) || data[i] != '{' {
		return dst[:n0], false
	}
	i = skipWS(data, i+1)
	for k, key := range keys {
		if k > 0 {
			if i >= len(data) || data[i] != ',' {
				return dst[:n0], false
			}
			i = skipWS(data, i+1)
		}
		// "key" then optional whitespace and ':'.
		end := i + 1 + len(key)
		if end >= len(data) || data[i] != '"' || data[end] != '"' || string(data[i+1:end]) != key {
			return dst[:n0], false
		}
		f := rawField{k: span{off: i + 1, end: end}}
		i = skipWS(data, end+1)
		if i >= len(data) || data[i] != ':' {
			return dst[:n0], false
		}
		i = skipWS(data, i+1)
		if i >= len(data) {
			return dst[:n0], false
		}
		var err error
		switch c := data[i]; {
		case c == '"':
			f.kind = KindString
			f.v, i, err = d.scanString(data, i+1)
		case c == '-' || (c >= '0' && c <= '9'):
			f.kind = KindNumber
			e, ok := scanNumber(data, i)
			if !ok {
				return dst[:n0], false
			}
			f.v = span{off: i, end: e}
			i = e
		case c == 't':
			f.kind = KindBool
			i, err = d.scanLiteral(data, i, "true", &f)
		case c == 'f':
			f.kind = KindBool
			i, err = d.scanLiteral(data, i, "false", &f)
		case c == 'n':
			f.kind = KindNull
			i, err = d.scanLiteral(data, i, "null", &f)
		default:
			return dst[:n0], false
		}
		if err != nil {
			return dst[:n0], false
		}
		if f.v.inBuf {
			d.fix = append(d.fix, fixup{idx: len(dst), f: f})
		}
		dst = append(dst, Field{Key: d.bytes(data, f.k), Value: d.bytes(data, f.v), Kind: f.kind})
		i = skipWS(data, i)
	}
	if i >= len(data) || data[i] != '}' {
		return dst[:n0], false
	}
	if i = skipWS(data, i+1); i < len(data) {
		return dst[:n0], false
	}
	for _, x := range d.fix {
		dst[x.idx].Key, dst[x.idx].Value = d.bytes(data, x.f.k), d.bytes(data, x.f.v)
	}
	return dst, true
}

func (d *Decoder) bytes(data []byte, s span) []byte {
	if s.inBuf {
		return d.buf[s.off:s.end:s.end]
	}
	return data[s.off:s.end:s.end]
}

func (d *Decoder) scanLiteral(data []byte, i int, lit string, f *rawField) (int, error) {
	if len(data)-i < len(lit) || string(data[i:i+len(lit)]) != lit {
		return i, syntaxError(d.bytes(data, f.k), i, "invalid literal, want "+lit)
	}
	f.v = span{off: i, end: i + len(lit)}
	return i + len(lit), nil
}

// scanString scans a string whose opening quote is just before data[i]. It
// returns the unescaped contents and the index after the closing quote.
// Strings without escapes and with valid UTF-8 (nearly all) are returned in
// place; the rest are unescaped into d.buf.
func (d *Decoder) scanString(data []byte, i int) (span, int, error) {
	start := i
	// Skip 8 plain bytes at a time. The tests below can report a special
	// byte that is not there (a borrow from a lower byte) but never miss
	// one; the byte loop after them decides.
	const lsb, msb = 0x0101010101010101, 0x8080808080808080
	for len(data)-i >= 8 {
		x := binary.LittleEndian.Uint64(data[i:])
		q, bs := x^(lsb*'"'), x^(lsb*'\\')
		if ((q-lsb)&^q|(bs-lsb)&^bs|(x-lsb*0x20)&^x|x)&msb != 0 {
			break
		}
		i += 8
	}
	for i < len(data) {
		if plainByte[data[i]] {
			i++
			continue
		}
		c := data[i]
		if c == '"' {
			return span{off: start, end: i}, i + 1, nil
		}
		if c == '\\' || c < 0x20 {
			break
		}
		r, size := utf8.DecodeRune(data[i:]) // c ≥ 0x80
		if r == utf8.RuneError && size == 1 {
			break
		}
		i += size
	}
	off := len(d.buf)
	d.buf = append(d.buf, data[start:i]...)
	for i < len(data) {
		c := data[i]
		switch {
		case c == '"':
			return span{off: off, end: len(d.buf), inBuf: true}, i + 1, nil
		case c < 0x20:
			return span{}, i, syntaxError(nil, i, "control character in string (must be escaped)")
		case c >= utf8.RuneSelf:
			r, size := utf8.DecodeRune(data[i:])
			if r == utf8.RuneError && size == 1 {
				// encoding/json replaces each invalid byte with U+FFFD.
				d.buf = utf8.AppendRune(d.buf, utf8.RuneError)
			} else {
				d.buf = append(d.buf, data[i:i+size]...)
			}
			i += size
		case c != '\\':
			d.buf = append(d.buf, c)
			i++
		default:
			if i+1 >= len(data) {
				return span{}, i, syntaxError(nil, i, "unterminated string")
			}
			switch e := data[i+1]; e {
			case '"', '\\', '/':
				d.buf = append(d.buf, e)
				i += 2
			case 'b':
				d.buf = append(d.buf, '\b')
				i += 2
			case 'f':
				d.buf = append(d.buf, '\f')
				i += 2
			case 'n':
				d.buf = append(d.buf, '\n')
				i += 2
			case 'r':
				d.buf = append(d.buf, '\r')
				i += 2
			case 't':
				d.buf = append(d.buf, '\t')
				i += 2
			case 'u':
				r := hex4(data, i+2)
				if r < 0 {
					return span{}, i, syntaxError(nil, i, `invalid \u escape, want 4 hex digits`)
				}
				i += 6
				if r >= 0xD800 && r < 0xE000 {
					// A surrogate: valid only as a high surrogate followed by
					// an escaped low one. Otherwise U+FFFD, leaving what
					// follows to be read on its own, as encoding/json does.
					if r < 0xDC00 && i+1 < len(data) && data[i] == '\\' && data[i+1] == 'u' {
						if r2 := hex4(data, i+2); r2 >= 0xDC00 && r2 < 0xE000 {
							r = 0x10000 + (r-0xD800)<<10 + (r2 - 0xDC00)
							i += 6
							d.buf = utf8.AppendRune(d.buf, r)
							continue
						}
					}
					r = utf8.RuneError
				}
				d.buf = utf8.AppendRune(d.buf, r)
			default:
				return span{}, i, syntaxError(nil, i, "invalid escape "+describeByte(data, i+1))
			}
		}
	}
	return span{}, i, syntaxError(nil, i, "unterminated string")
}

// plainByte marks the bytes a string may contain as they are: printable
// ASCII except '"' and '\\'. It is a constant table, never written.
var plainByte = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// hex4 decodes 4 hex digits at data[i:], or returns -1.
func hex4(data []byte, i int) rune {
	if len(data)-i < 4 {
		return -1
	}
	var r rune
	for _, c := range data[i : i+4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return -1
		}
		r = r<<4 | rune(c)
	}
	return r
}

// scanNumber scans a JSON number starting at data[i]. It returns the index
// after it, or the index of the offending byte and false.
func scanNumber(data []byte, i int) (int, bool) {
	if data[i] == '-' {
		i++
	}
	switch {
	case i >= len(data):
		return i, false
	case data[i] == '0':
		i++
	case data[i] >= '1' && data[i] <= '9':
		i = skipDigits(data, i+1)
	default:
		return i, false
	}
	if i < len(data) && data[i] == '.' {
		j := skipDigits(data, i+1)
		if j == i+1 {
			return j, false
		}
		i = j
	}
	if i < len(data) && (data[i] == 'e' || data[i] == 'E') {
		i++
		if i < len(data) && (data[i] == '+' || data[i] == '-') {
			i++
		}
		j := skipDigits(data, i)
		if j == i {
			return j, false
		}
		i = j
	}
	return i, true
}

func skipDigits(data []byte, i int) int {
	for i < len(data) && data[i] >= '0' && data[i] <= '9' {
		i++
	}
	return i
}

func skipWS(data []byte, i int) int {
	for i < len(data) {
		switch data[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

func describeByte(data []byte, i int) string {
	if i >= len(data) {
		return "end of input"
	}
	c := data[i]
	if c >= 0x20 && c < 0x7f {
		return fmt.Sprintf("%q", rune(c))
	}
	return fmt.Sprintf("byte 0x%02x", c)
}

func syntaxError(key []byte, at int, msg string) *Error {
	return &Error{Field: fieldName(key), Reason: fmt.Sprintf("invalid JSON at byte %d: %s", at, msg)}
}
