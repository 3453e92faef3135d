package stream

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// A frame is the payload of one stream message: the events of one group
// commit, each kept byte for byte as the device sent it.
//
//	frame  := version(1 byte = 1) count(uvarint) record*
//	record := flags(1 byte) keyLen(uvarint) key [hashLen(uvarint) hash] attrCount(uvarint) attr*  dataLen(uvarint) data
//	attr   := nameLen(uvarint) name valueLen(uvarint) value
//
// Key is the partition key (device id, or the Kinesis PartitionKey). The
// hash field is present only with flag flagHashKey: a Kinesis
// ExplicitHashKey (decimal), which decides the record's shard instead of
// MD5(Key). Flag flagJSONLine carries Record.JSONLine. Attrs
// are dimensions the front door learned outside the payload (the device id
// from an MQTT topic); the processor adds them only when the payload lacks
// them, and the lake ignores them.
const frameVersion = 1

// Record flags.
const (
	flagHashKey  = 1 << 0
	flagJSONLine = 1 << 1 // Record.JSONLine
	knownFlags   = flagHashKey | flagJSONLine
)

// Record is one device event inside a frame.
type Record struct {
	Key string
	// HashKey is the Kinesis ExplicitHashKey, "" for none.
	HashKey string
	Attrs   []Attr
	Data    []byte
	// JSONLine says that the front door checked Data: it is one
	// syntactically valid JSON object (RFC 8259, as encoding/json.Valid
	// accepts it) with no '\n' or '\r' byte, so a consumer that needs no
	// more than that (the lake's JSON Lines) need not check it again.
	// False says nothing either way.
	JSONLine bool
}

// Position is where a record of a framed message sits: the message's
// stream sequence and the record's index in the frame. Kinesis sequence
// numbers are made from it.
type Position struct {
	Seq   uint64
	Index int
}

// Attr is a name/value pair learned outside the payload.
type Attr struct{ Name, Value string }

// ErrBadFrame is wrapped by DecodeFrame errors.
var ErrBadFrame = errors.New("stream: malformed frame")

// AppendFrameHeader starts a frame of n records in dst.
func AppendFrameHeader(dst []byte, n int) []byte {
	dst = append(dst, frameVersion)
	return binary.AppendUvarint(dst, uint64(n))
}

// AppendRecord appends one record to a frame started by AppendFrameHeader.
func AppendRecord(dst []byte, r Record) []byte {
	var flags byte
	if r.HashKey != "" {
		flags |= flagHashKey
	}
	if r.JSONLine {
		flags |= flagJSONLine
	}
	dst = append(dst, flags)
	dst = binary.AppendUvarint(dst, uint64(len(r.Key)))
	dst = append(dst, r.Key...)
	if r.HashKey != "" {
		dst = binary.AppendUvarint(dst, uint64(len(r.HashKey)))
		dst = append(dst, r.HashKey...)
	}
	dst = binary.AppendUvarint(dst, uint64(len(r.Attrs)))
	for _, a := range r.Attrs {
		dst = binary.AppendUvarint(dst, uint64(len(a.Name)))
		dst = append(dst, a.Name...)
		dst = binary.AppendUvarint(dst, uint64(len(a.Value)))
		dst = append(dst, a.Value...)
	}
	dst = binary.AppendUvarint(dst, uint64(len(r.Data)))
	return append(dst, r.Data...)
}

// AppendFrame encodes recs as one frame.
func AppendFrame(dst []byte, recs []Record) []byte {
	dst = AppendFrameHeader(dst, len(recs))
	for _, r := range recs {
		dst = AppendRecord(dst, r)
	}
	return dst
}

// FrameLen reports how many records a frame holds without decoding them.
func FrameLen(frame []byte) (int, error) {
	if len(frame) < 1 || frame[0] != frameVersion {
		return 0, fmt.Errorf("%w: unknown version", ErrBadFrame)
	}
	n, k := binary.Uvarint(frame[1:])
	if k <= 0 || n > uint64(len(frame)) {
		return 0, fmt.Errorf("%w: bad record count", ErrBadFrame)
	}
	return int(n), nil
}

// DecodeFrame calls fn for each record of frame in order. Record.Data and
// the strings alias frame's memory only for Data; Key and Attrs are copied.
func DecodeFrame(frame []byte, fn func(i int, r Record) error) error {
	n, err := FrameLen(frame)
	if err != nil {
		return err
	}
	_, k := binary.Uvarint(frame[1:])
	p := frame[1+k:]
	var attrs []Attr
	for i := 0; i < n; i++ {
		if len(p) < 1 {
			return fmt.Errorf("%w: record %d truncated", ErrBadFrame, i)
		}
		flags := p[0]
		if flags&^knownFlags != 0 {
			// A frame that uses an unknown flag was written by a newer
			// sluice and must not be misread.
			return fmt.Errorf("%w: record %d has unknown flags %#x", ErrBadFrame, i, flags)
		}
		p = p[1:]
		r := Record{JSONLine: flags&flagJSONLine != 0}
		var b []byte
		if b, p, err = readBytes(p); err != nil {
			return fmt.Errorf("%w: record %d key: %v", ErrBadFrame, i, err)
		}
		r.Key = string(b)
		if flags&flagHashKey != 0 {
			if b, p, err = readBytes(p); err != nil {
				return fmt.Errorf("%w: record %d hash key: %v", ErrBadFrame, i, err)
			}
			r.HashKey = string(b)
		}
		na, k := binary.Uvarint(p)
		if k <= 0 || na > uint64(len(p)) {
			return fmt.Errorf("%w: record %d attribute count", ErrBadFrame, i)
		}
		p = p[k:]
		attrs = attrs[:0]
		for j := uint64(0); j < na; j++ {
			var name, val []byte
			if name, p, err = readBytes(p); err != nil {
				return fmt.Errorf("%w: record %d attribute %d: %v", ErrBadFrame, i, j, err)
			}
			if val, p, err = readBytes(p); err != nil {
				return fmt.Errorf("%w: record %d attribute %d: %v", ErrBadFrame, i, j, err)
			}
			attrs = append(attrs, Attr{string(name), string(val)})
		}
		if len(attrs) > 0 {
			r.Attrs = append([]Attr(nil), attrs...)
		}
		if r.Data, p, err = readBytes(p); err != nil {
			return fmt.Errorf("%w: record %d data: %v", ErrBadFrame, i, err)
		}
		if err := fn(i, r); err != nil {
			return err
		}
	}
	if len(p) != 0 {
		return fmt.Errorf("%w: %d trailing bytes", ErrBadFrame, len(p))
	}
	return nil
}

func readBytes(p []byte) (b, rest []byte, err error) {
	n, k := binary.Uvarint(p)
	if k <= 0 {
		return nil, nil, errors.New("bad length")
	}
	p = p[k:]
	if n > uint64(len(p)) {
		return nil, nil, fmt.Errorf("length %d exceeds remaining %d bytes", n, len(p))
	}
	return p[:n:n], p[n:], nil
}
