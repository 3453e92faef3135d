package pgwire

import (
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// pipeServer serves one side of a net.Pipe with a fresh server and returns
// the client side. wrap, if set, wraps the server's side (e.g. to read one
// byte at a time).
func pipeServer(t testing.TB, h Handler, opts Options, wrap func(net.Conn) net.Conn) (net.Conn, *Server) {
	t.Helper()
	if opts.MaxMessageBytes == 0 {
		opts.MaxMessageBytes = 1 << 20
	}
	opts.ShutdownGrace = 100 * time.Millisecond
	s, err := NewServer(h, opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	client, server := net.Pipe()
	if wrap != nil {
		server = wrap(server)
	}
	s.serve(server)
	t.Cleanup(func() {
		client.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	return client, s
}

// oneByteConn reads one byte per Read, as iotest.OneByteReader does.
type oneByteConn struct{ net.Conn }

func (c oneByteConn) Read(p []byte) (int, error) { return iotest.OneByteReader(c.Conn).Read(p) }

// render prints a backend message on one line for transcripts.
func render(m pgproto3.BackendMessage) string {
	switch m := m.(type) {
	case *pgproto3.BackendKeyData:
		return fmt.Sprintf("BackendKeyData (%d-byte key)", len(m.SecretKey))
	case *pgproto3.ParameterStatus:
		return "ParameterStatus " + m.Name + "=" + m.Value
	case *pgproto3.RowDescription:
		var f []string
		for _, fd := range m.Fields {
			f = append(f, fmt.Sprintf("%s:%d/%d", fd.Name, fd.DataTypeOID, fd.Format))
		}
		return "RowDescription " + strings.Join(f, " ")
	case *pgproto3.DataRow:
		var f []string
		for _, v := range m.Values {
			if v == nil {
				f = append(f, "NULL")
			} else {
				f = append(f, fmt.Sprintf("%q", v))
			}
		}
		return "DataRow " + strings.Join(f, " ")
	case *pgproto3.CommandComplete:
		return "CommandComplete " + string(m.CommandTag)
	case *pgproto3.ErrorResponse:
		s := fmt.Sprintf("ErrorResponse %s %s %q", m.Severity, m.Code, m.Message)
		if m.Position > 0 {
			s += fmt.Sprintf(" position=%d", m.Position)
		}
		return s
	case *pgproto3.ReadyForQuery:
		return "ReadyForQuery " + string(m.TxStatus)
	case *pgproto3.ParameterDescription:
		return fmt.Sprintf("ParameterDescription %v", m.ParameterOIDs)
	case *pgproto3.NegotiateProtocolVersion:
		return fmt.Sprintf("NegotiateProtocolVersion 3.%d %v", m.NewestMinorProtocol, m.UnrecognizedOptions)
	}
	return strings.TrimPrefix(fmt.Sprintf("%T", m), "*pgproto3.")
}

// exchange sends msgs and renders the replies up to and including the
// ReadyForQuery after the last Sync/Query (or until the server closes).
func exchange(t testing.TB, fe *pgproto3.Frontend, conn net.Conn, waitRFQ int, msgs ...pgproto3.FrontendMessage) []string {
	t.Helper()
	for _, m := range msgs {
		fe.Send(m)
	}
	if err := fe.Flush(); err != nil {
		t.Fatalf("sending: %v", err)
	}
	var out []string
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	for waitRFQ > 0 {
		m, err := fe.Receive()
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return append(out, "(connection closed)")
			}
			t.Fatalf("receiving: %v", err)
		}
		out = append(out, render(m))
		if _, ok := m.(*pgproto3.ReadyForQuery); ok {
			waitRFQ--
		}
	}
	return out
}

func startup(user string, version uint32, extra map[string]string) *pgproto3.StartupMessage {
	p := map[string]string{"user": user, "database": "iot"}
	for k, v := range extra {
		p[k] = v
	}
	return &pgproto3.StartupMessage{ProtocolVersion: version, Parameters: p}
}

// TestTranscripts runs fixed protocol exchanges and compares what the
// server answers with testdata/transcripts.golden (go test -update).
func TestTranscripts(t *testing.T) {
	type step struct {
		rfq  int
		msgs []pgproto3.FrontendMessage
		raw  []byte // sent instead of msgs
	}
	bind := func(stmt string, results []int16, params ...[]byte) *pgproto3.Bind {
		return &pgproto3.Bind{PreparedStatement: stmt, Parameters: params, ResultFormatCodes: results}
	}
	tests := []struct {
		name    string
		startup *pgproto3.StartupMessage
		wrap    func(net.Conn) net.Conn
		steps   []step

		showStartup bool
	}{
		{name: "simple query, one byte at a time", showStartup: true, wrap: func(c net.Conn) net.Conn { return oneByteConn{c} }, steps: []step{
			{1, []pgproto3.FrontendMessage{&pgproto3.Query{String: "select 1; SHOW DateStyle"}}, nil},
			{1, []pgproto3.FrontendMessage{&pgproto3.Query{String: "-- ping"}}, nil},
		}},
		{name: "startup options and protocol 3.2", showStartup: true, startup: startup("u", pgproto3.ProtocolVersion32, map[string]string{"application_name": "psql", "options": "-c statement_timeout=5s", "_pq_.x": "1"}), steps: []step{
			{1, []pgproto3.FrontendMessage{&pgproto3.Query{String: "SHOW statement_timeout"}}, nil},
		}},
		{name: "error in an extended batch skips to Sync", steps: []step{
			{1, []pgproto3.FrontendMessage{
				&pgproto3.Parse{Query: "SELECT * FROM nowhere"}, bind("", nil), &pgproto3.Execute{},
				&pgproto3.Parse{Query: "select 1"}, bind("", nil), &pgproto3.Execute{}, &pgproto3.Sync{},
			}, nil},
			{1, []pgproto3.FrontendMessage{&pgproto3.Parse{Query: "select 1"}, bind("", nil), &pgproto3.Execute{}, &pgproto3.Sync{}}, nil},
		}},
		{name: "portal suspended", steps: []step{
			{1, []pgproto3.FrontendMessage{
				&pgproto3.Parse{Name: "s", Query: "SELECT * FROM series(5)"}, bind("s", []int16{0, 0, 1, 0}), &pgproto3.Describe{ObjectType: 'P'},
				&pgproto3.Execute{MaxRows: 2}, &pgproto3.Execute{MaxRows: 2}, &pgproto3.Execute{MaxRows: 2}, &pgproto3.Sync{},
			}, nil},
		}},
		{name: "describe statement with parameters", steps: []step{
			{1, []pgproto3.FrontendMessage{
				&pgproto3.Parse{Name: "p", Query: "SELECT $1::bigint AS a, $2 AS b", ParameterOIDs: []uint32{0, 0}}, &pgproto3.Describe{ObjectType: 'S', Name: "p"},
				bind("p", []int16{1, 0}, []byte("7"), nil), &pgproto3.Execute{}, &pgproto3.Sync{},
			}, nil},
			{1, []pgproto3.FrontendMessage{bind("p", nil, []byte("7")), &pgproto3.Execute{}, &pgproto3.Sync{}}, nil},
			{1, []pgproto3.FrontendMessage{&pgproto3.Close{ObjectType: 'S', Name: "p"}, bind("p", nil), &pgproto3.Sync{}}, nil},
			{1, []pgproto3.FrontendMessage{&pgproto3.Parse{Query: "select 1; select 1"}, &pgproto3.Sync{}}, nil},
		}},
		{name: "empty statement", steps: []step{
			{1, []pgproto3.FrontendMessage{&pgproto3.Parse{Query: " -- nothing"}, bind("", nil), &pgproto3.Describe{ObjectType: 'P'}, &pgproto3.Execute{}, &pgproto3.Sync{}}, nil},
		}},
		{name: "transaction status", steps: []step{
			{1, []pgproto3.FrontendMessage{&pgproto3.Query{String: "BEGIN; SET TIME ZONE 'UTC'"}}, nil},
			{1, []pgproto3.FrontendMessage{&pgproto3.Parse{Query: "SELEC"}, &pgproto3.Describe{ObjectType: 'S'}, &pgproto3.Sync{}}, nil},
			{1, []pgproto3.FrontendMessage{&pgproto3.Query{String: "select 1"}}, nil},
			{1, []pgproto3.FrontendMessage{&pgproto3.Query{String: "COMMIT"}}, nil},
			{1, []pgproto3.FrontendMessage{&pgproto3.Query{String: "END; ROLLBACK"}}, nil},
		}},
		{name: "bad parameter count and format", steps: []step{
			{1, []pgproto3.FrontendMessage{&pgproto3.Parse{Query: "SELECT $1::bigint AS a"}, bind("", nil), &pgproto3.Sync{}}, nil},
			{1, []pgproto3.FrontendMessage{&pgproto3.Parse{Query: "SELECT $1::bigint AS a", ParameterOIDs: []uint32{20}}, &pgproto3.Bind{Parameters: [][]byte{{1, 2, 3}}, ParameterFormatCodes: []int16{1}}, &pgproto3.Sync{}}, nil},
			{1, []pgproto3.FrontendMessage{&pgproto3.Parse{Query: "select 1"}, bind("", []int16{1, 1}), &pgproto3.Execute{}, &pgproto3.Sync{}}, nil},
		}},
		{name: "oversized message", steps: []step{
			{1, nil, append([]byte{'Q'}, binary.BigEndian.AppendUint32(nil, 2<<20)...)},
		}},
		{name: "unknown message type", steps: []step{
			{1, nil, []byte{'!', 0, 0, 0, 4}},
		}},
		{name: "no user", startup: &pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersion30, Parameters: map[string]string{"database": "x"}}},
	}
	var golden strings.Builder
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client, _ := pipeServer(t, NewTestHandler(), Options{}, tt.wrap)
			fe := pgproto3.NewFrontend(client, client)
			fmt.Fprintf(&golden, "== %s\n", tt.name)
			su := tt.startup
			if su == nil {
				su = startup("grafana", pgproto3.ProtocolVersion30, nil)
			}
			lines := exchange(t, fe, client, 1, su)
			if !tt.showStartup && lines[len(lines)-1] == "ReadyForQuery I" {
				lines = []string{fmt.Sprintf("(startup: %d messages)", len(lines))}
			}
			for _, st := range tt.steps {
				if lines[len(lines)-1] == "(connection closed)" {
					break
				}
				lines = append(lines, "--")
				if st.raw != nil {
					if _, err := client.Write(st.raw); err != nil {
						t.Fatal(err)
					}
				}
				lines = append(lines, exchange(t, fe, client, st.rfq, st.msgs...)...)
			}
			golden.WriteString(strings.Join(lines, "\n") + "\n\n")
		})
	}
	path := filepath.Join("testdata", "transcripts.golden")
	if *update {
		if err := os.WriteFile(path, []byte(golden.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update)", err)
	}
	if got := golden.String(); got != string(want) {
		t.Errorf("transcripts differ from %s (go test -update, then review the diff):\n%s", path, got)
	}
}
