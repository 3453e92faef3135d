package ingest

import "encoding/binary"

// validJSON reports whether b is one syntactically valid JSON value with
// optional surrounding whitespace: exactly what encoding/json.Valid
// accepts (RFC 8259 grammar, control characters refused in strings, UTF-8
// not checked, nesting deeper than maxNesting refused), checked against it
// by FuzzValidJSON. It is a plain recursive-descent scan without a state
// machine call per byte, several times faster than json.Valid, and it does
// not allocate.
func validJSON(b []byte) bool {
	i, ok := scanValue(b, skipSpace(b, 0), 0)
	return ok && skipSpace(b, i) == len(b)
}

// scanEvent is checkEvent's syntax check and findDeviceID's search in one
// pass over an event: ok reports what validJSON(ev) reports, and key is the
// value of the object's first top-level "DeviceID" member as findDeviceID
// would return it (an unescaped string without its quotes, or a number),
// nil if there is none or ev is not an object. Matching the member while
// the keys are scanned anyway spares a second pass over every event.
func scanEvent(ev []byte) (key []byte, ok bool) {
	i := skipSpace(ev, 0)
	if i >= len(ev) || ev[i] != '{' {
		return nil, validJSON(ev)
	}
	var dev deviceID
	if i, ok = scanObject(ev, i+1, 1, &dev); !ok || skipSpace(ev, i) != len(ev) {
		return nil, false
	}
	return dev.val, true
}

// deviceID is what scanObject found of an object's first "DeviceID"
// member.
type deviceID struct {
	val   []byte // see deviceIDValue
	found bool
}

// deviceIDValue returns the partition key a valid JSON value v gives: a
// string without escapes (without its quotes), a number as written, or nil.
func deviceIDValue(v []byte) []byte {
	switch c := v[0]; {
	case c == '"':
		s := v[1 : len(v)-1]
		for _, c := range s {
			if c == '\\' {
				return nil
			}
		}
		return s
	case c == '-' || (c >= '0' && c <= '9'):
		return v
	}
	return nil
}

// maxNesting is encoding/json's limit on nested objects and arrays.
const maxNesting = 10000

// plainByte marks the bytes that may appear unescaped in a JSON string
// without ending it.
var plainByte = func() (t [256]bool) {
	for c := 0x20; c < 256; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// scanValue scans the value starting at b[i] (no leading whitespace) and
// returns the offset after it.
func scanValue(b []byte, i, depth int) (int, bool) {
	if i >= len(b) {
		return i, false
	}
	switch c := b[i]; c {
	case '{':
		return scanObject(b, i+1, depth+1, nil)
	case '[':
		return scanArray(b, i+1, depth+1)
	case '"':
		return scanString(b, i+1)
	case 't':
		return scanLiteral(b, i, "true")
	case 'f':
		return scanLiteral(b, i, "false")
	case 'n':
		return scanLiteral(b, i, "null")
	default:
		if c == '-' || (c >= '0' && c <= '9') {
			return scanNumber(b, i)
		}
		return i, false
	}
}

// scanObject scans the members of an object whose '{' is before b[i].
// With dev, it also notes the object's first "DeviceID" member (top level
// only: nested objects are scanned without).
func scanObject(b []byte, i, depth int, dev *deviceID) (int, bool) {
	if depth > maxNesting {
		return i, false
	}
	i = skipSpace(b, i)
	if i < len(b) && b[i] == '}' {
		return i + 1, true
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return i, false
		}
		start := i + 1
		var ok bool
		if i, ok = scanString(b, start); !ok {
			return i, false
		}
		isDev := dev != nil && !dev.found && string(b[start:i-1]) == "DeviceID"
		i = skipSpace(b, i)
		if i >= len(b) || b[i] != ':' {
			return i, false
		}
		v := skipSpace(b, i+1)
		if i, ok = scanValue(b, v, depth); !ok {
			return i, false
		}
		if isDev {
			dev.val, dev.found = deviceIDValue(b[v:i]), true
		}
		i = skipSpace(b, i)
		if i >= len(b) {
			return i, false
		}
		switch b[i] {
		case ',':
			i = skipSpace(b, i+1)
		case '}':
			return i + 1, true
		default:
			return i, false
		}
	}
}

func scanArray(b []byte, i, depth int) (int, bool) {
	if depth > maxNesting {
		return i, false
	}
	i = skipSpace(b, i)
	if i < len(b) && b[i] == ']' {
		return i + 1, true
	}
	for {
		var ok bool
		if i, ok = scanValue(b, i, depth); !ok {
			return i, false
		}
		i = skipSpace(b, i)
		if i >= len(b) {
			return i, false
		}
		switch b[i] {
		case ',':
			i = skipSpace(b, i+1)
		case ']':
			return i + 1, true
		default:
			return i, false
		}
	}
}

// scanString scans a string whose opening quote is before b[i].
func scanString(b []byte, i int) (int, bool) {
	// Eight bytes at a time while none of them is '"', '\\' or a control
	// character (the bytes a string's end or escape can start with): keys,
	// device ids and timestamps are 8 to 40 plain bytes.
	for i+8 <= len(b) {
		x := binary.LittleEndian.Uint64(b[i:])
		if special8(x) != 0 {
			break
		}
		i += 8
	}
	for i < len(b) {
		c := b[i]
		if plainByte[c] {
			i++
			continue
		}
		switch {
		case c == '"':
			return i + 1, true
		case c == '\\':
			if i+1 >= len(b) {
				return i, false
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(b) || !isHex(b[i+2]) || !isHex(b[i+3]) || !isHex(b[i+4]) || !isHex(b[i+5]) {
					return i, false
				}
				i += 6
			default:
				return i, false
			}
		default: // control character
			return i, false
		}
	}
	return i, false
}

// special8 is non-zero when one of the eight bytes of x is '"', '\\' or
// below 0x20. (The classic has-zero-byte test on x^'"' and x^'\\', and
// has-less-than-0x20 on x; they may flag a byte after a true one, which
// only ends the fast loop as early as the true one does.)
func special8(x uint64) uint64 {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	q := x ^ (ones * '"')
	s := x ^ (ones * '\\')
	return ((q-ones) & ^q | (s-ones) & ^s | (x-ones*0x20) & ^x) & highs
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

func scanLiteral(b []byte, i int, lit string) (int, bool) {
	if len(b)-i < len(lit) || string(b[i:i+len(lit)]) != lit {
		return i, false
	}
	return i + len(lit), true
}

func scanNumber(b []byte, i int) (int, bool) {
	if b[i] == '-' {
		i++
	}
	switch {
	case i >= len(b):
		return i, false
	case b[i] == '0':
		i++
	case b[i] >= '1' && b[i] <= '9':
		i = scanDigits(b, i+1)
	default:
		return i, false
	}
	if i < len(b) && b[i] == '.' {
		j := scanDigits(b, i+1)
		if j == i+1 {
			return j, false
		}
		i = j
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		j := scanDigits(b, i)
		if j == i {
			return j, false
		}
		i = j
	}
	return i, true
}

func scanDigits(b []byte, i int) int {
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	return i
}
