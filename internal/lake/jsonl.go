package lake

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/klauspost/compress/gzip"
)

// Error codes of error output records (the errorCode field).
const (
	CodeMalformedFrame = "Sluice.MalformedFrame" // the stream message is not a frame sluice wrote
	CodeInvalidJSON    = "Sluice.InvalidJSON"
	CodeNotJSONObject  = "Sluice.NotJSONObject"
	CodeMultiLineJSON  = "Sluice.MultiLineJSON"
)

// classify decides whether an event can be a line of a JSON Lines object:
// it must be exactly one JSON object, on one line. It returns "" or the
// error code and a message.
func classify(b []byte) (code, msg string) { return classifyWith(b, nil) }

// classifyWith is classify, calling fn (if not nil) for each top-level
// member as scanObject does; members of an event that turns out invalid
// have been reported too.
func classifyWith(b []byte, fn memberFunc) (code, msg string) {
	if err := scanObject(b, fn); err != nil {
		var ne notObjectError
		if errors.As(err, &ne) {
			return CodeNotJSONObject, err.Error()
		}
		return CodeInvalidJSON, err.Error()
	}
	if bytes.IndexByte(b, '\n') >= 0 || bytes.IndexByte(b, '\r') >= 0 {
		return CodeMultiLineJSON, "the JSON object spans several lines; a JSON Lines object needs one event per line"
	}
	return "", ""
}

// appendErrorRecord appends one error output line in Firehose's shape
// (record format conversion and transformation failures):
//
//	{"attemptsMade":1,"arrivalTimestamp":<ms>,"errorCode":"...","errorMessage":"...",
//	 "attemptEndingTimestamp":<ms>,"rawData":"<base64>","sequenceNumber":"<stream seq>","subSequenceNumber":<index>}
//
// attemptEndingTimestamp is the arrival time too, so that a rewrite after a
// crash produces the same bytes. subSequenceNumber is the event's index in
// its stream message (-1 when the whole message is kept).
func appendErrorRecord(dst []byte, arrival time.Time, seq uint64, index int, code, msg string, raw []byte) []byte {
	ms := arrival.UnixMilli()
	dst = append(dst, `{"attemptsMade":1,"arrivalTimestamp":`...)
	dst = strconv.AppendInt(dst, ms, 10)
	dst = append(dst, `,"errorCode":`...)
	dst = appendJSONString(dst, code)
	dst = append(dst, `,"errorMessage":`...)
	dst = appendJSONString(dst, msg)
	dst = append(dst, `,"attemptEndingTimestamp":`...)
	dst = strconv.AppendInt(dst, ms, 10)
	dst = append(dst, `,"rawData":"`...)
	dst = base64.StdEncoding.AppendEncode(dst, raw)
	dst = append(dst, `","sequenceNumber":"`...)
	dst = strconv.AppendUint(dst, seq, 10)
	dst = append(dst, `","subSequenceNumber":`...)
	dst = strconv.AppendInt(dst, int64(index), 10)
	return append(dst, "}\n"...)
}

func appendJSONString(dst []byte, s string) []byte {
	b, err := json.Marshal(s)
	if err != nil { // cannot happen for a string
		return strconv.AppendQuote(dst, s)
	}
	return append(dst, b...)
}

// writeJSONL writes lines (already newline-terminated) to w, gzipped when
// gz is set.
func writeJSONL(w io.Writer, lines []byte, gz bool) error {
	if !gz {
		_, err := w.Write(lines)
		return err
	}
	// BestSpeed: delivery must keep up with ingest on one core; JSON
	// compresses well even at this level (see BENCHMARKS.md).
	zw, err := gzip.NewWriterLevel(w, gzip.BestSpeed)
	if err != nil {
		return err
	}
	if _, err := zw.Write(lines); err != nil {
		return err
	}
	return zw.Close()
}

// valueKind is the JSON type of a value.
type valueKind uint8

const (
	kindNull valueKind = iota
	kindBool
	kindNumber
	kindString
	kindObject
	kindArray
)

