package pgwire_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sluice-dev/sluice/internal/pgwire"
)

func passwords(user string) (string, bool) {
	switch user {
	case "grafana":
		return "s3cret", true
	case "unicode":
		return "pässwörd", true
	}
	return "", false
}

func TestAuth(t *testing.T) {
	for _, method := range []string{pgwire.AuthSCRAM, pgwire.AuthMD5, pgwire.AuthPassword} {
		t.Run("method="+method, func(t *testing.T) {
			s := startServer(t, pgwire.Options{Passwords: passwords, AuthMethod: method})
			tests := []struct {
				user, password string
				ok             bool
			}{
				{"grafana", "s3cret", true},
				{"unicode", "pässwörd", true},
				{"grafana", "wrong", false},
				{"grafana", "", false},
				{"nobody", "s3cret", false},
			}
			for _, tt := range tests {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				c, err := pgx.Connect(ctx, s.url(tt.user, tt.password, ""))
				cancel()
				if tt.ok {
					if err != nil {
						t.Errorf("%s/%s: %v", tt.user, tt.password, err)
						continue
					}
					if err := c.Ping(context.Background()); err != nil {
						t.Errorf("ping: %v", err)
					}
					c.Close(context.Background())
					continue
				}
				if err == nil {
					c.Close(context.Background())
					t.Errorf("%s/%s: connected", tt.user, tt.password)
					continue
				}
				if pe := pgErr(t, err); pe.Code != "28P01" || pe.Severity != "FATAL" {
					t.Errorf("%s/%s: %+v", tt.user, tt.password, pe)
				}
			}
			if got := metricValue(t, s.reg, "sluice_pgwire_auth_failures_total", ""); got != 3 {
				t.Errorf("auth failures metric = %v, want 3", got)
			}
		})
	}
	if _, err := pgwire.NewServer(pgwire.NewTestHandler(), pgwire.Options{AuthMethod: pgwire.AuthMD5}, nil); err == nil {
		t.Error("md5 without Passwords accepted")
	}
	if _, err := pgwire.NewServer(pgwire.NewTestHandler(), pgwire.Options{AuthMethod: "kerberos"}, nil); err == nil {
		t.Error("unknown method accepted")
	}
}

// selfSigned makes a TLS config with a fresh self-signed certificate.
func selfSigned(t testing.TB) *tls.Config {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}, MinVersion: tls.VersionTLS12}
}

func TestTLS(t *testing.T) {
	s := startServer(t, pgwire.Options{TLS: selfSigned(t), RequireTLS: true, Passwords: passwords})
	ctx := context.Background()
	c, err := pgx.Connect(ctx, s.url("grafana", "s3cret", "sslmode=require"))
	if err != nil {
		t.Fatalf("sslmode=require: %v", err)
	}
	if _, ok := c.PgConn().Conn().(*tls.Conn); !ok {
		t.Errorf("connection is %T, not TLS", c.PgConn().Conn())
	}
	var v string
	if err := c.QueryRow(ctx, "select version()").Scan(&v); err != nil || !strings.Contains(v, "16.0") {
		t.Errorf("version over TLS: %q %v", v, err)
	}
	c.Close(ctx)
	_, err = pgx.Connect(ctx, s.url("grafana", "s3cret", "sslmode=disable"))
	if pe := pgErr(t, err); pe.Code != "28000" {
		t.Errorf("plain text with RequireTLS: %+v", pe)
	}
	// A server without TLS answers 'N': require fails, prefer falls back.
	plain := startServer(t, pgwire.Options{})
	if c, err := pgx.Connect(ctx, plain.url("grafana", "", "sslmode=require")); err == nil {
		c.Close(ctx)
		t.Error("sslmode=require against a server without TLS connected")
	}
	c, err = pgx.Connect(ctx, plain.url("grafana", "", "sslmode=prefer"))
	if err != nil {
		t.Fatalf("sslmode=prefer: %v", err)
	}
	c.Close(ctx)
}

