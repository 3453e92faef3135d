package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"time"
)

// postConn is a load generator's HTTP/1.1 connection that POSTs bodies to
// one URL path and reads the answers, keeping the connection alive.
//
// The load generator shares the machine's cores with the server it
// measures, so its own cost per request lowers the figure: net/http's
// client spends about 20 µs of CPU on a small request here (a goroutine
// pair per connection, header maps, channel hand-offs), more than the
// server's ingest of the event. postConn writes a fixed request head and
// parses only what an answer needs (status, Content-Length or chunked
// body, Connection: close). It is one goroutine's, not safe for
// concurrent use.
type postConn struct {
	addr    string
	head    []byte // request line and headers up to "Content-Length: "
	timeout time.Duration

	conn net.Conn
	br   *bufio.Reader
	wbuf []byte
	body []byte // the last answer's body
}

func newPostConn(addr, path, contentType string, timeout time.Duration) *postConn {
	head := fmt.Appendf(nil, "POST %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: sluice-bench\r\nContent-Type: %s\r\nContent-Length: ", path, addr, contentType)
	return &postConn{addr: addr, head: head, timeout: timeout}
}

// post sends body and returns the status and the answer's body (valid
// until the next post). A broken kept-alive connection is redialled once.
func (c *postConn) post(ctx context.Context, body []byte) (int, []byte, error) {
	for attempt := 0; ; attempt++ {
		fresh := c.conn == nil
		if fresh {
			d := net.Dialer{Timeout: c.timeout}
			conn, err := d.DialContext(ctx, "tcp", c.addr)
			if err != nil {
				return 0, nil, err
			}
			c.conn = conn
			if c.br == nil {
				c.br = bufio.NewReaderSize(conn, 16<<10)
			} else {
				c.br.Reset(conn)
			}
		}
		status, keep, err := c.roundTrip(body)
		if err == nil {
			if !keep {
				c.close()
			}
			return status, c.body, nil
		}
		c.close()
		// Only a kept-alive connection that the server closed while idle
		// is retried; the request may not have been read at all then.
		if fresh || attempt > 0 || ctx.Err() != nil || !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) && !isReset(err) {
			return 0, nil, err
		}
	}
}

func isReset(err error) bool {
	var op *net.OpError
	return errors.As(err, &op)
}

func (c *postConn) close() {
	if c.conn != nil {
		c.conn.Close()
		c.conn = nil
	}
}

func (c *postConn) roundTrip(body []byte) (status int, keep bool, err error) {
	if err := c.conn.SetDeadline(time.Now().Add(c.timeout)); err != nil {
		return 0, false, err
	}
	c.wbuf = append(c.wbuf[:0], c.head...)
	c.wbuf = strconv.AppendInt(c.wbuf, int64(len(body)), 10)
	c.wbuf = append(c.wbuf, "\r\n\r\n"...)
	c.wbuf = append(c.wbuf, body...)
	if _, err := c.conn.Write(c.wbuf); err != nil {
		return 0, false, err
	}
	line, err := c.line()
	if err != nil {
		return 0, false, err
	}
	// "HTTP/1.1 200 OK"
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' {
		return 0, false, fmt.Errorf("bad status line %q", line)
	}
	status, err = strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, false, fmt.Errorf("bad status line %q", line)
	}
	keep = line[7] == '1'
	length, chunked := -1, false
	for {
		h, err := c.line()
		if err != nil {
			return 0, false, err
		}
		if len(h) == 0 {
			break
		}
		name, value, ok := bytes.Cut(h, []byte(":"))
		if !ok {
			return 0, false, fmt.Errorf("bad header line %q", h)
		}
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			if length, err = strconv.Atoi(string(value)); err != nil || length < 0 {
				return 0, false, fmt.Errorf("bad Content-Length %q", value)
			}
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			chunked = bytes.EqualFold(value, []byte("chunked"))
		case bytes.EqualFold(name, []byte("Connection")):
			if bytes.EqualFold(value, []byte("close")) {
				keep = false
			}
		}
	}
	c.body = c.body[:0]
	switch {
	case chunked:
		for {
			h, err := c.line()
			if err != nil {
				return 0, false, err
			}
			h, _, _ = bytes.Cut(h, []byte(";"))
			n, err := strconv.ParseInt(string(bytes.TrimSpace(h)), 16, 32)
			if err != nil || n < 0 {
				return 0, false, fmt.Errorf("bad chunk size %q", h)
			}
			if n == 0 {
				for { // trailers
					t, err := c.line()
					if err != nil {
						return 0, false, err
					}
					if len(t) == 0 {
						return status, keep, nil
					}
				}
			}
			if err := c.read(int(n)); err != nil {
				return 0, false, err
			}
			if crlf, err := c.line(); err != nil || len(crlf) != 0 {
				return 0, false, fmt.Errorf("chunk not followed by CRLF")
			}
		}
	case length >= 0:
		return status, keep, c.read(length)
	default:
		// Body up to the end of the connection.
		b, err := io.ReadAll(c.br)
		c.body = append(c.body, b...)
		return status, false, err
	}
}

// line reads one CRLF-terminated line without the CRLF.
func (c *postConn) line() ([]byte, error) {
	line, err := c.br.ReadSlice('\n')
	if err != nil {
		if errors.Is(err, bufio.ErrBufferFull) {
			return nil, errors.New("header line too long")
		}
		return nil, err
	}
	return bytes.TrimSuffix(line[:len(line)-1], []byte("\r")), nil
}

func (c *postConn) read(n int) error {
	start := len(c.body)
	c.body = slices.Grow(c.body, n)[:start+n]
	_, err := io.ReadFull(c.br, c.body[start:])
	return err
}
