package bench

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestPostConn drives postConn against net/http's server: kept-alive
// connections, chunked and sized answers, Connection: close, and a server
// that drops idle connections.
func TestPostConn(t *testing.T) {
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.URL.Path != "/p" || r.Method != http.MethodPost || r.Header.Get("Content-Type") != "text/x" {
			http.Error(w, "bad request line or headers", http.StatusBadRequest)
			return
		}
		switch string(body) {
		case "chunked":
			w.WriteHeader(http.StatusAccepted)
			for i := range 3 {
				fmt.Fprintf(w, "part%d;", i)
				w.(http.Flusher).Flush()
			}
		case "close":
			w.Header().Set("Connection", "close")
			io.WriteString(w, "bye")
		default:
			w.Header().Set("Content-Length", fmt.Sprint(len(body)+1))
			io.WriteString(w, string(body)+"!")
		}
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	c := newPostConn(addr, "/p", "text/x", 5*time.Second)
	defer c.close()
	ctx := context.Background()
	for _, tc := range []struct {
		body, want string
		status     int
	}{
		{"a", "a!", 200},
		{"", "!", 200},
		{"chunked", "part0;part1;part2;", 202},
		{"b", "b!", 200},
		{"close", "bye", 200},
		{"c", "c!", 200},
	} {
		status, got, err := c.post(ctx, []byte(tc.body))
		if err != nil || status != tc.status || string(got) != tc.want {
			t.Fatalf("post %q = %d %q, %v; want %d %q", tc.body, status, got, err, tc.status, tc.want)
		}
	}
	if n := conns.Load(); n != 2 {
		t.Errorf("%d connections, want 2 (one kept alive until Connection: close)", n)
	}
	// The server drops idle connections: the next post redials.
	srv.CloseClientConnections()
	time.Sleep(10 * time.Millisecond)
	if status, got, err := c.post(ctx, []byte("d")); err != nil || status != 200 || string(got) != "d!" {
		t.Fatalf("post after the server closed the connection = %d %q, %v", status, got, err)
	}
}
