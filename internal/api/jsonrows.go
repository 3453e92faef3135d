package api

import (
	"math"
	"strconv"
	"unicode/utf8"

	"github.com/sluice-dev/sluice/internal/columnar"
	"github.com/sluice-dev/sluice/internal/sql/fn"
)

// appendRowsJSON appends rows [from, to) of b as a JSON array of arrays, in
// the value formats of FormatValue. Query results can be large; building
// them as []any for encoding/json cost more than the query itself.
func appendRowsJSON(dst []byte, b *columnar.Batch, from, to int) []byte {
	dst = append(dst, '[')
	for i := from; i < to; i++ {
		if i > from {
			dst = append(dst, ',')
		}
		dst = append(dst, '[')
		for j, c := range b.Cols {
			if j > 0 {
				dst = append(dst, ',')
			}
			dst = appendValueJSON(dst, c, i)
		}
		dst = append(dst, ']')
	}
	return append(dst, ']')
}

func appendValueJSON(dst []byte, c *columnar.Column, i int) []byte {
	if c.IsNull(i) {
		return append(dst, "null"...)
	}
	switch c.Type {
	case columnar.Bool:
		return strconv.AppendBool(dst, c.Bools[i])
	case columnar.Int64:
		return strconv.AppendInt(dst, c.Ints[i], 10)
	case columnar.Float64:
		f := c.Floats[i]
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return appendStringJSON(dst, strconv.FormatFloat(f, 'g', -1, 64))
		}
		return strconv.AppendFloat(dst, f, 'g', -1, 64)
	case columnar.Timestamp:
		dst = append(dst, '"')
		dst = fn.AppendTimestamp(dst, c.Ints[i])
		return append(dst, '"')
	case columnar.String:
		return appendStringJSON(dst, c.Strs[i])
	case columnar.Date:
		return appendStringJSON(dst, fn.FormatDate(c.Ints[i]))
	case columnar.Interval:
		return appendStringJSON(dst, fn.FormatInterval(c.Ints[i]))
	}
	return append(dst, "null"...)
}

const hexDigits = "0123456789abcdef"

// appendStringJSON appends s as a JSON string; invalid UTF-8 becomes
// U+FFFD, as encoding/json does.
func appendStringJSON(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, "\ufffd"...)
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
