package wal_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/sluice-dev/sluice/internal/tsdb/wal"
)

// The format as documented in docs/format/wal.md; the tests damage files by
// these offsets, so a format change breaks them on purpose.
const (
	segHeader   = 8
	frameHeader = 8
)

// warnings collects slog records so tests can check what repair reported.
type warnings struct {
	mu   sync.Mutex
	msgs []map[string]any
}

func (w *warnings) Enabled(context.Context, slog.Level) bool { return true }
func (w *warnings) WithAttrs([]slog.Attr) slog.Handler       { return w }
func (w *warnings) WithGroup(string) slog.Handler            { return w }
func (w *warnings) Handle(_ context.Context, r slog.Record) error {
	if r.Level < slog.LevelWarn {
		return nil
	}
	m := map[string]any{"msg": r.Message}
	r.Attrs(func(a slog.Attr) bool { m[a.Key] = a.Value.Any(); return true })
	w.mu.Lock()
	w.msgs = append(w.msgs, m)
	w.mu.Unlock()
	return nil
}

func (w *warnings) all() []map[string]any {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.msgs)
}

type replayed struct {
	seg  int
	data []byte
}

// openReplay opens dir and replays it, failing the test on error.
func openReplay(t *testing.T, dir string, opts wal.Options) (*wal.Log, []replayed, *warnings) {
	t.Helper()
	l, recs, w, err := tryOpenReplay(dir, opts)
	if err != nil {
		t.Fatalf("open+replay %s: %v", dir, err)
	}
	t.Cleanup(func() { l.Close() })
	return l, recs, w
}

func tryOpenReplay(dir string, opts wal.Options) (*wal.Log, []replayed, *warnings, error) {
	w := &warnings{}
	l, err := wal.Open(dir, opts, slog.New(w))
	if err != nil {
		return nil, nil, w, err
	}
	var recs []replayed
	err = l.Replay(func(seg int, rec []byte) error {
		recs = append(recs, replayed{seg, bytes.Clone(rec)})
		return nil
	})
	return l, recs, w, err
}

// payload is a deterministic record body for record i of the given size.
func payload(i, size int) []byte {
	b := make([]byte, size)
	for j := range b {
		b[j] = byte(i*31 + j*7 + j>>8)
	}
	if size >= 4 {
		binary.LittleEndian.PutUint32(b, uint32(i))
	}
	return b
}

func mustAppend(t *testing.T, l *wal.Log, recs ...[]byte) int {
	t.Helper()
	seg, err := l.Append(recs...)
	if err != nil {
		t.Fatalf("append: %v", err)
	}
	return seg
}

func dirSize(t *testing.T, dir string) int64 {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, e := range ents {
		fi, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		n += fi.Size()
	}
	return n
}

