package stream_test

import (
	"bytes"
	"errors"
	"reflect"
	"testing"

	"github.com/sluice-dev/sluice/internal/stream"
)

func decodeAll(t testing.TB, frame []byte) ([]stream.Record, error) {
	t.Helper()
	var got []stream.Record
	err := stream.DecodeFrame(frame, func(i int, r stream.Record) error {
		if i != len(got) {
			t.Fatalf("record index %d, want %d", i, len(got))
		}
		r.Data = append([]byte(nil), r.Data...) // Data aliases the frame
		got = append(got, r)
		return nil
	})
	return got, err
}

func TestFrameRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name string
		recs []stream.Record
	}{
		{"empty", nil},
		{"one", []stream.Record{{Key: "dev-1", Data: []byte(`{"t":1}`)}}},
		{"empty fields", []stream.Record{{}}},
		{"attrs", []stream.Record{{Key: "k", Attrs: []stream.Attr{{"device_id", "d1"}, {"topic", "a/b"}, {"", ""}}, Data: []byte("x")}}},
		{"several", []stream.Record{
			{Key: "a", Data: []byte("1")},
			{Key: "b", Attrs: []stream.Attr{{"n", "v"}}, Data: bytes.Repeat([]byte{0xff}, 300)},
			{Key: "", Data: []byte{}},
		}},
		{"binary", []stream.Record{{Key: "\x00\xff", Data: []byte{0, 1, 2, 0x80, 0xff}}}},
		{"hash key", []stream.Record{{Key: "k", HashKey: "340282366920938463463374607431768211455", Data: []byte("x")}, {Key: "j", Data: []byte("y")}}},
		{"json line", []stream.Record{{Key: "k", Data: []byte(`{"a":1}`), JSONLine: true}, {Key: "k", HashKey: "7", Data: []byte(`{}`), JSONLine: true}, {Data: []byte("x")}}},
		{"long key", []stream.Record{{Key: string(bytes.Repeat([]byte("k"), 70000)), Data: []byte("d")}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			prefix := []byte("keep")
			frame := stream.AppendFrame(append([]byte(nil), prefix...), tc.recs)
			if !bytes.HasPrefix(frame, prefix) {
				t.Fatal("AppendFrame overwrote bytes already in dst")
			}
			frame = frame[len(prefix):]
			n, err := stream.FrameLen(frame)
			if err != nil || n != len(tc.recs) {
				t.Fatalf("FrameLen = %d, %v; want %d", n, err, len(tc.recs))
			}
			got, err := decodeAll(t, frame)
			if err != nil {
				t.Fatalf("DecodeFrame: %v", err)
			}
			if len(got) != len(tc.recs) {
				t.Fatalf("decoded %d records, want %d", len(got), len(tc.recs))
			}
			for i := range got {
				want := tc.recs[i]
				if got[i].Key != want.Key || got[i].HashKey != want.HashKey || got[i].JSONLine != want.JSONLine || !bytes.Equal(got[i].Data, want.Data) ||
					len(got[i].Attrs) != len(want.Attrs) || (len(want.Attrs) > 0 && !reflect.DeepEqual(got[i].Attrs, want.Attrs)) {
					t.Errorf("record %d = %+v, want %+v", i, got[i], want)
				}
			}
			// Header + records built incrementally give the same bytes.
			inc := stream.AppendFrameHeader(nil, len(tc.recs))
			for _, r := range tc.recs {
				inc = stream.AppendRecord(inc, r)
			}
			if !bytes.Equal(inc, frame) {
				t.Error("AppendFrameHeader+AppendRecord differs from AppendFrame")
			}
		})
	}
}

func TestDecodeFrameErrors(t *testing.T) {
	good := stream.AppendFrame(nil, []stream.Record{{Key: "k", Attrs: []stream.Attr{{"a", "b"}}, Data: []byte("data")}})
	for _, tc := range []struct {
		name  string
		frame []byte
	}{
		{"nil", nil},
		{"bad version", append([]byte{2}, good[1:]...)},
		{"count too big", []byte{1, 5}},
		{"bad count varint", []byte{1, 0x80}},
		{"trailing", append(append([]byte(nil), good...), 0)},
		{"truncated", good[:len(good)-1]},
		{"truncated in attrs", good[:6]},
		{"unknown flag", append([]byte{1, 1, 4}, good[3:]...)},
		{"truncated hash key", []byte{1, 1, 1, 1, 'k', 5, 'x'}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := decodeAll(t, tc.frame); !errors.Is(err, stream.ErrBadFrame) {
				t.Errorf("DecodeFrame(%x) = %v, want ErrBadFrame", tc.frame, err)
			}
		})
	}
	// An error from fn stops decoding and is returned as is.
	stop := errors.New("stop")
	two := stream.AppendFrame(nil, []stream.Record{{Key: "a"}, {Key: "b"}})
	calls := 0
	err := stream.DecodeFrame(two, func(int, stream.Record) error { calls++; return stop })
	if err != stop || calls != 1 {
		t.Errorf("fn error: got %v after %d calls", err, calls)
	}
}

// FuzzDecodeFrame checks that DecodeFrame never panics, and that whatever
// it accepts re-encodes to the same bytes.
//
//	go test -run '^$' -fuzz FuzzDecodeFrame -fuzztime 30s ./internal/stream/
func FuzzDecodeFrame(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{1, 0})
	f.Add(stream.AppendFrame(nil, []stream.Record{{Key: "dev", Attrs: []stream.Attr{{"a", "b"}}, Data: []byte(`{"x":1}`)}}))
	f.Add(stream.AppendFrame(nil, []stream.Record{{}, {Key: "k"}, {Data: []byte{0}}}))
	f.Add(stream.AppendFrame(nil, []stream.Record{{Key: "k", HashKey: "12", Data: []byte{0}}}))
	f.Fuzz(func(t *testing.T, frame []byte) {
		var recs []stream.Record
		err := stream.DecodeFrame(frame, func(_ int, r stream.Record) error {
			recs = append(recs, r)
			return nil
		})
		if err != nil {
			if !errors.Is(err, stream.ErrBadFrame) {
				t.Fatalf("error not ErrBadFrame: %v", err)
			}
			return
		}
		n, err := stream.FrameLen(frame)
		if err != nil || n != len(recs) {
			t.Fatalf("FrameLen = %d, %v after decoding %d records", n, err, len(recs))
		}
		again := stream.AppendFrame(nil, recs)
		recs2, err := decodeAll(t, again)
		if err != nil {
			t.Fatalf("re-encoded frame does not decode: %v", err)
		}
		if !bytes.Equal(stream.AppendFrame(nil, recs2), again) {
			t.Fatal("encode(decode(encode(x))) != encode(x)")
		}
		// The input's own bytes are not compared: varints have several
		// encodings.
	})
}
