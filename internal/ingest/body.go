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

var allReasons = []string{reasonEmpty, reasonInvalid, reasonNotObject, reasonTooLarge}

var (
	errUnterminatedArray = errors.New("unterminated JSON array")
	errTrailingData      = errors.New("data after the JSON array")
)

// splitBody appends the events of an HTTP body to dst and returns it. The
// body is one JSON object, a JSON array of objects, or NDJSON (one object
// per line; blank lines are skipped, a trailing \r is dropped). The returned
// slices alias body and hold each event's original bytes (array elements
// and lines without surrounding whitespace); they are not validated here.
// An error means the body's structure is broken (an array that never
// closes or has data after it), not that an event is invalid.
func splitBody(dst [][]byte, body []byte) ([][]byte, error) {
	body = trimSpace(body)
	if len(body) == 0 {
		return dst, nil
	}
	switch body[0] {
	case '[':
		return splitArray(dst, body)
	case '{':
		// One object, possibly spread over several lines, or NDJSON. The
		// first value's end decides; for NDJSON only the first line is
		// scanned twice.
		if end := valueEnd(body); end == len(body) {
			return append(dst, body), nil
		}
	}
	return splitLines(dst, body), nil
}

func splitLines(dst [][]byte, body []byte) [][]byte {
	for len(body) > 0 {
		var line []byte
		if i := bytes.IndexByte(body, '\n'); i >= 0 {
			line, body = body[:i], body[i+1:]
		} else {
			line, body = body, nil
		}
		if line = trimSpace(line); len(line) > 0 {
			dst = append(dst, line)
		}
	}
	return dst
}

// splitArray splits a top-level JSON array into its elements' bytes. It
// only tracks strings and nesting depth; each element is validated later.
func splitArray(dst [][]byte, body []byte) ([][]byte, error) {
	i := 1 // after '['
	if j := skipSpace(body, i); j < len(body) && body[j] == ']' {
		if skipSpace(body, j+1) != len(body) {
			return dst, errTrailingData
		}
		return dst, nil
	}
	start, depth, inStr := i, 0, false
	for ; i < len(body); i++ {
		c := body[i]
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
				dst = append(dst, trimSpace(body[start:i]))
				if skipSpace(body, i+1) != len(body) {
					return dst, errTrailingData
				}
				return dst, nil
			}
			depth--
		case ',':
			if depth == 0 {
				dst = append(dst, trimSpace(body[start:i]))
				start = i + 1
			}
		}
	}
	return dst, errUnterminatedArray
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
// event is never decoded here.
func checkEvent(ev []byte, max int64) string {
	switch {
	case len(ev) == 0:
		return reasonEmpty
	case int64(len(ev)) > max:
		return reasonTooLarge
	case !validJSON(ev):
		return reasonInvalid
	case ev[0] != '{':
		return reasonNotObject
	}
	return ""
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
