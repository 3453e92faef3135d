package jetstream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// serverOptions builds the embedded server's options. Every durability
// setting is set explicitly here rather than left to nats-server defaults
// (whose file store otherwise fsyncs only every 2 minutes).
func serverOptions(opts Options) (*server.Options, error) {
	if opts.DataDir == "" {
		return nil, errors.New("jetstream: Options.DataDir is required for the embedded server")
	}
	so := &server.Options{
		ServerName: "sluice",
		JetStream:  true,
		StoreDir:   opts.DataDir,
		MaxPayload: opts.MaxPayload,
		// The process owns signals; the server must not install handlers.
		NoSigs: true,
		// Logging goes through SetLoggerV2 below.
		NoLog: true,
	}
	switch opts.Sync {
	case SyncAlways:
		so.SyncAlways = true
	case SyncInterval:
		so.SyncInterval = opts.SyncEvery
	default:
		return nil, fmt.Errorf("jetstream: unknown sync mode %d", int(opts.Sync))
	}
	if opts.Listen == "" {
		so.DontListen = true
	} else {
		host, port, err := net.SplitHostPort(opts.Listen)
		if err != nil {
			return nil, fmt.Errorf("jetstream: listen address %q: %w", opts.Listen, err)
		}
		p, err := strconv.Atoi(port)
		if err != nil || p < 0 || p > 65535 {
			return nil, fmt.Errorf("jetstream: listen address %q: bad port", opts.Listen)
		}
		if p == 0 {
			// nats-server reads port 0 as "the default 4222"; -1 means any.
			p = server.RANDOM_PORT
		}
		so.Host, so.Port = host, p
	}
	return so, nil
}

// startServer starts the embedded server and waits until it accepts
// connections, bounded by ctx (or 30 s without a deadline).
func startServer(ctx context.Context, opts Options, logger *slog.Logger) (*server.Server, error) {
	so, err := serverOptions(opts)
	if err != nil {
		return nil, err
	}
	srv, err := server.NewServer(so)
	if err != nil {
		return nil, fmt.Errorf("jetstream: configuring embedded server: %w", err)
	}
	srv.SetLoggerV2(slogAdapter{logger.With("component", "nats-server")}, false, false, false)
	srv.Start()
	wait := 30 * time.Second
	if dl, ok := ctx.Deadline(); ok {
		wait = time.Until(dl)
	}
	if !srv.ReadyForConnections(wait) {
		srv.Shutdown()
		srv.WaitForShutdown()
		return nil, fmt.Errorf("jetstream: embedded server on %s not ready after %v", opts.DataDir, wait)
	}
	if !srv.JetStreamEnabled() {
		srv.Shutdown()
		srv.WaitForShutdown()
		return nil, fmt.Errorf("jetstream: embedded server on %s could not enable JetStream (see log)", opts.DataDir)
	}
	return srv, nil
}

// slogAdapter sends nats-server's log lines to slog. Fatalf is logged as an
// error: the server must not end the process it is embedded in.
type slogAdapter struct{ l *slog.Logger }

func (a slogAdapter) Noticef(format string, v ...any) { a.l.Info(fmt.Sprintf(format, v...)) }
func (a slogAdapter) Warnf(format string, v ...any)   { a.l.Warn(fmt.Sprintf(format, v...)) }
func (a slogAdapter) Fatalf(format string, v ...any) {
	a.l.Error(fmt.Sprintf(format, v...), "fatal", true)
}
func (a slogAdapter) Errorf(format string, v ...any) { a.l.Error(fmt.Sprintf(format, v...)) }
func (a slogAdapter) Debugf(format string, v ...any) { a.l.Debug(fmt.Sprintf(format, v...)) }
func (a slogAdapter) Tracef(format string, v ...any) { a.l.Debug(fmt.Sprintf(format, v...)) }
