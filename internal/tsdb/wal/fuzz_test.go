package wal_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"os"
	"path/filepath"
	"testing"

	"github.com/sluice-dev/sluice/internal/tsdb/wal"
)

// refDecode is a second, deliberately naive reader of one segment: it returns
// the records of the longest valid prefix and where that prefix ends.
// version is the header's version byte when the magic is right, else -1.
func refDecode(b []byte) (recs [][]byte, end int, version int) {
	if len(b) < segHeader || string(b[:4]) != "SLWL" {
		return nil, 0, -1
	}
	if b[4] != 1 {
		return nil, 0, int(b[4])
	}
	tab := crc32.MakeTable(crc32.Castagnoli)
	off := segHeader
	for len(b)-off >= frameHeader {
		n := int(binary.LittleEndian.Uint32(b[off:]))
		if n > len(b)-off-frameHeader {
			break
		}
		body := b[off+frameHeader : off+frameHeader+n]
		want := crc32.Update(crc32.Update(0, tab, b[off:off+4]), tab, body)
		if binary.LittleEndian.Uint32(b[off+4:]) != want {
			break
		}
		recs = append(recs, body)
		off += frameHeader + n
	}
	return recs, off, 1
}

// encodeLog builds segment bytes from records without the package.
func encodeLog(recs ...string) []byte {
	tab := crc32.MakeTable(crc32.Castagnoli)
	b := []byte{'S', 'L', 'W', 'L', 1, 0, 0, 0}
	for _, r := range recs {
		l := binary.LittleEndian.AppendUint32(nil, uint32(len(r)))
		b = append(b, l...)
		b = binary.LittleEndian.AppendUint32(b, crc32.Update(crc32.Update(0, tab, l), tab, []byte(r)))
		b = append(b, r...)
	}
	return b
}

// FuzzReplay writes arbitrary bytes as the only segment and checks that
// Replay never panics, returns exactly the valid prefix, repairs the file to
// it, and that the repaired log reopens cleanly and takes appends.
//
//	go test -run '^$' -fuzz FuzzReplay -fuzztime 60s ./internal/tsdb/wal/
func FuzzReplay(f *testing.F) {
	valid := encodeLog("a", "", "hello world", string(make([]byte, 300)))
	f.Add(valid)
	f.Add(valid[:len(valid)-7])
	f.Add(append(bytes.Clone(valid), make([]byte, 64)...))
	f.Add(append(bytes.Clone(valid), 0xff, 0xff, 0xff, 0x7f, 1, 2, 3, 4))
	flipped := bytes.Clone(valid)
	flipped[20] ^= 0x10
	f.Add(flipped)
	f.Add([]byte{})
	f.Add([]byte("SLW"))
	f.Add(make([]byte, 40))
	f.Add([]byte{'S', 'L', 'W', 'L', 2, 0, 0, 0, 1})
	f.Add([]byte("not a wal segment at all, just text"))

	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		p := filepath.Join(dir, "00000001")
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		wantRecs, end, version := refDecode(data)

		l, got, w, err := tryOpenReplay(dir, wal.Options{NoSync: true})
		if l != nil {
			defer l.Close()
		}
		if version > 1 || version == 0 {
			if err == nil || errors.Is(err, wal.ErrCorruption) {
				t.Fatalf("version %d: replay error %v, want a version error", version, err)
			}
			if b, _ := os.ReadFile(p); !bytes.Equal(b, data) {
				t.Fatal("segment of an unknown version was modified")
			}
			return
		}
		if err != nil {
			t.Fatalf("replay: %v", err)
		}
		if len(got) != len(wantRecs) {
			t.Fatalf("replayed %d records, reference decoder finds %d", len(got), len(wantRecs))
		}
		for i := range got {
			if got[i].seg != 1 || !bytes.Equal(got[i].data, wantRecs[i]) {
				t.Fatalf("record %d differs from the reference decoder", i)
			}
		}
		b, _ := os.ReadFile(p)
		switch {
		case end == 0:
			if !bytes.Equal(b, encodeLog()) || len(w.all()) != 1 {
				t.Fatalf("segment with a bad header not reset to a bare header: %x, warnings %v", b, w.all())
			}
		case end == len(data):
			if !bytes.Equal(b, data) || len(w.all()) != 0 {
				t.Fatalf("valid segment was changed or warned about: %v", w.all())
			}
		default:
			if !bytes.Equal(b, data[:end]) || len(w.all()) != 1 {
				t.Fatalf("repair kept %d bytes, want %d; warnings %v", len(b), end, w.all())
			}
		}

		if _, err := l.Append([]byte("tail")); err != nil {
			t.Fatalf("append after repair: %v", err)
		}
		l.Close()
		_, again, w2, err := tryOpenReplay(dir, wal.Options{NoSync: true})
		if err != nil || len(w2.all()) != 0 || len(again) != len(wantRecs)+1 {
			t.Fatalf("reopen after repair: err %v, %d records (want %d), warnings %v", err, len(again), len(wantRecs)+1, w2.all())
		}
	})
}
