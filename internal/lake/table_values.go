package lake

import (
	"time"
	"unsafe"
)

// timestampLayouts are the text forms of TIMESTAMP values lake files may
// hold: Hive's "yyyy-mm-dd hh:mm:ss[.fffffffff]", RFC 3339, and a bare date.
var timestampLayouts = []string{
	"2006-01-02 15:04:05.999999999",
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02",
}

// parseTimestampText parses a timestamp in one of timestampLayouts (UTC
// unless an offset is given) or as a number of epoch milliseconds.
func parseTimestampText(b []byte) (int64, bool) {
	if len(b) == 0 {
		return 0, false
	}
	if c := b[0]; ('0' <= c && c <= '9' || c == '-') && !hasByte(b, ':') && !(len(b) == 10 && b[4] == '-') {
		return decimalToNanos(b, 1e6)
	}
	s := unsafe.String(unsafe.SliceData(b), len(b))
	for _, l := range timestampLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t.UnixNano(), true
		}
	}
	return 0, false
}

// parseDateText parses yyyy-mm-dd into days since the epoch.
func parseDateText(b []byte) (int64, bool) {
	s := unsafe.String(unsafe.SliceData(b), len(b))
	t, err := time.Parse("2006-01-02", s)
	if err != nil {
		return 0, false
	}
	return t.Unix() / 86400, true
}

func hasByte(b []byte, c byte) bool {
	for _, x := range b {
		if x == c {
			return true
		}
	}
	return false
}