func TestMaxConns(t *testing.T) {
	s := startServer(t, pgwire.Options{MaxConns: 2})
	a := connect(t, s, pgx.QueryExecModeSimpleProtocol)
	connect(t, s, pgx.QueryExecModeSimpleProtocol)
	_, err := pgx.Connect(context.Background(), s.url("grafana", "", ""))
	if pe := pgErr(t, err); pe.Code != "53300" || pe.Message != "sorry, too many clients already" {
		t.Errorf("third connection: %+v", pe)
	}
	if got := metricValue(t, s.reg, "sluice_pgwire_connections", ""); got != 2 {
		t.Errorf("connections gauge = %v", got)
	}
	// A cancel request still gets through at the limit.
	go func() { <-s.h.Sleeping(); _ = a.PgConn().CancelRequest(context.Background()) }()
	if _, err := a.Exec(context.Background(), "SELECT sleep(10000)"); pgErr(t, err).Code != "57014" {
		t.Errorf("cancel at the limit: %v", err)
	}
	a.Close(context.Background())
	deadline := time.Now().Add(2 * time.Second)
	for {
		c, err := pgx.Connect(context.Background(), s.url("grafana", "", ""))
		if err == nil {
			c.Close(context.Background())
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no room after a close: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestShutdown(t *testing.T) {
	h := pgwire.NewTestHandler()
	s, err := pgwire.NewServer(h, pgwire.Options{Addr: "127.0.0.1:0", ShutdownGrace: 200 * time.Millisecond, Logger: testLogger()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	ts := &testServer{Server: s, h: h}
	idle := connect(t, ts, pgx.QueryExecModeSimpleProtocol)
	busy := connect(t, ts, pgx.QueryExecModeSimpleProtocol)
	var wg sync.WaitGroup
	wg.Add(1)
	var busyErr error
	go func() {
		defer wg.Done()
		_, busyErr = busy.Exec(context.Background(), "SELECT sleep(20000)")
	}()
	<-h.Sleeping()
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if d := time.Since(start); d < 200*time.Millisecond || d > 3*time.Second {
		t.Errorf("Shutdown took %v with a 200ms grace", d)
	}
	wg.Wait()
	if pe := pgErr(t, busyErr); pe.Code != "57P01" {
		t.Errorf("running query: %+v", pe)
	}
	if err := idle.Ping(context.Background()); err == nil {
		t.Error("idle connection still works after Shutdown")
	}
	if _, err := net.DialTimeout("tcp", s.Addr(), time.Second); err == nil {
		t.Error("still accepting after Shutdown")
	}
}

// TestPsql runs the real psql client (CI installs postgresql-client).
func TestPsql(t *testing.T) {
	psql, err := exec.LookPath("psql")
	if err != nil {
		t.Skip("psql not on PATH; install postgresql-client to run this test")
	}
	s := startServer(t, pgwire.Options{Passwords: passwords})
	host, port, _ := net.SplitHostPort(s.Addr())
	dsn := "host=" + host + " port=" + port + " user=grafana dbname=iot sslmode=disable"
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(psql, append([]string{dsn, "-X", "-v", "ON_ERROR_STOP=1"}, args...)...)
		cmd.Env = append(cmd.Environ(), "PGPASSWORD=s3cret", "PGCONNECT_TIMEOUT=5", "LANG=C.UTF-8")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("psql %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	got := run("-c", "SELECT * FROM series(3)")
	want := ` i |             t              |  v  |    s     
---+----------------------------+-----+----------
 0 | 2026-11-26 10:00:00.123456 |   0 | device-0
 1 | 2026-11-26 10:00:01.123456 | 0.5 | device-1
 2 | 2026-11-26 10:00:02.123456 |   1 | device-2
(3 rows)

`
	if got != want {
		t.Errorf("psql -c:\n%s\nwant:\n%s", got, want)
	}
	got = run("-A", "-t", "-c", "SELECT * FROM types")
	want = `t|-42|0.1|héllo, 'world'|2026-11-26 10:00:00.123456|2026-11-26 10:00:00.123456+00|2026-11-26|1 day 02:00:03.5
|||||||
f|9223372036854775807|-Infinity||1970-01-01 00:00:00|1969-12-31 23:59:59.999999+00|1969-12-31|-00:00:01
t|-9223372036854775808|NaN|x|1970-01-12 13:46:40|1970-01-12 13:46:40+00|1970-01-12|00:00:00
`
	if got != want {
		t.Errorf("psql -A -t:\n%s\nwant:\n%s", got, want)
	}
	got = run("-A", "-t", "-c", "SET statement_timeout = '1s'; SHOW statement_timeout; select current_setting('application_name')")
	if got != "SET\n1s\npsql\n" && got != "1s\npsql\n" {
		t.Errorf("psql settings: %q", got)
	}
	cmd := exec.Command(psql, dsn, "-X", "-c", "SELECT * FROM nowhere")
	cmd.Env = append(cmd.Environ(), "PGPASSWORD=s3cret")
	out, _ := cmd.CombinedOutput()
	if !strings.Contains(string(out), `ERROR:  relation "nowhere" does not exist`) || !strings.Contains(string(out), "LINE 1: SELECT * FROM nowhere") {
		t.Errorf("psql error output:\n%s", out)
	}
}