// maxDepth is encoding/json's nesting limit, so that scanObject accepts
// exactly what json.Valid accepts.
const maxDepth = 10000

type notObjectError struct{ kind string }

func (e notObjectError) Error() string { return "the event is a JSON " + e.kind + ", not an object" }

type syntaxError struct {
	off int
	msg string
}

func (e *syntaxError) Error() string { return fmt.Sprintf("invalid JSON at byte %d: %s", e.off, e.msg) }

// memberFunc receives one top-level member of an object: the key's raw
// bytes between the quotes (escaped if esc), the value's kind and its raw
// bytes (strings without their quotes, escaped if esc).
type memberFunc func(key []byte, keyEsc bool, kind valueKind, val []byte, valEsc bool)

// scanObject validates b as one JSON object with optional surrounding
// whitespace (RFC 8259 grammar, as json.Valid: invalid UTF-8 inside strings
// is accepted) and calls fn, if not nil, for each top-level member.
func scanObject(b []byte, fn memberFunc) error {
	s := scanner{b: b}
	s.ws()
	if s.i >= len(b) {
		return &syntaxError{s.i, "empty"}
	}
	if b[s.i] != '{' {
		kind, _, _, err := s.value(0)
		if err != nil {
			return err
		}
		s.ws()
		if s.i != len(b) {
			return &syntaxError{s.i, "data after the value"}
		}
		return notObjectError{[...]string{"null", "boolean", "number", "string", "object", "array"}[kind]}
	}
	s.i++
	s.ws()
	if s.i < len(b) && b[s.i] == '}' {
		s.i++
	} else {
		for {
			s.ws()
			if s.i >= len(b) || b[s.i] != '"' {
				return s.errf("expected a string key")
			}
			key, keyEsc, err := s.str()
			if err != nil {
				return err
			}
			s.ws()
			if s.i >= len(b) || b[s.i] != ':' {
				return s.errf("expected ':' after a key")
			}
			s.i++
			s.ws()
			kind, val, valEsc, err := s.value(1)
			if err != nil {
				return err
			}
			if fn != nil {
				fn(key, keyEsc, kind, val, valEsc)
			}
			s.ws()
			if s.i >= len(b) {
				return s.errf("unterminated object")
			}
			if b[s.i] == ',' {
				s.i++
				continue
			}
			if b[s.i] == '}' {
				s.i++
				break
			}
			return s.errf("expected ',' or '}'")
		}
	}
	s.ws()
	if s.i != len(b) {
		return &syntaxError{s.i, "data after the object"}
	}
	return nil
}

type scanner struct {
	b []byte
	i int
}

func (s *scanner) errf(msg string) error { return &syntaxError{s.i, msg} }

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// value scans one value at s.i (whitespace already skipped).
func (s *scanner) value(depth int) (valueKind, []byte, bool, error) {
	if s.i >= len(s.b) {
		return 0, nil, false, s.errf("expected a value")
	}
	start := s.i
	switch c := s.b[s.i]; {
	case c == '"':
		v, esc, err := s.str()
		return kindString, v, esc, err
	case c == '{' || c == '[':
		if depth >= maxDepth {
			return 0, nil, false, s.errf("nested too deeply")
		}
		close := byte('}')
		kind := kindObject
		if c == '[' {
			close, kind = ']', kindArray
		}
		s.i++
		s.ws()
		if s.i < len(s.b) && s.b[s.i] == close {
			s.i++
			return kind, s.b[start:s.i], false, nil
		}
		for {
			s.ws()
			if kind == kindObject {
				if s.i >= len(s.b) || s.b[s.i] != '"' {
					return 0, nil, false, s.errf("expected a string key")
				}
				if _, _, err := s.str(); err != nil {
					return 0, nil, false, err
				}
				s.ws()
				if s.i >= len(s.b) || s.b[s.i] != ':' {
					return 0, nil, false, s.errf("expected ':' after a key")
				}
				s.i++
				s.ws()
			}
			if _, _, _, err := s.value(depth + 1); err != nil {
				return 0, nil, false, err
			}
			s.ws()
			if s.i >= len(s.b) {
				return 0, nil, false, s.errf("unterminated " + [...]string{4: "object", 5: "array"}[kind])
			}
			if s.b[s.i] == ',' {
				s.i++
				continue
			}
			if s.b[s.i] == close {
				s.i++
				return kind, s.b[start:s.i], false, nil
			}
			return 0, nil, false, s.errf("expected ',' or '" + string(close) + "'")
		}
	case c == '-' || c >= '0' && c <= '9':
		if err := s.num(); err != nil {
			return 0, nil, false, err
		}
		return kindNumber, s.b[start:s.i], false, nil
	case c == 't' || c == 'f':
		want := "true"
		if c == 'f' {
			want = "false"
		}
		if err := s.lit(want); err != nil {
			return 0, nil, false, err
		}
		return kindBool, s.b[start:s.i], false, nil
	case c == 'n':
		return kindNull, nil, false, s.lit("null")
	default:
		return 0, nil, false, s.errf(fmt.Sprintf("unexpected character %q", c))
	}
}

