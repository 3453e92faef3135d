package ingest

import (
	"bytes"
	"errors"
)

// Reasons for rejecting one event; they are also metric label values, so
// the set is fixed.
const (
	reasonEmpty     = "empty"        // an empty array element
	reasonInvalid   = "invalid_json" // not syntactically valid JSON
	reasonNotObject = "not_object"   // valid JSON, but not an object
	reasonTooLarge  = "too_large"    // over MaxRecordBytes
)

var allReasons = [...]string{reasonEmpty, reasonInvalid, reasonNotObject, reasonTooLarge}

// reasonIndex returns the position of r in allReasons.
func reasonIndex(r string) int {
	switch r {
	case reasonEmpty:
		return 0
	case reasonInvalid:
		return 1
	case reasonNotObject:
		return 2
	default:
		return 3
	}
}

var (
	errUnterminatedArray = errors.New("unterminated JSON array")
	errTrailingData      = errors.New("data after the JSON array")
)

// splitter yields the events of an HTTP body one at a time, without
// materializing a list (a body of tiny events would otherwise cost many
// times its size). The body is one JSON object, a JSON array of objects, or
// NDJSON (one object per line; blank lines are skipped, surrounding
// whitespace and a trailing \r are dropped). Events alias the body and hold
// each event's original bytes; they are not validated here. Err reports a
// broken body structure (an array that never closes or has data after it),
// not an invalid event.
type splitter struct {
	body []byte
	pos  int
	mode splitMode
	err  error
}

type splitMode uint8

const (
	splitDone splitMode = iota
	splitSingle
	splitArray
	splitLines
)

func (sp *splitter) reset(body []byte) {
	body = trimSpace(body)
	*sp = splitter{body: body}
	switch {
	case len(body) == 0:
		sp.mode = splitDone
	case body[0] == '[':
		sp.mode, sp.pos = splitArray, 1
		if j := skipSpace(body, 1); j < len(body) && body[j] == ']' {
			sp.mode = splitDone
			if skipSpace(body, j+1) != len(body) {
				sp.err = errTrailingData
			}
		}
	case body[0] == '{' && valueEnd(body) == len(body):
		// One object, possibly spread over several lines. For NDJSON only
		// the first line is scanned twice.
		sp.mode = splitSingle
	default:
		sp.mode = splitLines
	}
}

// next returns the next event, or false at the end or on a structural error.
func (sp *splitter) next() ([]byte, bool) {
	b := sp.body
	switch sp.mode {
	case splitSingle:
		sp.mode = splitDone
		return b, true
	case splitLines:
		for sp.pos < len(b) {
			var line []byte
			if i := bytes.IndexByte(b[sp.pos:], '\n'); i >= 0 {
				line, sp.pos = b[sp.pos:sp.pos+i], sp.pos+i+1
			} else {
				line, sp.pos = b[sp.pos:], len(b)
			}
			if line = trimSpace(line); len(line) > 0 {
				return line, true
			}
		}
		sp.mode = splitDone
	case splitArray:
		// Only strings and nesting depth are tracked; each element is
		// validated later.
		start, depth, inStr := sp.pos, 0, false
		for i := start; i < len(b); i++ {
			c := b[i]
			if inStr {
				switch c {
				case '\\':
					i++
				case '"':
					inStr = false
				}
				continue
			}
			switch c {
			case '"':
				inStr = true
			case '{', '[':
				depth++
			case '}':
				depth--
			case ']':
				if depth == 0 {
					sp.mode = splitDone
					if skipSpace(b, i+1) != len(b) {
						sp.err = errTrailingData
					}
					return trimSpace(b[start:i]), true
				}
				depth--
			case ',':
				if depth == 0 {
					sp.pos = i + 1
					return trimSpace(b[start:i]), true
				}
			}
		}
		sp.mode, sp.err = splitDone, errUnterminatedArray
	}
	return nil, false
}

// splitBody appends all events of body to dst (see splitter).
func splitBody(dst [][]byte, body []byte) ([][]byte, error) {
	var sp splitter
	sp.reset(body)
	for ev, ok := sp.next(); ok; ev, ok = sp.next() {
		dst = append(dst, ev)
	}
	return dst, sp.err
}

// valueEnd returns the offset just past the object or array starting at
// b[0], or -1 if it does not close. Only strings and nesting are tracked.
func valueEnd(b []byte) int {
	depth, inStr := 0, false
	for i := 0; i < len(b); i++ {
		c := b[i]
		if inStr {
			switch c {
			case '\\':
				i++
			case '"':
				inStr = false
			}
			continue
		}
		switch c {
		case '"':
			inStr = true
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth <= 0 {
				return i + 1
			}
		}
	}
	return -1
}

// checkEvent returns "" if ev is a syntactically valid JSON object of at
// most max bytes, else the reason it is not. It checks syntax only; the
// event is never decoded here. key is the object's partition key (see
// scanEvent).
func checkEvent(ev []byte, max int64) (key []byte, reason string) {
	switch {
	case len(ev) == 0:
		return nil, reasonEmpty
	case int64(len(ev)) > max:
		return nil, reasonTooLarge
	}
	key, ok := scanEvent(ev)
	switch {
	case !ok:
		return nil, reasonInvalid
	case ev[0] != '{':
		return nil, reasonNotObject
	}
	return key, ""
}

// deviceIDKey is what findDeviceID looks for.
var deviceIDKey = []byte(`"DeviceID"`)

// findDeviceID returns the value of the first "DeviceID" member of a valid
// JSON object if it is cheap to find: a string without escapes (without its
// quotes) or a number; else nil. It may find a nested member of that name;
// the key is only a partitioning hint.
func findDeviceID(ev []byte) []byte {
	off := 0
	for {
		i := bytes.Index(ev[off:], deviceIDKey)
		if i < 0 {
			return nil
		}
		p := skipSpace(ev, off+i+len(deviceIDKey))
		if p < len(ev) && ev[p] == ':' {
			p = skipSpace(ev, p+1)
			if p >= len(ev) {
				return nil
			}
			switch c := ev[p]; {
			case c == '"':
				for q := p + 1; q < len(ev); q++ {
					switch ev[q] {
					case '\\':
						return nil
					case '"':
						return ev[p+1 : q]
					}
				}
				return nil
			case c == '-' || (c >= '0' && c <= '9'):
				q := p + 1
				for q < len(ev) && (ev[q] >= '0' && ev[q] <= '9' || ev[q] == '.' || ev[q] == 'e' || ev[q] == 'E' || ev[q] == '+' || ev[q] == '-') {
					q++
				}
				return ev[p:q]
			}
			return nil
		}
		off += i + len(deviceIDKey)
	}
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func skipSpace(b []byte, i int) int {
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	return i
}

func trimSpace(b []byte) []byte {
	i, j := 0, len(b)
	for i < j && isSpace(b[i]) {
		i++
	}
	for j > i && isSpace(b[j-1]) {
		j--
	}
	return b[i:j]
}
