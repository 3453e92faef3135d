package simulate

import (
	"strconv"
	"time"
)

// Label records one injected fault, for evaluating detectors and checking
// clock correction. It marshals with encoding/json to the same JSON Lines
// AppendJSON writes.
//
//   - spike, dip: Measure's value at Time is Value; without the anomaly it
//     would have been Expected.
//   - level_shift: Measure's baseline moves by about Value-Expected for the
//     device's samples in [Time, End); Value/Expected are the first point's.
//   - skew: the device sampled at Time but its event says Skewed.
//   - offline: the device was offline from Time (its first buffered sample)
//     until End, when it delivered Count buffered events in bulk.
//
// Times are true sampling times (never skewed), except Skewed.
type Label struct {
	Kind     string    `json:"kind"`
	DeviceID string    `json:"device_id"`
	Measure  string    `json:"measure,omitempty"`
	Time     time.Time `json:"time"`
	End      time.Time `json:"end,omitzero"`
	Skewed   time.Time `json:"skewed,omitzero"`
	Value    float64   `json:"value,omitempty"`
	Expected float64   `json:"expected,omitempty"`
	Count    int       `json:"count,omitempty"`
}

// AppendJSON appends l as one JSON object (no newline) without allocating.
func (l *Label) AppendJSON(dst []byte) []byte {
	dst = append(dst, `{"kind":`...)
	dst = strconv.AppendQuote(dst, l.Kind)
	dst = append(dst, `,"device_id":`...)
	dst = strconv.AppendQuote(dst, l.DeviceID)
	if l.Measure != "" {
		dst = append(dst, `,"measure":`...)
		dst = strconv.AppendQuote(dst, l.Measure)
	}
	dst = appendTimeField(dst, `,"time":"`, l.Time)
	if !l.End.IsZero() {
		dst = appendTimeField(dst, `,"end":"`, l.End)
	}
	if !l.Skewed.IsZero() {
		dst = appendTimeField(dst, `,"skewed":"`, l.Skewed)
	}
	if l.Value != 0 {
		dst = append(dst, `,"value":`...)
		dst = strconv.AppendFloat(dst, l.Value, 'f', -1, 64)
	}
	if l.Expected != 0 {
		dst = append(dst, `,"expected":`...)
		dst = strconv.AppendFloat(dst, l.Expected, 'f', -1, 64)
	}
	if l.Count != 0 {
		dst = append(dst, `,"count":`...)
		dst = strconv.AppendInt(dst, int64(l.Count), 10)
	}
	return append(dst, '}')
}

func appendTimeField(dst []byte, key string, t time.Time) []byte {
	dst = append(dst, key...)
	dst = t.UTC().AppendFormat(dst, time.RFC3339Nano)
	return append(dst, '"')
}

// appendMillis appends µs since the epoch as milliseconds with up to three
// decimals, the seed's "Time" format (1609757175225.499).
func appendMillis(dst []byte, us int64) []byte {
	if us < 0 { // not produced (Start is validated), but keep the text right
		dst = append(dst, '-')
		us = -us
	}
	dst = strconv.AppendInt(dst, us/1000, 10)
	frac := us % 1000
	if frac == 0 {
		return dst
	}
	dst = append(dst, '.', byte('0'+frac/100), byte('0'+frac/10%10), byte('0'+frac%10))
	for dst[len(dst)-1] == '0' {
		dst = dst[:len(dst)-1]
	}
	return dst
}

// appendFixed appends v / 10^decimals with at least one and at most
// decimals digits after the point (decimals ≤ 2): 2134,1 → 213.4;
// 4510,2 → 45.1; 77700,2 → 777.0.
func appendFixed(dst []byte, v int64, decimals int) []byte {
	if v < 0 {
		dst = append(dst, '-')
		v = -v
	}
	switch decimals {
	case 0:
		return strconv.AppendInt(dst, v, 10)
	case 1:
		dst = strconv.AppendInt(dst, v/10, 10)
		return append(dst, '.', byte('0'+v%10))
	default:
		dst = strconv.AppendInt(dst, v/100, 10)
		f := v % 100
		dst = append(dst, '.', byte('0'+f/10))
		if f%10 != 0 {
			dst = append(dst, byte('0'+f%10))
		}
		return dst
	}
}
