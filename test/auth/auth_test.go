// Package auth_test starts the whole server with access keys and TLS and
// shows each door — the native HTTP API, MQTT (a real paho client) and the
// PostgreSQL wire protocol (pgx) — refusing a missing or wrong credential
// and a denied action, accepting a good one, and serving over TLS.
package auth_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/eclipse/paho.golang/packets"
	"github.com/eclipse/paho.golang/paho"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/sluice-dev/sluice/internal/app"
	"github.com/sluice-dev/sluice/internal/apptest"
	"github.com/sluice-dev/sluice/internal/config"
)

const (
	adminID, adminSecret   = "AKIDADMIN", "admin-secret-0123456789"
	deviceID, deviceSecret = "AKIDDEVICE", "device-secret-0123456789"
	grafID, grafSecret     = "AKIDGRAFANA", "grafana-secret-0123456789"
	denyID, denySecret     = "AKIDDENY", "deny-secret-0123456789"
	opsID, opsSecret       = "AKIDOPS", "ops-secret-0123456789"
)

// keysFile mirrors the seed's IAM statements: the device may only put
// records into the events stream; Grafana may describe, list and select;
// "deny" may do anything in Timestream except read the telemetry table;
// "ops" may only flush.
const keysFile = `
keys:
  - access_key_id: AKIDDEVICE
    secret_access_key: device-secret-0123456789
    description: devices (the seed's Lambda producer)
    policy:
      Version: "2012-10-17"
      Statement:
        - Sid: PutEvents
          Effect: Allow
          Action: ["kinesis:PutRecord", "kinesis:PutRecords"]
          Resource: arn:aws:kinesis:eu-central-1:111122223333:stream/events
  - access_key_id: AKIDGRAFANA
    secret_access_key: grafana-secret-0123456789
    policy:
      Statement:
        Effect: Allow
        Action: ["timestream:Describe*", "timestream:Select", "timestream:SelectValues", "timestream:List*"]
        Resource: arn:aws:timestream:*:*:database/iot/table/*
  - access_key_id: AKIDDENY
    secret_access_key: deny-secret-0123456789
    policy:
      Statement:
        - {Effect: Allow, Action: "timestream:*", Resource: "*"}
        - {Effect: Deny, Action: "timestream:Select", Resource: "arn:aws:timestream:*:*:database/iot/table/telemetry"}
  - access_key_id: AKIDOPS
    secret_access_key: ops-secret-0123456789
    policy:
      Statement:
        - {Effect: Allow, Action: "sluice:Flush", Resource: "*"}
`

// selfSigned writes a certificate for 127.0.0.1 and localhost and returns
// the file names and a pool that trusts it.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "sluice test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

type server struct {
	a    *app.App
	pool *x509.CertPool
	http *http.Client
	base string
}

func start(t *testing.T) *server {
	t.Helper()
	dir := t.TempDir()
	certFile, keyFile, pool := selfSigned(t, dir)
	kf := filepath.Join(dir, "keys.yaml")
	if err := os.WriteFile(kf, []byte(keysFile), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.DataDir = filepath.Join(dir, "data")
	cfg.HTTPAddr, cfg.MQTTAddr, cfg.PGAddr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	cfg.AWSAccessKeyID, cfg.AWSSecretAccessKey = adminID, adminSecret
	cfg.KeysFile = kf
	cfg.TLSCert, cfg.TLSKey = certFile, keyFile
	cfg.FlushInterval = 20 * time.Millisecond
	a := apptest.StartWith(t, cfg, slog.New(slog.DiscardHandler))
	return &server{
		a:    a,
		pool: pool,
		http: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}},
		base: "https://" + a.HTTPAddr(),
	}
}

// cred sets a request's credential.
type cred func(*http.Request, []byte)

func basic(id, secret string) cred {
	return func(r *http.Request, _ []byte) { r.SetBasicAuth(id, secret) }
}

