package lake

// JSON Lines decoding for lake tables. The hot path is hand-written: each
// line is scanned once, keys are matched to the wanted columns with an
// ASCII case-insensitive compare (Athena's JSON SerDe ignores key case),
// values of other keys are skipped without being decoded, and wanted values
// are parsed straight into typed columns. Strings are copied into one arena
// per batch, so a batch costs a handful of allocations, not one per value.
// A value that does not fit its column type is NULL; a line that is not a
// JSON object is a row of NULLs (Athena's 'ignore.malformed.json').

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"

	"github.com/sluice-dev/sluice/internal/columnar"
)

type jsonDecoder struct {
	t     *Table
	want  []wantCol
	data  []int    // indexes into want of data columns
	names [][]byte // lower-case names of data columns, parallel to data
	seen  []bool   // per data column, set while decoding a row
	buf   []byte   // read buffer

	// per batch
	b     *columnar.Batch
	cols  []*columnar.Column
	arena []byte    // string bytes of the batch
	spans []strSpan // string values not yet materialized: column, row, arena range
	rows  int
	tmp   []byte
}

type strSpan struct {
	col      int // index into want
	row      int
	from, to int
}

func newJSONDecoder(t *Table, want []wantCol) *jsonDecoder {
	d := &jsonDecoder{t: t, want: want}
	for i, w := range want {
		if w.data >= 0 {
			d.data = append(d.data, i)
			d.names = append(d.names, []byte(w.name))
		}
	}
	d.seen = make([]bool, len(d.data))
	return d
}

func (d *jsonDecoder) file(ctx context.Context, f fileTask, emit emitFunc) error {
	r, err := d.t.openText(f)
	if err != nil || r == nil {
		return err
	}
	defer r.Close()
	if d.buf == nil {
		d.buf = make([]byte, 1<<20)
	}
	d.reset()
	flush := func() error {
		if d.rows == 0 {
			return nil
		}
		b := d.finish(f)
		d.reset()
		return emit(b, nil)
	}
	start, end := 0, 0 // unread bytes are buf[start:end]
	eof := false
	for {
		if !eof {
			if start > 0 && start == end {
				start, end = 0, 0
			}
			if end == len(d.buf) {
				if start > 0 {
					end = copy(d.buf, d.buf[start:end])
					start = 0
				} else {
					// One line longer than the buffer: grow it.
					nb := make([]byte, 2*len(d.buf))
					end = copy(nb, d.buf[:end])
					d.buf = nb
				}
			}
			n, err := r.Read(d.buf[end:])
			end += n
			if err != nil {
				if !errors.Is(err, io.EOF) {
					return fmt.Errorf("lake: reading %s: %w", f.path, err)
				}
				eof = true
			}
		}
		for start < end {
			nl := bytes.IndexByte(d.buf[start:end], '\n')
			var line []byte
			if nl < 0 {
				if !eof {
					break
				}
				line = d.buf[start:end]
				start = end
			} else {
				line = d.buf[start : start+nl]
				start += nl + 1
			}
			if d.line(line) && d.rows >= batchRows {
				if err := ctx.Err(); err != nil {
					return err
				}
				if err := flush(); err != nil {
					return err
				}
			}
		}
		if eof && start >= end {
			break
		}
	}
	return flush()
}

func (d *jsonDecoder) reset() {
	d.b, d.cols = newScanBatch(d.want, batchRows)
	d.arena = make([]byte, 0, max(cap(d.arena), 4096))
	d.spans = d.spans[:0]
	d.rows = 0
}

// finish materializes the batch's strings and partition columns.
func (d *jsonDecoder) finish(f fileTask) *columnar.Batch {
	if len(d.arena) > 0 {
		// The arena is never written again (reset allocates a new one), so
		// strings may point into it.
		all := unsafe.String(unsafe.SliceData(d.arena), len(d.arena))
		for _, s := range d.spans {
			d.cols[s.col].Strs[s.row] = all[s.from:s.to]
		}
	}
	fillPartitions(d.want, d.cols, f, d.rows)
	return d.b
}

func jsonSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

// line decodes one line into the batch; it reports whether a row was added
// (blank lines add none).
func (d *jsonDecoder) line(line []byte) bool {
	i := 0
	for i < len(line) && jsonSpace(line[i]) {
		i++
	}
	if i == len(line) {
		return false
	}
	arenaMark, spanMark := len(d.arena), len(d.spans)
	if !d.object(line, i) {
		// Undo what the bad line appended and add a row of NULLs.
		d.arena, d.spans = d.arena[:arenaMark], d.spans[:spanMark]
		for _, k := range d.data {
			truncateColumn(d.cols[k], d.rows)
			d.cols[k].AppendNull()
		}
	}
	d.rows++
	return true
}

// object decodes {…} at line[i:] as one row; false means malformed.
func (d *jsonDecoder) object(line []byte, i int) bool {
	for k := range d.seen {
		d.seen[k] = false
	}
	if line[i] != '{' {
		return false
	}
	i++
	i = jsonSkipWS(line, i)
	if i < len(line) && line[i] == '}' {
		i++
	} else {
		for {
			if i >= len(line) || line[i] != '"' {
				return false
			}
			key, ni, ok := d.key(line, i)
			if !ok {
				return false
			}
			i = jsonSkipWS(line, ni)
			if i >= len(line) || line[i] != ':' {
				return false
			}
			i = jsonSkipWS(line, i+1)
			if i >= len(line) {
				return false
			}
			k := d.match(key)
			if k >= 0 && !d.seen[k] {
				d.seen[k] = true
				ni, ok = d.value(line, i, d.data[k])
			} else {
				ni, ok = jsonSkipValue(line, i, 0)
			}
			if !ok {
				return false
			}
			i = jsonSkipWS(line, ni)
			if i >= len(line) {
				return false
			}
			if line[i] == ',' {
				i = jsonSkipWS(line, i+1)
				continue
			}
			if line[i] != '}' {
				return false
			}
			i++
			break
		}
	}
	if jsonSkipWS(line, i) != len(line) {
		return false
	}
	for k, s := range d.seen {
		if !s {
			d.cols[d.data[k]].AppendNull()
		}
	}
	return true
}

func jsonSkipWS(b []byte, i int) int {
	for i < len(b) && jsonSpace(b[i]) {
		i++
	}
	return i
}

// key returns the raw key at b[i] (a '"'), unescaped if it has escapes.
func (d *jsonDecoder) key(b []byte, i int) ([]byte, int, bool) {
	end, esc, ok := jsonStringEnd(b, i)
	if !ok {
		return nil, 0, false
	}
	raw := b[i+1 : end]
	if esc {
		var good bool
		d.tmp, good = jsonUnescape(d.tmp[:0], raw)
		if !good {
			return nil, 0, false
		}
		raw = d.tmp
	}
	return raw, end + 1, true
}

// match finds the data column whose name equals key ignoring ASCII case.
func (d *jsonDecoder) match(key []byte) int {
	for k, n := range d.names {
		if len(n) == len(key) && equalFoldASCII(key, n) {
			return k
		}
	}
	return -1
}

// equalFoldASCII compares a with lower-case b, folding ASCII letters of a.
func equalFoldASCII(a, b []byte) bool {
	for i, c := range a {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != b[i] {
			return false
		}
	}
	return true
}

// stringEnd returns the index of the closing quote of the string starting
// at b[i] == '"', and whether it holds escapes.
func jsonStringEnd(b []byte, i int) (int, bool, bool) {
	j := i + 1
	esc := false
	for {
		q := bytes.IndexByte(b[j:], '"')
		if q < 0 {
			return 0, false, false
		}
		q += j
		// Count the backslashes before the quote: an odd number escapes it.
		n := 0
		for k := q - 1; k > i && b[k] == '\\'; k-- {
			n++
		}
		if n > 0 || (!esc && bytes.IndexByte(b[j:q], '\\') >= 0) {
			esc = true
		}
		if n%2 == 0 {
			return q, esc, true
		}
		j = q + 1
	}
}