func (s *scanner) lit(want string) error {
	if len(s.b)-s.i < len(want) || string(s.b[s.i:s.i+len(want)]) != want {
		return s.errf("invalid literal (want " + want + ")")
	}
	s.i += len(want)
	return nil
}

// str scans a string at s.i and returns its contents between the quotes.
func (s *scanner) str() ([]byte, bool, error) {
	s.i++ // opening quote
	start := s.i
	esc := false
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			v := s.b[start:s.i]
			s.i++
			return v, esc, nil
		case c == '\\':
			esc = true
			s.i++
			if s.i >= len(s.b) {
				return nil, false, s.errf("unterminated escape")
			}
			switch s.b[s.i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				s.i++
			case 'u':
				if len(s.b)-s.i < 5 {
					return nil, false, s.errf("short \\u escape")
				}
				for _, h := range s.b[s.i+1 : s.i+5] {
					if !(h >= '0' && h <= '9' || h >= 'a' && h <= 'f' || h >= 'A' && h <= 'F') {
						return nil, false, s.errf("bad \\u escape")
					}
				}
				s.i += 5
			default:
				return nil, false, s.errf("bad escape")
			}
		case c < 0x20:
			return nil, false, s.errf("control character in string")
		default:
			s.i++
		}
	}
	return nil, false, s.errf("unterminated string")
}

func (s *scanner) num() error {
	b := s.b
	if b[s.i] == '-' {
		s.i++
	}
	switch {
	case s.i < len(b) && b[s.i] == '0':
		s.i++
	case s.i < len(b) && b[s.i] >= '1' && b[s.i] <= '9':
		for s.i < len(b) && b[s.i] >= '0' && b[s.i] <= '9' {
			s.i++
		}
	default:
		return s.errf("bad number")
	}
	if s.i < len(b) && b[s.i] == '.' {
		s.i++
		d := s.i
		for s.i < len(b) && b[s.i] >= '0' && b[s.i] <= '9' {
			s.i++
		}
		if s.i == d {
			return s.errf("bad number fraction")
		}
	}
	if s.i < len(b) && (b[s.i] == 'e' || b[s.i] == 'E') {
		s.i++
		if s.i < len(b) && (b[s.i] == '+' || b[s.i] == '-') {
			s.i++
		}
		d := s.i
		for s.i < len(b) && b[s.i] >= '0' && b[s.i] <= '9' {
			s.i++
		}
		if s.i == d {
			return s.errf("bad number exponent")
		}
	}
	return nil
}

// unescape returns the value of a JSON string's contents (between the
// quotes) that has escapes, or whose bytes are not valid UTF-8, the way
// encoding/json decodes it.
func unescape(raw []byte) []byte {
	q := make([]byte, 0, len(raw)+2)
	q = append(append(append(q, '"'), raw...), '"')
	var s string
	if err := json.Unmarshal(q, &s); err != nil {
		return raw // scanObject validated it; cannot happen
	}
	return []byte(s)
}