func TestRoundTripAcrossSegments(t *testing.T) {
	dir := t.TempDir()
	opts := wal.Options{SegmentSize: 4 << 10}
	l, recs, _ := openReplay(t, dir, opts)
	if len(recs) != 0 {
		t.Fatalf("fresh log replayed %d records", len(recs))
	}
	if f, last := l.Segments(); f != 1 || last != 1 {
		t.Fatalf("fresh log segments = %d..%d, want 1..1", f, last)
	}
	sizes := []int{0, 1, 100, 1000, 3000, 4 << 10, 10 << 10, 2 << 20, 5}
	var want []replayed
	for i := range 60 {
		size := sizes[i%len(sizes)]
		if i%3 == 0 {
			// several records in one Append land in one segment
			a, b := payload(i, size), payload(i+1000, 10)
			seg := mustAppend(t, l, a, b)
			want = append(want, replayed{seg, a}, replayed{seg, b})
			continue
		}
		p := payload(i, size)
		want = append(want, replayed{mustAppend(t, l, p), p})
	}
	first, last := l.Segments()
	if first != 1 || last < 10 {
		t.Fatalf("segments = %d..%d, want several", first, last)
	}
	if got := dirSize(t, dir); got != l.Size() {
		t.Fatalf("Size() = %d, files hold %d", l.Size(), got)
	}
	for s := first; s <= last; s++ {
		fi, err := os.Stat(filepath.Join(dir, fmt.Sprintf("%08d", s)))
		if err != nil {
			t.Fatalf("segment %d: %v", s, err)
		}
		// A segment exceeds SegmentSize only when one batch alone does.
		if fi.Size() > opts.SegmentSize+segHeader && fi.Size() < 4<<10+segHeader+frameHeader {
			t.Fatalf("segment %d is %d bytes, over the %d limit", s, fi.Size(), opts.SegmentSize)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	l2, got, w := openReplay(t, dir, opts)
	if len(w.all()) != 0 {
		t.Fatalf("clean log produced warnings: %v", w.all())
	}
	if len(got) != len(want) {
		t.Fatalf("replayed %d records, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i].seg != want[i].seg || !bytes.Equal(got[i].data, want[i].data) {
			t.Fatalf("record %d: got seg %d len %d, want seg %d len %d", i, got[i].seg, len(got[i].data), want[i].seg, len(want[i].data))
		}
	}
	// Appending after a reopen continues the last segment if the record fits.
	fi, err := os.Stat(segPath(dir, int64(last)))
	if err != nil {
		t.Fatal(err)
	}
	wantSeg := last
	if fi.Size()+frameHeader > opts.SegmentSize {
		wantSeg++
	}
	if seg := mustAppend(t, l2, []byte{}); seg != wantSeg {
		t.Fatalf("append after reopen went to segment %d, want %d", seg, wantSeg)
	}
}

func TestConcurrentAppenders(t *testing.T) {
	dir := t.TempDir()
	opts := wal.Options{SegmentSize: 64 << 10}
	l, _, _ := openReplay(t, dir, opts)
	const writers, perWriter = 32, 150
	type ack struct{ seg, n int }
	acks := make([][]ack, writers)
	var wg sync.WaitGroup
	for g := range writers {
		wg.Go(func() {
			for n := range perWriter {
				rec := make([]byte, 8+(g*n)%300)
				binary.LittleEndian.PutUint32(rec[0:], uint32(g))
				binary.LittleEndian.PutUint32(rec[4:], uint32(n))
				seg, err := l.Append(rec)
				if err != nil {
					t.Errorf("writer %d append %d: %v", g, n, err)
					return
				}
				acks[g] = append(acks[g], ack{seg, n})
			}
		})
	}
	wg.Wait()
	st := l.Stats()
	t.Logf("stats: %+v (records per fsync %.1f)", st, float64(st.Records)/float64(st.FSyncs))
	if st.Records != writers*perWriter || st.Appends != writers*perWriter {
		t.Fatalf("stats count %d records / %d appends, want %d", st.Records, st.Appends, writers*perWriter)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	_, recs, _ := openReplay(t, dir, opts)
	if len(recs) != writers*perWriter {
		t.Fatalf("replayed %d records, want %d", len(recs), writers*perWriter)
	}
	next := make([]int, writers)
	for _, r := range recs {
		g := int(binary.LittleEndian.Uint32(r.data[0:]))
		n := int(binary.LittleEndian.Uint32(r.data[4:]))
		if g >= writers || n != next[g] {
			t.Fatalf("writer %d: record %d replayed, expected %d (lost, duplicated or reordered)", g, n, next[g])
		}
		if acks[g][n].seg != r.seg {
			t.Fatalf("writer %d record %d: Append said segment %d, replay found it in %d", g, n, acks[g][n].seg, r.seg)
		}
		next[g]++
	}
}

// buildLog writes n records of the given size into a log with small
// segments and returns the records and the byte offset of each record
// within its segment.
func buildLog(t *testing.T, dir string, n, size int, segSize int64) (recs [][]byte, segs, offs []int64) {
	t.Helper()
	l, _, _ := openReplay(t, dir, wal.Options{SegmentSize: segSize})
	prevSeg, off := 0, int64(segHeader)
	for i := range n {
		p := payload(i, size)
		seg := mustAppend(t, l, p)
		if seg != prevSeg {
			prevSeg, off = seg, segHeader
		}
		recs, segs, offs = append(recs, p), append(segs, int64(seg)), append(offs, off)
		off += int64(frameHeader + size)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return recs, segs, offs
}

func segPath(dir string, s int64) string { return filepath.Join(dir, fmt.Sprintf("%08d", s)) }

func TestTornTailRepair(t *testing.T) {
	const n, size = 20, 300
	// With 1 KiB segments, 3 records of 308 bytes fit per segment.
	const segSize = 1 << 10
	type damage func(t *testing.T, path string, lastOff int64)
	truncateAt := func(rel int64) damage {
		return func(t *testing.T, p string, lastOff int64) {
			if err := os.Truncate(p, lastOff+rel); err != nil {
				t.Fatal(err)
			}
		}
	}
	flip := func(rel int64) damage {
		return func(t *testing.T, p string, lastOff int64) {
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			b[lastOff+rel] ^= 0x40
			if err := os.WriteFile(p, b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	appendBytes := func(extra []byte) damage {
		return func(t *testing.T, p string, _ int64) {
			f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				t.Fatal(err)
			}
			f.Write(extra)
			f.Close()
		}
	}
	garbage := make([]byte, 5000)
	for i := range garbage {
		garbage[i] = byte(i*131 + 7)
	}
	hugeLen := binary.LittleEndian.AppendUint32(nil, 1<<20)
	hugeLen = append(hugeLen, 1, 2, 3, 4, 5, 6, 7, 8)
	fakeFrame := binary.LittleEndian.AppendUint32(nil, 4)
	fakeFrame = binary.LittleEndian.AppendUint32(fakeFrame, 0xdeadbeef)
	fakeFrame = append(fakeFrame, "abcd"...)

	cases := []struct {
		name   string
		damage damage
		keep   int // records that must survive, counted from the start
		reason string
	}{
		{"truncate inside last header", truncateAt(3), n - 1, "truncated record header"},
		{"truncate after last header", truncateAt(frameHeader), n - 1, "truncated record"},
		{"truncate mid last payload", truncateAt(frameHeader + size/2), n - 1, "truncated record"},
		{"truncate one byte short", truncateAt(frameHeader + size - 1), n - 1, "truncated record"},
		{"flip byte in last payload", flip(frameHeader + 17), n - 1, "checksum mismatch"},
		{"flip byte in last length", flip(1), n - 1, ""},
		{"flip byte in last crc", flip(5), n - 1, "checksum mismatch"},
		{"append zeros", appendBytes(make([]byte, 4096)), n, "zero-filled"},
		{"append few zeros", appendBytes(make([]byte, 5)), n, "truncated record header"},
		{"append garbage", appendBytes(garbage), n, ""},
		{"append huge length", appendBytes(hugeLen), n, "truncated record"},
		{"append frame with bad crc", appendBytes(fakeFrame), n, "checksum mismatch"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			recs, segs, offs := buildLog(t, dir, n, size, segSize)
			lastSeg := segs[n-1]
			p := segPath(dir, lastSeg)
			tc.damage(t, p, offs[n-1])

			l, got, w := openReplay(t, dir, wal.Options{SegmentSize: segSize})
			if len(got) != tc.keep {
				t.Fatalf("kept %d records, want %d", len(got), tc.keep)
			}
			for i := range got {
				if !bytes.Equal(got[i].data, recs[i]) || int64(got[i].seg) != segs[i] {
					t.Fatalf("record %d differs after repair", i)
				}
			}
			wantEnd := offs[tc.keep-1] + frameHeader + size
			if fi, err := os.Stat(p); err != nil || fi.Size() != wantEnd {
				t.Fatalf("after repair segment is %v bytes (err %v), want %d", fi.Size(), err, wantEnd)
			}
			ws := w.all()
			if len(ws) != 1 {
				t.Fatalf("want one warning, got %v", ws)
			}
			if ws[0]["segment"] != lastSeg || ws[0]["offset"] != wantEnd {
				t.Fatalf("warning names segment %v offset %v, want %d %d: %v", ws[0]["segment"], ws[0]["offset"], lastSeg, wantEnd, ws[0])
			}
			if d, ok := ws[0]["bytes_dropped"].(int64); !ok || d <= 0 {
				t.Fatalf("warning bytes_dropped = %v", ws[0]["bytes_dropped"])
			}
			if r, _ := ws[0]["reason"].(string); !bytes.Contains([]byte(r), []byte(tc.reason)) {
				t.Fatalf("reason %q does not mention %q", r, tc.reason)
			}
			// Appending after repair works and is replayed after the kept records.
			extra := []byte("after repair")
			mustAppend(t, l, extra)
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}

			_, got2, w2 := openReplay(t, dir, wal.Options{SegmentSize: segSize})
			if len(w2.all()) != 0 {
				t.Fatalf("second open after repair warned: %v", w2.all())
			}
			if len(got2) != tc.keep+1 || !bytes.Equal(got2[tc.keep].data, extra) {
				t.Fatalf("second replay has %d records, want %d ending with the new one", len(got2), tc.keep+1)
			}
		})
	}
}

func TestTornSegmentHeader(t *testing.T) {
	for _, tc := range []struct {
		name    string
		content []byte
	}{
		{"empty file", nil},
		{"short header", []byte("SLW")},
		{"zero header", make([]byte, 8)},
		{"zeros after header area", make([]byte, 100)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			recs, _, _ := buildLog(t, dir, 5, 100, 1<<20)
			// The crash hit right after the next segment was created.
			if err := os.WriteFile(segPath(dir, 2), tc.content, 0o644); err != nil {
				t.Fatal(err)
			}
			l, got, w := openReplay(t, dir, wal.Options{})
			if len(got) != len(recs) {
				t.Fatalf("kept %d records, want %d", len(got), len(recs))
			}
			if len(w.all()) != 1 {
				t.Fatalf("want one warning, got %v", w.all())
			}
			if seg := mustAppend(t, l, []byte("x")); seg != 2 {
				t.Fatalf("append went to segment %d, want 2", seg)
			}
			l.Close()
			_, got, w = openReplay(t, dir, wal.Options{})
			if len(got) != len(recs)+1 || len(w.all()) != 0 {
				t.Fatalf("reopen: %d records, warnings %v", len(got), w.all())
			}
		})
	}
}

func TestCorruptionInMiddleSegment(t *testing.T) {
	const size, segSize = 300, 1 << 10
	t.Run("records follow", func(t *testing.T) {
		dir := t.TempDir()
		_, segs, offs := buildLog(t, dir, 12, size, segSize)
		// Damage the second record of segment 2.
		i := slices.Index(segs, 2) + 1
		b, _ := os.ReadFile(segPath(dir, 2))
		b[offs[i]+frameHeader+3] ^= 1
		os.WriteFile(segPath(dir, 2), b, 0o644)
		before, _ := os.ReadFile(segPath(dir, 2))

		l, got, _, err := tryOpenReplay(dir, wal.Options{SegmentSize: segSize})
		defer l.Close()
		if !errors.Is(err, wal.ErrCorruption) {
			t.Fatalf("replay error = %v, want ErrCorruption", err)
		}
		var ce *wal.CorruptionError
		if !errors.As(err, &ce) || ce.Segment != 2 || ce.Offset != offs[i] {
			t.Fatalf("error %v does not name segment 2 offset %d", err, offs[i])
		}
		if len(got) != i {
			t.Fatalf("fn saw %d good records before the damage, want %d", len(got), i)
		}
		after, _ := os.ReadFile(segPath(dir, 2))
		if !bytes.Equal(before, after) {
			t.Fatal("replay changed a middle segment it reported as corrupt")
		}
		if _, err := l.Append([]byte("x")); !errors.Is(err, wal.ErrNotReplayed) {
			t.Fatalf("append after failed replay = %v, want ErrNotReplayed", err)
		}
	})
	t.Run("only empty segments follow", func(t *testing.T) {
		dir := t.TempDir()
		_, segs, offs := buildLog(t, dir, 6, size, segSize)
		lastSeg := segs[len(segs)-1]
		l, _, _ := openReplay(t, dir, wal.Options{SegmentSize: segSize})
		for range 2 {
			if _, err := l.Cut(); err != nil {
				t.Fatal(err)
			}
		}
		l.Close()
		os.Truncate(segPath(dir, lastSeg), offs[len(offs)-1]+5)

		l, got, w := openReplay(t, dir, wal.Options{SegmentSize: segSize})
		if len(got) != 5 {
			t.Fatalf("kept %d records, want 5", len(got))
		}
		if ws := w.all(); len(ws) != 1 || ws[0]["segment"] != lastSeg {
			t.Fatalf("warnings = %v, want one naming segment %d", ws, lastSeg)
		}
		if seg := mustAppend(t, l, []byte("x")); seg != int(lastSeg)+2 {
			t.Fatalf("append went to %d, want the last (empty) segment %d", seg, lastSeg+2)
		}
	})
	t.Run("missing segment", func(t *testing.T) {
		dir := t.TempDir()
		buildLog(t, dir, 12, size, segSize)
		os.Remove(segPath(dir, 2))
		l, _, _, err := tryOpenReplay(dir, wal.Options{SegmentSize: segSize})
		defer l.Close()
		var ce *wal.CorruptionError
		if !errors.As(err, &ce) || ce.Segment != 2 {
			t.Fatalf("replay error = %v, want corruption naming segment 2", err)
		}
	})
	t.Run("newer format version", func(t *testing.T) {
		dir := t.TempDir()
		buildLog(t, dir, 2, size, segSize)
		b, _ := os.ReadFile(segPath(dir, 1))
		b[4] = 9
		os.WriteFile(segPath(dir, 1), b, 0o644)
		l, _, _, err := tryOpenReplay(dir, wal.Options{})
		defer l.Close()
		if err == nil || errors.Is(err, wal.ErrCorruption) {
			t.Fatalf("replay error = %v, want a version error that is not corruption", err)
		}
		if b2, _ := os.ReadFile(segPath(dir, 1)); !bytes.Equal(b, b2) {
			t.Fatal("replay changed a segment of another format version")
		}
	})
}

func TestLifecycleErrors(t *testing.T) {
	dir := t.TempDir()
	l, err := wal.Open(dir, wal.Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append([]byte("x")); !errors.Is(err, wal.ErrNotReplayed) {
		t.Fatalf("append before replay = %v, want ErrNotReplayed", err)
	}
	if _, err := l.Cut(); !errors.Is(err, wal.ErrNotReplayed) {
		t.Fatalf("cut before replay = %v, want ErrNotReplayed", err)
	}
	if err := l.Replay(func(int, []byte) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if err := l.Replay(func(int, []byte) error { return nil }); err == nil {
		t.Fatal("second Replay succeeded")
	}
	if _, err := l.Append(make([]byte, wal.MaxRecordSize+1)); err == nil {
		t.Fatal("oversized record accepted")
	}
	mustAppend(t, l, []byte("x")) // an oversized record is not a sticky failure
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("second Close = %v, want nil", err)
	}
	if _, err := l.Append([]byte("x")); !errors.Is(err, wal.ErrClosed) {
		t.Fatalf("append after close = %v, want ErrClosed", err)
	}
	if _, err := l.Cut(); !errors.Is(err, wal.ErrClosed) {
		t.Fatalf("cut after close = %v, want ErrClosed", err)
	}
	if err := l.Replay(func(int, []byte) error { return nil }); !errors.Is(err, wal.ErrClosed) {
		t.Fatalf("replay after close = %v, want ErrClosed", err)
	}
	if _, err := wal.Open(dir, wal.Options{SegmentSize: -1}, nil); err == nil {
		t.Fatal("negative segment size accepted")
	}

	// An error from fn stops replay and comes back wrapped.
	boom := errors.New("boom")
	l2, err := wal.Open(dir, wal.Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	if err := l2.Replay(func(int, []byte) error { return boom }); !errors.Is(err, boom) {
		t.Fatalf("replay = %v, want the callback's error", err)
	}
}

func TestCloseWithConcurrentAppends(t *testing.T) {
	l, _, _ := openReplay(t, t.TempDir(), wal.Options{})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for {
				if _, err := l.Append([]byte("r")); err != nil {
					if !errors.Is(err, wal.ErrClosed) {
						t.Errorf("append: %v", err)
					}
					return
				}
			}
		})
	}
	mustAppend(t, l, []byte("r"))
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
}

func TestCutAndTruncateBefore(t *testing.T) {
	dir := t.TempDir()
	l, _, _ := openReplay(t, dir, wal.Options{})
	for want := 1; want <= 5; want++ {
		if seg := mustAppend(t, l, payload(want, 100)); seg != want {
			t.Fatalf("append went to segment %d, want %d", seg, want)
		}
		if want < 5 {
			if seg, err := l.Cut(); err != nil || seg != want+1 {
				t.Fatalf("cut = %d, %v; want %d", seg, err, want+1)
			}
		}
	}
	sizeBefore := l.Size()
	if err := l.TruncateBefore(3); err != nil {
		t.Fatal(err)
	}
	if f, last := l.Segments(); f != 3 || last != 5 {
		t.Fatalf("segments = %d..%d, want 3..5", f, last)
	}
	for s, exists := range map[int64]bool{1: false, 2: false, 3: true, 5: true} {
		if _, err := os.Stat(segPath(dir, s)); (err == nil) != exists {
			t.Fatalf("segment %d exists = %v, want %v", s, err == nil, exists)
		}
	}
	if got, files := l.Size(), dirSize(t, dir); got != files || got >= sizeBefore {
		t.Fatalf("Size() = %d, files %d, before %d", got, files, sizeBefore)
	}
	if err := l.TruncateBefore(2); err != nil { // already gone: no-op
		t.Fatal(err)
	}
	if err := l.TruncateBefore(6); err == nil {
		t.Fatal("TruncateBefore past the last segment succeeded")
	}
	l.Close()

	_, got, w := openReplay(t, dir, wal.Options{})
	if len(got) != 3 || got[0].seg != 3 || !bytes.Equal(got[0].data, payload(3, 100)) || len(w.all()) != 0 {
		t.Fatalf("after truncate replayed %d records (first seg %d), warnings %v", len(got), got[0].seg, w.all())
	}
}

// TestFramingMatchesDoc pins the byte layout documented in wal.md.
func TestFramingMatchesDoc(t *testing.T) {
	dir := t.TempDir()
	l, _, _ := openReplay(t, dir, wal.Options{})
	mustAppend(t, l, []byte("hello"))
	l.Close()
	b, err := os.ReadFile(segPath(dir, 1))
	if err != nil {
		t.Fatal(err)
	}
	want := []byte{'S', 'L', 'W', 'L', 1, 0, 0, 0, 5, 0, 0, 0}
	c := crc32.Update(0, crc32.MakeTable(crc32.Castagnoli), []byte{5, 0, 0, 0})
	c = crc32.Update(c, crc32.MakeTable(crc32.Castagnoli), []byte("hello"))
	want = binary.LittleEndian.AppendUint32(want, c)
	want = append(want, "hello"...)
	if !bytes.Equal(b, want) {
		t.Fatalf("segment bytes\n got %x\nwant %x", b, want)
	}
}