func bearer(id, secret string) cred {
	return func(r *http.Request, _ []byte) { r.Header.Set("Authorization", "Bearer "+id+":"+secret) }
}

func sigv4(id, secret string) cred {
	return func(r *http.Request, body []byte) {
		sum := sha256.Sum256(body)
		err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: id, SecretAccessKey: secret}, r, hex.EncodeToString(sum[:]), "timestream", "eu-central-1", time.Now())
		if err != nil {
			panic(err)
		}
	}
}

func none(*http.Request, []byte) {}

// do sends a request and returns the status and the native error code.
func (s *server) do(t *testing.T, method, path, body string, c cred) (int, string) {
	t.Helper()
	r, err := http.NewRequest(method, s.base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	c(r, []byte(body))
	resp, err := s.http.Do(r)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var e struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	_ = json.Unmarshal(data, &e)
	if resp.StatusCode >= 400 && e.Error.Code == "" {
		t.Errorf("%s %s: %d without the native error shape: %s", method, path, resp.StatusCode, data)
	}
	return resp.StatusCode, e.Error.Code
}

func event(device string) string {
	return fmt.Sprintf(`{"Time":%d,"DeviceID":%q,"temperature_measure":21.5,"humidity_measure":40,"voltage_measure":230,"watt_measure":100}`, time.Now().UnixMilli(), device)
}

func TestDoors(t *testing.T) {
	s := start(t)
	const records = "/v1/streams/events/records"
	selectTelemetry := `{"sql":"SELECT count(*) AS n FROM iot.telemetry"}`

	t.Run("http", func(t *testing.T) {
		for _, c := range []struct {
			name, method, path, body string
			cred                     cred
			status                   int
			code                     string
		}{
			{"health is open", "GET", "/healthz", "", none, 200, ""},
			{"no credential", "POST", records, event("d1"), none, 401, "unauthenticated"},
			{"wrong secret (Basic)", "POST", records, event("d1"), basic(deviceID, "wrong"), 401, "unauthenticated"},
			{"unknown key (Bearer)", "POST", records, event("d1"), bearer("AKIDNOBODY", deviceSecret), 401, "unauthenticated"},
			{"wrong secret (SigV4)", "GET", "/v1/databases", "", sigv4(adminID, "wrong"), 401, "unauthenticated"},
			{"unknown scheme", "GET", "/v1/databases", "", func(r *http.Request, _ []byte) { r.Header.Set("Authorization", "Digest x") }, 401, "unauthenticated"},
			{"device ingests (Basic)", "POST", records, event("d1"), basic(deviceID, deviceSecret), 200, ""},
			{"device ingests (Bearer)", "POST", records, event("d2"), bearer(deviceID, deviceSecret), 200, ""},
			{"device ingests (SigV4)", "POST", records, event("d3"), sigv4(deviceID, deviceSecret), 200, ""},
			{"device may not write another stream", "POST", "/v1/streams/other/records", event("d1"), basic(deviceID, deviceSecret), 403, "access_denied"},
			{"device may not query", "POST", "/v1/query", `{"sql":"SELECT 1"}`, basic(deviceID, deviceSecret), 403, "access_denied"},
			{"device may not create tables", "POST", "/v1/databases/iot/tables", `{"name":"x"}`, basic(deviceID, deviceSecret), 403, "access_denied"},
			{"grafana may not create tables", "POST", "/v1/databases/iot/tables", `{"name":"x"}`, basic(grafID, grafSecret), 403, "access_denied"},
			{"grafana may not read the dead letters", "POST", "/v1/query", `{"sql":"SELECT * FROM sluice.dead_letters"}`, basic(grafID, grafSecret), 403, "access_denied"},
			{"deny wins", "POST", "/v1/query", selectTelemetry, basic(denyID, denySecret), 403, "access_denied"},
			{"deny wins through a CTE", "POST", "/v1/query", `{"sql":"WITH x AS (SELECT * FROM telemetry) SELECT count(*) FROM x"}`, basic(denyID, denySecret), 403, "access_denied"},
			{"deny-key may create tables", "POST", "/v1/databases/iot/tables", `{"name":"scratch"}`, sigv4(denyID, denySecret), 201, ""},
			{"metrics need a key", "GET", "/metrics", "", none, 401, "unauthenticated"},
			{"metrics for admin", "GET", "/metrics", "", bearer(adminID, adminSecret), 200, ""},
			{"metrics not for devices", "GET", "/metrics", "", bearer(deviceID, deviceSecret), 403, "access_denied"},
			{"ops may flush", "POST", "/v1/admin/flush", "", basic(opsID, opsSecret), 200, ""},
			{"grafana may not flush", "POST", "/v1/admin/flush", "", basic(grafID, grafSecret), 403, "access_denied"},
			{"unknown routes need a broad policy", "GET", "/console/", "", basic(grafID, grafSecret), 403, "access_denied"},
			{"admin lists databases (SigV4)", "GET", "/v1/databases", "", sigv4(adminID, adminSecret), 200, ""},
		} {
			t.Run(c.name, func(t *testing.T) {
				status, code := s.do(t, c.method, c.path, c.body, c.cred)
				if status != c.status || code != c.code {
					t.Fatalf("got %d %q, want %d %q", status, code, c.status, c.code)
				}
			})
		}
		// Grafana reads telemetry once the processor has stored it.
		deadline := time.Now().Add(15 * time.Second)
		for {
			status, code := s.do(t, "POST", "/v1/query", selectTelemetry, basic(grafID, grafSecret))
			if status == 200 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("grafana query: %d %s", status, code)
			}
			time.Sleep(50 * time.Millisecond)
		}
		// Insights and plots run SQL table functions: their tables are
		// checked as those of /v1/query; inferring a lake schema has its
		// own action (and CreateTable with "create").
		anomalies := `{"table":"iot.telemetry","measure":"temperature"}`
		plot := "/v1/plot?table=iot.telemetry&measure=temperature"
		infer := `{"location":"events/","database":"lake","table":"ev","create":true}`
		for _, c := range []struct {
			name, method, path, body string
			cred                     cred
			status                   int
			code                     string
		}{
			{"grafana runs anomalies on its table", "POST", "/v1/insights/anomalies", anomalies, basic(grafID, grafSecret), 200, ""},
			{"deny wins in anomalies", "POST", "/v1/insights/anomalies", anomalies, basic(denyID, denySecret), 403, "access_denied"},
			{"anomalies over a query read its tables", "POST", "/v1/insights/forecast", `{"sql":"SELECT time, 1.0 FROM sluice.dead_letters"}`, basic(grafID, grafSecret), 403, "access_denied"},
			{"device may not run anomalies", "POST", "/v1/insights/anomalies", anomalies, basic(deviceID, deviceSecret), 403, "access_denied"},
			{"unknown insight", "POST", "/v1/insights/bogus", anomalies, basic(grafID, grafSecret), 400, "bad_request"},
			{"grafana plots its table", "GET", plot, "", basic(grafID, grafSecret), 200, ""},
			{"deny wins in plots", "GET", plot, "", basic(denyID, denySecret), 403, "access_denied"},
			{"lake inference needs its action", "POST", "/v1/lake/infer", infer, basic(denyID, denySecret), 403, "access_denied"},
			{"grafana may not infer", "POST", "/v1/lake/infer", `{"location":"events/"}`, basic(grafID, grafSecret), 403, "access_denied"},
		} {
			t.Run(c.name, func(t *testing.T) {
				status, code := s.do(t, c.method, c.path, c.body, c.cred)
				if status != c.status || code != c.code {
					t.Fatalf("got %d %q, want %d %q", status, code, c.status, c.code)
				}
			})
		}
		if status, code := s.do(t, "POST", "/v1/lake/infer", infer, basic(adminID, adminSecret)); status == 403 || status == 401 {
			t.Fatalf("admin infers a lake schema: %d %q", status, code)
		}
		// Plain HTTP on the TLS port is not served.
		resp, err := http.Get("http://" + s.a.HTTPAddr() + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				t.Fatal("plain HTTP served on the TLS listener")
			}
		}
	})

	t.Run("aws", func(t *testing.T) {
		call := func(target, id, secret string) (int, string) {
			body := []byte(`{}`)
			r, err := http.NewRequest("POST", s.base+"/", bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			r.Header.Set("Content-Type", "application/x-amz-json-1.1")
			r.Header.Set("X-Amz-Target", target)
			if id != "" {
				sum := sha256.Sum256(body)
				if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: id, SecretAccessKey: secret}, r, hex.EncodeToString(sum[:]), "kinesis", "eu-central-1", time.Now()); err != nil {
					t.Fatal(err)
				}
			}
			resp, err := s.http.Do(r)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var e struct {
				Type string `json:"__type"`
			}
			_ = json.NewDecoder(resp.Body).Decode(&e)
			return resp.StatusCode, e.Type
		}
		for _, c := range []struct {
			name, id, secret string
			status           int
			typ              string
		}{
			{"unsigned", "", "", 400, "MissingAuthenticationToken"},
			{"unknown key", "AKIDNOBODY", "x", 400, "UnrecognizedClient"},
			{"wrong secret", adminID, "wrong", 400, "InvalidSignature"},
			{"denied", deviceID, deviceSecret, 400, "AccessDenied"},
			{"admin", adminID, adminSecret, 200, ""},
		} {
			status, typ := call("Kinesis_20131202.ListStreams", c.id, c.secret)
			if status != c.status && !(c.typ == "AccessDenied" && status == 403) || !strings.Contains(typ, c.typ) {
				t.Errorf("%s: %d %q, want %d %q", c.name, status, typ, c.status, c.typ)
			}
		}
	})

	t.Run("mqtt", func(t *testing.T) {
		connect := func(user, pass string) (*paho.Client, error) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			conn, err := tls.Dial("tcp", s.a.MQTTAddr(), &tls.Config{RootCAs: s.pool, ServerName: "127.0.0.1"})
			if err != nil {
				t.Fatal(err)
			}
			c := paho.NewClient(paho.ClientConfig{Conn: packets.NewThreadSafeConn(conn)})
			cp := &paho.Connect{ClientID: "c-" + user, CleanStart: true, KeepAlive: 30}
			if user != "" {
				cp.Username, cp.UsernameFlag = user, true
				cp.Password, cp.PasswordFlag = []byte(pass), true
			}
			ca, err := c.Connect(ctx, cp)
			if err != nil {
				conn.Close()
				if ca != nil && ca.ReasonCode != packets.ConnackBadUsernameOrPassword {
					t.Errorf("CONNACK reason %#x, want bad user name or password", ca.ReasonCode)
				}
				return nil, err
			}
			t.Cleanup(func() { _ = c.Disconnect(&paho.Disconnect{}) })
			return c, nil
		}
		if _, err := connect("", ""); err == nil {
			t.Fatal("connected without credentials")
		}
		if _, err := connect(deviceID, "wrong"); err == nil {
			t.Fatal("connected with a wrong password")
		}
		dev, err := connect(deviceID, deviceSecret)
		if err != nil {
			t.Fatalf("device: %v", err)
		}
		publish := func(c *paho.Client, topic string) (byte, error) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			pr, err := c.Publish(ctx, &paho.Publish{Topic: topic, QoS: 1, Payload: []byte(event("m1"))})
			if pr == nil {
				return 0, err
			}
			return pr.ReasonCode, err
		}
		if rc, err := publish(dev, "devices/m1/telemetry"); err != nil || rc != 0 {
			t.Fatalf("device publish: %#x %v", rc, err)
		}
		if rc, _ := publish(dev, "other/topic"); rc != packets.PubackNotAuthorized {
			t.Fatalf("device publish to an unmapped topic: reason %#x, want not authorized", rc)
		}
		graf, err := connect(grafID, grafSecret)
		if err != nil {
			t.Fatalf("grafana: %v", err)
		}
		if rc, _ := publish(graf, "devices/m1/telemetry"); rc != packets.PubackNotAuthorized {
			t.Fatalf("grafana publish: reason %#x, want not authorized", rc)
		}
	})

	t.Run("postgres", func(t *testing.T) {
		conn := func(user, pass string) (*pgx.Conn, error) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			host, port, _ := net.SplitHostPort(s.a.PGAddr())
			cfg, err := pgx.ParseConfig(fmt.Sprintf("host=%s port=%s user=%s password=%s dbname=iot sslmode=verify-full", host, port, user, pass))
			if err != nil {
				t.Fatal(err)
			}
			cfg.TLSConfig = &tls.Config{RootCAs: s.pool, ServerName: "127.0.0.1"}
			cfg.Fallbacks = nil
			c, err := pgx.ConnectConfig(ctx, cfg)
			if err == nil {
				t.Cleanup(func() { c.Close(context.Background()) })
				if !c.PgConn().Conn().(*tls.Conn).ConnectionState().HandshakeComplete {
					t.Error("not TLS")
				}
			}
			return c, err
		}
		sqlstate := func(err error) string {
			var pe *pgconn.PgError
			if errors.As(err, &pe) {
				return pe.Code
			}
			return fmt.Sprint(err)
		}
		for _, c := range []struct{ name, user, pass string }{
			{"wrong password", grafID, "wrong"},
			{"unknown user", "AKIDNOBODY", "x"},
			{"key without Select", deviceID, deviceSecret},
		} {
			if _, err := conn(c.user, c.pass); sqlstate(err) != "28P01" {
				t.Errorf("%s: %v, want 28P01", c.name, err)
			}
		}
		ctx := context.Background()
		g, err := conn(grafID, grafSecret)
		if err != nil {
			t.Fatalf("grafana: %v", err)
		}
		var n int64
		if err := g.QueryRow(ctx, "SELECT count(*) FROM telemetry").Scan(&n); err != nil || n == 0 {
			t.Fatalf("grafana count: %d %v", n, err)
		}
		if _, err := g.Exec(ctx, "SELECT * FROM sluice.dead_letters"); sqlstate(err) != "42501" {
			t.Fatalf("grafana reading dead letters: %v, want 42501", err)
		}
		// A search_path cannot steer an unqualified name elsewhere.
		if _, err := g.Exec(ctx, "SET search_path = sluice"); err != nil {
			t.Fatal(err)
		}
		if _, err := g.Exec(ctx, "SELECT * FROM dead_letters"); sqlstate(err) != "42501" {
			t.Fatalf("grafana reading dead letters through search_path: %v, want 42501", err)
		}
		d, err := conn(denyID, denySecret)
		if err != nil {
			t.Fatalf("deny key: %v", err)
		}
		if _, err := d.Exec(ctx, "SELECT count(*) FROM iot.telemetry"); sqlstate(err) != "42501" {
			t.Fatalf("deny key: %v, want 42501", err)
		}
		if _, err := d.Exec(ctx, "SELECT 1"); err != nil {
			t.Fatalf("deny key SELECT 1: %v", err)
		}
	})
}

// TestSecretsNotLogged checks that a server with keys never writes a
// secret to its log.
func TestSecretsNotLogged(t *testing.T) {
	var buf bytes.Buffer
	cfg := config.Default()
	cfg.AWSAccessKeyID, cfg.AWSSecretAccessKey = adminID, adminSecret
	logger := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	logger.Info("config", "cfg", cfg)
	if strings.Contains(buf.String(), adminSecret) {
		t.Fatal("secret in log")
	}
}
