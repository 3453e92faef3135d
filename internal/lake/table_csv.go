package lake

// Delimited text for lake tables, as Athena reads it with LazySimpleSerDe
// (ROW FORMAT DELIMITED: a field separator, an optional escape character,
// no quoting, \N for NULL) and OpenCSVSerde (separatorChar, quoteChar,
// escapeChar; quoted fields may hold separators, newlines and doubled
// quotes). Fields map to columns by position; missing trailing fields are
// NULL, extra ones are ignored; a field that does not parse as its column's
// type is NULL.

import (
	"bytes"
	"context"
	"fmt"
	"io"

	"github.com/sluice-dev/sluice/internal/columnar"
)

type csvDecoder struct {
	t      *Table
	want   []wantCol
	byData map[int]int // data column index → want index
	sep    byte
	quote  byte // 0: none
	escape byte // 0: none
	null   []byte
	field  []byte
}

func newCSVDecoder(t *Table, want []wantCol) *csvDecoder {
	d := &csvDecoder{t: t, want: want, byData: map[int]int{}, sep: ','}
	for i, w := range want {
		if w.data >= 0 {
			d.byData[w.data] = i
		}
	}
	def := &t.def
	if def.Separator != "" {
		d.sep = def.Separator[0]
	}
	if def.Quote != "" {
		d.quote = def.Quote[0]
	}
	if def.Escape != "" {
		d.escape = def.Escape[0]
	}
	if def.NullFormat != "" {
		d.null = []byte(def.NullFormat)
	}
	return d
}

func (d *csvDecoder) file(ctx context.Context, f fileTask, emit emitFunc) error {
	r, err := d.t.openText(f)
	if err != nil || r == nil {
		return err
	}
	data, err := io.ReadAll(r)
	r.Close()
	if err != nil {
		return fmt.Errorf("lake: reading %s: %w", f.path, err)
	}
	b, cols := newScanBatch(d.want, batchRows)
	rows := 0
	skip := d.t.def.SkipHeader
	for pos := 0; pos < len(data); {
		var fields int
		var blank bool
		pos, fields, blank = d.record(data, pos, cols, skip > 0)
		if skip > 0 {
			skip--
			continue
		}
		if blank {
			// An empty line is no row (Hive reads it as one NULL row only
			// for single-column tables; skipping is what users expect).
			continue
		}
		// Columns past the last field are NULL.
		for di, wi := range d.byData {
			if di >= fields {
				cols[wi].AppendNull()
			}
		}
		rows++
		if rows == batchRows {
			if err := ctx.Err(); err != nil {
				return err
			}
			fillPartitions(d.want, cols, f, rows)
			if err := emit(b, nil); err != nil {
				return err
			}
			b, cols = newScanBatch(d.want, batchRows)
			rows = 0
		}
	}
	if rows > 0 {
		fillPartitions(d.want, cols, f, rows)
		return emit(b, nil)
	}
	return nil
}

// record parses one record at data[pos:], appending wanted fields to cols
// (unless discard), and returns the position after it, the number of
// fields and whether the line was empty.
func (d *csvDecoder) record(data []byte, pos int, cols []*columnar.Column, discard bool) (int, int, bool) {
	fields := 0
	if data[pos] == '\n' || (data[pos] == '\r' && pos+1 < len(data) && data[pos+1] == '\n') {
		if data[pos] == '\r' {
			pos++
		}
		return pos + 1, 0, true
	}
	for {
		var quoted, end bool
		pos, quoted, end = d.nextField(data, pos)
		if !discard {
			if wi, ok := d.byData[fields]; ok {
				d.appendField(cols[wi], d.field, quoted)
			}
		}
		fields++
		if end {
			return pos, fields, false
		}
	}
}

// nextField reads one field into d.field and returns the position after
// its separator or line end, whether it was quoted, and whether the record
// ended.
func (d *csvDecoder) nextField(data []byte, pos int) (int, bool, bool) {
	d.field = d.field[:0]
	quoted := false
	if d.quote != 0 && pos < len(data) && data[pos] == d.quote {
		quoted = true
		pos++
		for pos < len(data) {
			c := data[pos]
			switch {
			case d.escape != 0 && c == d.escape && d.escape != d.quote && pos+1 < len(data):
				d.field = append(d.field, data[pos+1])
				pos += 2
				continue
			case c == d.quote:
				if pos+1 < len(data) && data[pos+1] == d.quote {
					d.field = append(d.field, c)
					pos += 2
					continue
				}
				pos++
				// Text after the closing quote, up to the separator, is kept
				// (OpenCSV is lenient the same way).
				for pos < len(data) && data[pos] != d.sep && data[pos] != '\n' {
					if data[pos] != '\r' {
						d.field = append(d.field, data[pos])
					}
					pos++
				}
				return d.fieldEnd(data, pos, true)
			}
			d.field = append(d.field, c)
			pos++
		}
		return pos, true, true
	}
	for pos < len(data) {
		c := data[pos]
		switch {
		case c == d.sep:
			return pos + 1, quoted, false
		case c == '\n':
			d.field = bytes.TrimSuffix(d.field, []byte{'\r'})
			return pos + 1, quoted, true
		case d.escape != 0 && c == d.escape && pos+1 < len(data):
			d.field = append(d.field, unescapeDelimited(data[pos+1]))
			pos += 2
			continue
		}
		d.field = append(d.field, c)
		pos++
	}
	d.field = bytes.TrimSuffix(d.field, []byte{'\r'})
	return pos, quoted, true
}

func (d *csvDecoder) fieldEnd(data []byte, pos int, quoted bool) (int, bool, bool) {
	if pos >= len(data) {
		return pos, quoted, true
	}
	if data[pos] == '\n' {
		return pos + 1, quoted, true
	}
	return pos + 1, quoted, false // the separator
}

// unescapeDelimited maps LazySimpleSerDe's escaped characters.
func unescapeDelimited(c byte) byte {
	switch c {
	case 'n':
		return '\n'
	case 't':
		return '\t'
	case 'r':
		return '\r'
	}
	return c
}

func (d *csvDecoder) appendField(c *columnar.Column, v []byte, quoted bool) {
	if !quoted && d.null != nil && bytes.Equal(v, d.null) {
		c.AppendNull()
		return
	}
	if c.Type == columnar.String {
		c.AppendString(string(v))
		return
	}
	appendText(c, v)
}
