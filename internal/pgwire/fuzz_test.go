package pgwire

import (
	"context"
	"encoding/binary"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
)

// fuzzHandler is the test handler without its slow statements.
type fuzzHandler struct{ *TestHandler }

func (h fuzzHandler) Query(ctx context.Context, s *Session, sql string, params []Param) (Rows, string, error) {
	if strings.Contains(strings.ToLower(sql), "sleep") {
		return nil, "", &Error{Code: CodeFeatureNotSupported, Message: "no sleeping while fuzzing"}
	}
	return h.TestHandler.Query(ctx, s, sql, params)
}

func encodeAll(msgs ...pgproto3.FrontendMessage) []byte {
	var b []byte
	for _, m := range msgs {
		b, _ = m.Encode(b)
	}
	return b
}

// FuzzServerConn feeds random bytes to a connection (after a valid
// startup when the first byte is even) and requires that the server
// neither panics nor hangs: the connection ends when the client does.
func FuzzServerConn(f *testing.F) {
	f.Add([]byte{0}, encodeAll(&pgproto3.Query{String: "select 1; SHOW ALL"}, &pgproto3.Terminate{}))
	f.Add([]byte{0}, encodeAll(&pgproto3.Parse{Name: "a", Query: "SELECT $1::bigint AS a, $2 AS b"}, &pgproto3.Describe{ObjectType: 'S', Name: "a"},
		&pgproto3.Bind{PreparedStatement: "a", Parameters: [][]byte{[]byte("1"), nil}, ResultFormatCodes: []int16{1}}, &pgproto3.Execute{MaxRows: 1}, &pgproto3.Sync{}))
	f.Add([]byte{0}, encodeAll(&pgproto3.Parse{Query: "SELECT * FROM types"}, &pgproto3.Bind{ResultFormatCodes: []int16{1}}, &pgproto3.Describe{ObjectType: 'P'}, &pgproto3.Execute{}, &pgproto3.Sync{}))
	f.Add([]byte{0}, encodeAll(&pgproto3.Query{String: "BEGIN; SET TIME ZONE 'UTC'; SELEC; COMMIT"}, &pgproto3.Close{ObjectType: 'P'}, &pgproto3.Flush{}))
	f.Add([]byte{0}, []byte("Q\x00\x00\x00\x05\x00garbage"))
	f.Add([]byte{0}, []byte{'B', 0, 0, 0, 12, 0, 0, 0, 1, 0, 1, 0xff, 0xff})
	f.Add([]byte{1}, encodeAll(&pgproto3.SSLRequest{}, &pgproto3.GSSEncRequest{}))
	f.Add([]byte{1}, encodeAll(&pgproto3.CancelRequest{ProcessID: 1, SecretKey: []byte{1, 2, 3, 4}}))
	f.Add([]byte{1}, binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(nil, 8), 1234))
	f.Fuzz(func(t *testing.T, mode []byte, data []byte) {
		s, err := NewServer(fuzzHandler{NewTestHandler()}, Options{MaxMessageBytes: 1 << 16, ShutdownGrace: 50 * time.Millisecond, StartupTimeout: time.Second}, nil)
		if err != nil {
			t.Fatal(err)
		}
		client, server := net.Pipe()
		s.serve(server)
		drained := make(chan struct{})
		go func() { io.Copy(io.Discard, client); close(drained) }()
		var in []byte
		if len(mode) > 0 && mode[0]%2 == 0 {
			in, _ = startup("fuzz", pgproto3.ProtocolVersion30, nil).Encode(nil)
		}
		in = append(in, data...)
		_ = client.SetWriteDeadline(time.Now().Add(2 * time.Second))
		_, _ = client.Write(in)
		// Give the server a moment to answer whatever it got, then leave.
		client.Close()
		<-drained
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Fatalf("connection did not end: %v", err)
		}
	})
}

// FuzzSplitStatements checks the splitter's invariants: spans are ordered,
// non-overlapping, start at a token and lie inside the input, and splitting one
// statement again gives back the same statement.
func FuzzSplitStatements(f *testing.F) {
	for _, s := range []string{
		"select 1; select 2", "SET TIMEZONE TO 'UTC'; select 42", "select ';'; select $$a;b$$", "/* a; /* b; */ c; */ select 1",
		"select e'\\';'; select 2", `select "a;b" from t -- x; y`, "$1; $tag$ ; $tag$", "", ";;;", "select 'unterminated; x",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, sql string) {
		spans := splitStatements(nil, sql)
		prev := 0
		for _, sp := range spans {
			if sp.start < prev || sp.end <= sp.start || sp.end > len(sql) {
				t.Fatalf("bad span %+v after %d in %q", sp, prev, sql)
			}
			stmt := sql[sp.start:sp.end]
			// The end may be space only inside an unterminated quote.
			if isSpace(stmt[0]) {
				t.Fatalf("untrimmed statement %q", stmt)
			}
			again := splitStatements(nil, stmt)
			if len(again) != 1 || again[0] != (stmtSpan{0, len(stmt)}) {
				t.Fatalf("re-splitting %q gave %+v", stmt, again)
			}
			prev = sp.end
		}
		_ = maxParam(sql)
	})
}

// FuzzDecodeParam: decoding any bytes as any type never panics, and a
// decoded text value re-encodes to something that decodes the same.
func FuzzDecodeParam(f *testing.F) {
	f.Add(uint8(TypeInt64), int16(0), []byte("42"))
	f.Add(uint8(TypeTimestamp), int16(1), []byte{0, 0, 0, 0, 0, 0, 0, 1})
	f.Add(uint8(TypeInterval), int16(1), make([]byte, 16))
	f.Add(uint8(TypeDate), int16(0), []byte("2026-01-02"))
	f.Add(uint8(TypeFloat64), int16(0), []byte("-Infinity"))
	f.Fuzz(func(t *testing.T, typ uint8, format int16, b []byte) {
		tp := Type(typ % uint8(numTypes))
		p, err := decodeParam(tp, format, b)
		if err != nil || p.Value == nil {
			return
		}
		switch v := p.Value.(type) {
		case int64:
			if tp == TypeInt64 {
				q, err := decodeParam(tp, 0, strconv.AppendInt(nil, v, 10))
				if err != nil || q.Value != v {
					t.Fatalf("%d re-decoded as %v, %v", v, q.Value, err)
				}
			}
		}
	})
}