// unescape appends the JSON string body raw, unescaped, to dst.
func jsonUnescape(dst, raw []byte) ([]byte, bool) {
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if c != '\\' {
			dst = append(dst, c)
			continue
		}
		i++
		if i >= len(raw) {
			return dst, false
		}
		switch raw[i] {
		case '"', '\\', '/':
			dst = append(dst, raw[i])
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r, ok := jsonHex4(raw, i+1)
			if !ok {
				return dst, false
			}
			i += 4
			if utf16.IsSurrogate(r) {
				if i+6 < len(raw)+0 && raw[i+1] == '\\' && raw[i+2] == 'u' {
					if r2, ok := jsonHex4(raw, i+3); ok {
						if rr := utf16.DecodeRune(r, r2); rr != utf8.RuneError {
							i += 6
							dst = utf8.AppendRune(dst, rr)
							continue
						}
					}
				}
				r = utf8.RuneError
			}
			dst = utf8.AppendRune(dst, r)
		default:
			return dst, false
		}
	}
	return dst, true
}

func jsonHex4(b []byte, i int) (rune, bool) {
	if i+4 > len(b) {
		return 0, false
	}
	var r rune
	for _, c := range b[i : i+4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

const maxJSONDepth = 512

// skipValue returns the index after the JSON value at b[i].
func jsonSkipValue(b []byte, i, depth int) (int, bool) {
	if i >= len(b) || depth > maxJSONDepth {
		return 0, false
	}
	switch c := b[i]; c {
	case '"':
		end, _, ok := jsonStringEnd(b, i)
		return end + 1, ok
	case '{', '[':
		closer := byte('}')
		if c == '[' {
			closer = ']'
		}
		i = jsonSkipWS(b, i+1)
		if i < len(b) && b[i] == closer {
			return i + 1, true
		}
		for {
			if c == '{' {
				if i >= len(b) || b[i] != '"' {
					return 0, false
				}
				end, _, ok := jsonStringEnd(b, i)
				if !ok {
					return 0, false
				}
				i = jsonSkipWS(b, end+1)
				if i >= len(b) || b[i] != ':' {
					return 0, false
				}
				i = jsonSkipWS(b, i+1)
			}
			var ok bool
			i, ok = jsonSkipValue(b, i, depth+1)
			if !ok {
				return 0, false
			}
			i = jsonSkipWS(b, i)
			if i >= len(b) {
				return 0, false
			}
			if b[i] == ',' {
				i = jsonSkipWS(b, i+1)
				continue
			}
			if b[i] != closer {
				return 0, false
			}
			return i + 1, true
		}
	case 't':
		return jsonLiteral(b, i, "true")
	case 'f':
		return jsonLiteral(b, i, "false")
	case 'n':
		return jsonLiteral(b, i, "null")
	}
	j := i
	for j < len(b) && isNumByte(b[j]) {
		j++
	}
	if j == i {
		return 0, false
	}
	return j, true
}

func isNumByte(c byte) bool {
	return ('0' <= c && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E'
}

func jsonLiteral(b []byte, i int, lit string) (int, bool) {
	if len(b)-i >= len(lit) && string(b[i:i+len(lit)]) == lit {
		return i + len(lit), true
	}
	return 0, false
}

// value decodes the JSON value at b[i] into want column k.
func (d *jsonDecoder) value(b []byte, i, k int) (int, bool) {
	c := d.cols[k]
	switch b[i] {
	case 'n':
		j, ok := jsonLiteral(b, i, "null")
		if ok {
			c.AppendNull()
		}
		return j, ok
	case '"':
		end, esc, ok := jsonStringEnd(b, i)
		if !ok {
			return 0, false
		}
		raw := b[i+1 : end]
		if esc {
			var good bool
			d.tmp, good = jsonUnescape(d.tmp[:0], raw)
			if !good {
				return 0, false
			}
			raw = d.tmp
		}
		if c.Type == columnar.String {
			d.appendStr(k, raw)
		} else {
			appendText(c, raw)
		}
		return end + 1, true
	case '{', '[':
		j, ok := jsonSkipValue(b, i, 0)
		if !ok {
			return 0, false
		}
		if c.Type == columnar.String {
			d.appendStr(k, b[i:j]) // complex values read as their JSON text
		} else {
			c.AppendNull()
		}
		return j, true
	case 't', 'f':
		lit := "true"
		if b[i] == 'f' {
			lit = "false"
		}
		j, ok := jsonLiteral(b, i, lit)
		if !ok {
			return 0, false
		}
		switch c.Type {
		case columnar.Bool:
			c.AppendBool(lit == "true")
		case columnar.String:
			d.appendStr(k, b[i:j])
		default:
			c.AppendNull()
		}
		return j, true
	}
	j := i
	for j < len(b) && isNumByte(b[j]) {
		j++
	}
	if j == i {
		return 0, false
	}
	num := b[i:j]
	switch c.Type {
	case columnar.Float64:
		if f, ok := lakeParseFloat(num); ok {
			c.AppendFloat(f)
		} else {
			c.AppendNull()
		}
	case columnar.Int64:
		if n, ok := parseIntNum(num); ok {
			c.AppendInt(n)
		} else {
			c.AppendNull()
		}
	case columnar.Timestamp:
		// Numbers are epoch milliseconds (fractions kept), as the seed's
		// events and Athena's OpenX SerDe have them.
		if ns, ok := decimalToNanos(num, 1e6); ok {
			c.AppendInt(ns)
		} else {
			c.AppendNull()
		}
	case columnar.String:
		if _, ok := lakeParseFloat(num); !ok {
			return 0, false
		}
		d.appendStr(k, num)
	default:
		c.AppendNull()
	}
	return j, true
}

// appendStr adds a string value to column k through the arena.
func (d *jsonDecoder) appendStr(k int, v []byte) {
	c := d.cols[k]
	row := len(c.Strs)
	c.AppendString("")
	if len(v) == 0 {
		return
	}
	from := len(d.arena)
	d.arena = append(d.arena, v...)
	d.spans = append(d.spans, strSpan{col: k, row: row, from: from, to: len(d.arena)})
}

// appendText converts a string value to a non-string column; what does not
// parse is NULL.
func appendText(c *columnar.Column, v []byte) {
	v = bytes.TrimSpace(v)
	switch c.Type {
	case columnar.Float64:
		if f, ok := lakeParseFloat(v); ok {
			c.AppendFloat(f)
			return
		}
	case columnar.Int64:
		if n, ok := parseIntNum(v); ok {
			c.AppendInt(n)
			return
		}
	case columnar.Bool:
		switch {
		case bytes.EqualFold(v, []byte("true")):
			c.AppendBool(true)
			return
		case bytes.EqualFold(v, []byte("false")):
			c.AppendBool(false)
			return
		}
	case columnar.Timestamp:
		if ns, ok := parseTimestampText(v); ok {
			c.AppendInt(ns)
			return
		}
	case columnar.Date:
		if days, ok := parseDateText(v); ok {
			c.AppendInt(days)
			return
		}
	}
	c.AppendNull()
}

var pow10 = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
	1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

// parseFloat parses a JSON-style number. Numbers with at most 15
// significant digits and a small exponent take Clinger's exact fast path
// (mantissa and power of ten both exact doubles, one correctly rounded
// operation); others go to strconv.
func lakeParseFloat(b []byte) (float64, bool) {
	i := 0
	neg := false
	if i < len(b) && (b[i] == '-' || b[i] == '+') {
		neg = b[i] == '-'
		i++
	}
	var mant uint64
	digits, exp := 0, 0
	start := i
	for i < len(b) && '0' <= b[i] && b[i] <= '9' {
		if digits < 19 {
			mant = mant*10 + uint64(b[i]-'0')
			if mant != 0 {
				digits++
			}
		} else {
			exp++
		}
		i++
	}
	intDigits := i - start
	fracDigits := 0
	if i < len(b) && b[i] == '.' {
		i++
		fs := i
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			if digits < 19 {
				mant = mant*10 + uint64(b[i]-'0')
				if mant != 0 {
					digits++
				}
				exp--
			}
			i++
		}
		fracDigits = i - fs
		if fracDigits == 0 {
			return 0, false
		}
	}
	if intDigits == 0 && fracDigits == 0 {
		return 0, false
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		eneg := false
		if i < len(b) && (b[i] == '-' || b[i] == '+') {
			eneg = b[i] == '-'
			i++
		}
		es := i
		e := 0
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			if e < 10000 {
				e = e*10 + int(b[i]-'0')
			}
			i++
		}
		if i == es {
			return 0, false
		}
		if eneg {
			e = -e
		}
		exp += e
	}
	if i != len(b) {
		return 0, false
	}
	if digits <= 15 && mant < 1<<53 && exp >= -22 && exp <= 22 {
		f := float64(mant)
		if exp < 0 {
			f /= pow10[-exp]
		} else {
			f *= pow10[exp]
		}
		if neg {
			f = -f
		}
		return f, true
	}
	f, err := strconv.ParseFloat(unsafe.String(unsafe.SliceData(b), len(b)), 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return 0, false
	}
	return f, true
}

// parseIntNum parses an integer; a number with a fraction or exponent is
// accepted when its value is integral and fits.
func parseIntNum(b []byte) (int64, bool) {
	i := 0
	neg := false
	if i < len(b) && (b[i] == '-' || b[i] == '+') {
		neg = b[i] == '-'
		i++
	}
	if i == len(b) {
		return 0, false
	}
	var n uint64
	j := i
	for ; j < len(b) && '0' <= b[j] && b[j] <= '9'; j++ {
		if n > (math.MaxUint64-9)/10 {
			return 0, false
		}
		n = n*10 + uint64(b[j]-'0')
	}
	if j == len(b) {
		if neg {
			if n > 1<<63 {
				return 0, false
			}
			return -int64(n), true
		}
		if n > math.MaxInt64 {
			return 0, false
		}
		return int64(n), true
	}
	f, ok := lakeParseFloat(b)
	if !ok || f != math.Trunc(f) || f < -9.223372036854775e18 || f > 9.223372036854775e18 {
		return 0, false
	}
	return int64(f), true
}

// decimalToNanos converts a decimal number of units (unit = nanoseconds per
// unit) to nanoseconds, keeping the fraction exactly.
func decimalToNanos(b []byte, unit int64) (int64, bool) {
	i := 0
	neg := false
	if i < len(b) && (b[i] == '-' || b[i] == '+') {
		neg = b[i] == '-'
		i++
	}
	var whole int64
	s := i
	for ; i < len(b) && '0' <= b[i] && b[i] <= '9'; i++ {
		if whole > math.MaxInt64/10/unit {
			return 0, false
		}
		whole = whole*10 + int64(b[i]-'0')
	}
	if i == s {
		return 0, false
	}
	ns := whole * unit
	if i < len(b) && b[i] == '.' {
		i++
		scale := unit
		for ; i < len(b) && '0' <= b[i] && b[i] <= '9'; i++ {
			scale /= 10
			ns += int64(b[i]-'0') * scale
		}
	}
	if i != len(b) {
		// Exponents and the like: go through float.
		f, ok := lakeParseFloat(b)
		if !ok || math.Abs(f*float64(unit)) > 9.2e18 {
			return 0, false
		}
		return int64(math.Round(f * float64(unit))), true
	}
	if neg {
		ns = -ns
	}
	return ns, true
}
