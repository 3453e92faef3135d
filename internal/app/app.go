// Package app assembles sluice's components for `sluice server` and
// `sluice demo`: the stream, the store, ingest, the processor and the HTTP
// listener, started in dependency order and stopped in reverse.
//
// Lifecycle: New → Start(ctx) → (Ready) → Shutdown(ctx). Shutdown stops
// accepting (HTTP, MQTT), publishes what ingest has queued, lets the
// processor write and acknowledge what it holds, closes the store and the
// stream. Nothing acknowledged to a client is lost at any point: what the
// processor has not acknowledged stays in the stream.
package app

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sluice-dev/sluice/internal/api"
	"github.com/sluice-dev/sluice/internal/auth"
	"github.com/sluice-dev/sluice/internal/awsapi"
	"github.com/sluice-dev/sluice/internal/config"
	"github.com/sluice-dev/sluice/internal/event"
	"github.com/sluice-dev/sluice/internal/flock"
	"github.com/sluice-dev/sluice/internal/ingest"
	"github.com/sluice-dev/sluice/internal/insights"
	"github.com/sluice-dev/sluice/internal/lake"
	"github.com/sluice-dev/sluice/internal/pgwire"
	"github.com/sluice-dev/sluice/internal/pipeline"
	sluicesql "github.com/sluice-dev/sluice/internal/sql"
	"github.com/sluice-dev/sluice/internal/stream"
	"github.com/sluice-dev/sluice/internal/stream/jetstream"
	"github.com/sluice-dev/sluice/internal/tsdb"
)

// App is a running sluice server.
type App struct {
	// Set in New.
	cfg    config.Config
	logger *slog.Logger
	reg    *prometheus.Registry
	auth   *auth.Service // access keys and policies; not Enabled without keys
	tls    *tls.Config   // from tls-cert/tls-key, nil without

	// Set in Start.
	lock      *flock.Lock
	broker    *jetstream.Broker
	db        *tsdb.DB
	ingest    *ingest.Service
	processor *pipeline.Processor
	detector  *insights.Detector   // nil when anomalies are off
	detSaves  *detectorState       // its periodic saves (anomalies.go)
	lake      *pipeline.LakeWriter // nil when the lake is off
	engine    *sluicesql.Engine
	pg        *pgwire.Server
	httpSrv   *http.Server
	httpLn    net.Listener
	httpDone  chan error

	mu       sync.Mutex
	started  bool
	stopping bool
}

// New checks the configuration; Start brings the server up.
func New(cfg config.Config, logger *slog.Logger) (*App, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	authSvc, tlsCfg, err := security(cfg, logger)
	if err != nil {
		return nil, err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return &App{cfg: cfg, logger: logger, reg: reg, auth: authSvc, tls: tlsCfg}, nil
}

// security loads the access keys and the TLS certificate.
func security(cfg config.Config, logger *slog.Logger) (*auth.Service, *tls.Config, error) {
	opts := auth.Options{
		AdminKeyID:    cfg.AWSAccessKeyID,
		AdminSecret:   auth.NewSecret(cfg.AWSSecretAccessKey),
		AllowUnsigned: cfg.AllowUnsigned,
		Logger:        logger.With("component", "auth"),
	}
	if cfg.KeysFile != "" {
		keys, err := auth.LoadKeys(cfg.KeysFile)
		if err != nil {
			return nil, nil, fmt.Errorf("app: %w", err)
		}
		opts.Keys = keys
	}
	svc, err := auth.New(opts)
	if err != nil {
		return nil, nil, fmt.Errorf("app: %w", err)
	}
	var tlsCfg *tls.Config
	if cfg.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
		if err != nil {
			return nil, nil, fmt.Errorf("app: loading tls-cert and tls-key: %w", err)
		}
		tlsCfg = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	if svc.Enabled() && tlsCfg == nil {
		logger.Warn("access keys are configured without TLS: HTTP Basic, MQTT and PostgreSQL passwords cross the network in the clear (SCRAM and SigV4 do not); set tls-cert and tls-key")
	}
	return svc, tlsCfg, nil
}

// Auth returns the access-control service (never nil; not Enabled without
// keys), for the AWS-compatible APIs' authorizer.
func (a *App) Auth() *auth.Service { return a.auth }

// sqlScope is how SQL access checks resolve table names.
func (a *App) sqlScope(setting func(string) (string, bool)) auth.SQLScope {
	return auth.SQLScope{
		DefaultDatabase: a.cfg.Database,
		Setting:         setting,
		DatabaseExists: func(name string) bool {
			for _, d := range a.db.Databases(context.Background()) {
				if strings.EqualFold(d.Name, name) {
					return true
				}
			}
			return false
		},
	}
}

// Registry returns the app's metrics registry.
func (a *App) Registry() *prometheus.Registry { return a.reg }

// DB returns the store (nil before Start).
func (a *App) DB() *tsdb.DB { return a.db }

// Broker returns the stream broker (nil before Start).
func (a *App) Broker() stream.Broker { return a.broker }

// HTTPAddr is the bound HTTP address ("" if off).
func (a *App) HTTPAddr() string {
	if a.httpLn == nil {
		return ""
	}
	return a.httpLn.Addr().String()
}

// PGAddr is the bound PostgreSQL address ("" if off).
func (a *App) PGAddr() string {
	if a.pg == nil {
		return ""
	}
	return a.pg.Addr()
}

// Engine returns the SQL engine (nil before Start).
func (a *App) Engine() *sluicesql.Engine { return a.engine }

// MQTTAddr is the bound MQTT address ("" if off).
func (a *App) MQTTAddr() string {
	if a.ingest == nil {
		return ""
	}
	return a.ingest.MQTTAddr()
}

// Start opens the stream and the store, starts the processor and the
// listeners. On error everything started is stopped again.
func (a *App) Start(ctx context.Context) (err error) {
	a.mu.Lock()
	if a.started {
		a.mu.Unlock()
		return errors.New("app: already started")
	}
	a.started = true
	a.mu.Unlock()
	defer func() {
		if err != nil {
			sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			a.Shutdown(sctx)
			cancel()
		}
	}()
	cfg := a.cfg
	// One process per data directory: two embedded NATS servers or two
	// stores on the same files would destroy each other's data.
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return fmt.Errorf("app: create data dir: %w", err)
	}
	if a.lock, err = flock.Acquire(filepath.Join(cfg.DataDir, "LOCK")); err != nil {
		return fmt.Errorf("app: %w", err)
	}
	sync := jetstream.SyncAlways
	if cfg.StreamSync == "interval" {
		sync = jetstream.SyncInterval
		a.logger.Warn("stream fsync is relaxed (stream-sync=interval): a power cut can lose acknowledged events", "interval", cfg.StreamSyncInterval)
	}
	a.broker, err = jetstream.Open(ctx, jetstream.Options{
		DataDir:   filepath.Join(cfg.DataDir, "stream"),
		Listen:    cfg.NATSListen,
		URL:       cfg.NATSURL,
		Sync:      sync,
		SyncEvery: cfg.StreamSyncInterval,
	}, a.logger.With("component", "stream"))
	if err != nil {
		return fmt.Errorf("app: open stream: %w", err)
	}
	if err := a.broker.EnsureStream(ctx, stream.Config{Name: cfg.Stream, Retention: cfg.StreamRetention, MaxBytes: cfg.StreamMaxBytes}); err != nil {
		return fmt.Errorf("app: create stream %q: %w", cfg.Stream, err)
	}
	for _, tm := range cfg.MQTTTopics {
		if err := a.broker.EnsureStream(ctx, stream.Config{Name: tm.Stream, Retention: cfg.StreamRetention, MaxBytes: cfg.StreamMaxBytes}); err != nil {
			return fmt.Errorf("app: create stream %q for MQTT topic %q: %w", tm.Stream, tm.Pattern, err)
		}
	}

	if cfg.WALSync == "relaxed" {
		a.logger.Warn("tsdb fsync is relaxed (wal-sync=relaxed): an OS crash or power cut can lose acknowledged writes")
	}
	pageCache := cfg.PageCacheBytes
	if pageCache == 0 {
		pageCache = -1 // tsdb reads 0 as its default size; the setting's 0 means off
	}
	a.db, err = tsdb.Open(filepath.Join(cfg.DataDir, "tsdb"), tsdb.Options{
		NoSync:            cfg.WALSync == "relaxed",
		PartitionDuration: cfg.PartitionDuration,
		PageCacheBytes:    pageCache,
	}, a.logger.With("component", "tsdb"), a.reg)
	if err != nil {
		return fmt.Errorf("app: open store: %w", err)
	}

	var topics []ingest.TopicMapping
	for _, tm := range cfg.MQTTTopics {
		topics = append(topics, ingest.TopicMapping{Pattern: tm.Pattern, Stream: tm.Stream})
	}
	var mqttAuth mqtt.Hook
	if a.auth.Enabled() {
		var ats []auth.MQTTTopic
		for _, tm := range cfg.MQTTTopics {
			ats = append(ats, auth.MQTTTopic{Pattern: tm.Pattern, Stream: tm.Stream})
		}
		mqttAuth = a.auth.MQTTHook(ats)
	}
	a.ingest, err = ingest.New(a.broker, ingest.Options{
		MaxBodyBytes:     cfg.MaxBodyBytes,
		MaxRecordBytes:   cfg.MaxRecordBytes,
		GroupCommitBytes: cfg.GroupCommitBytes,
		QueueBytes:       cfg.IngestQueueBytes,
		Topics:           topics,
		MQTTAuth:         mqttAuth,
	}, a.logger.With("component", "ingest"), a.reg)
	if err != nil {
		return fmt.Errorf("app: ingest: %w", err)
	}

	// The lake catalog (external tables over lake and reference files) is
	// there even when lake delivery is off: reference tables need no writer.
	lakeRoot := cfg.LakeDir
	if lakeRoot == "" {
		lakeRoot = filepath.Join(cfg.DataDir, "lake")
	}
	lakeCat, err := lake.OpenCatalog(lake.CatalogOptions{Dir: filepath.Join(cfg.DataDir, "catalog"), Root: lakeRoot})
	if err != nil {
		return fmt.Errorf("app: lake catalog: %w", err)
	}
	a.engine = sluicesql.New(a.db, sluicesql.Options{DefaultDatabase: cfg.Database, Lake: lakeCat})

	mode, err := event.ParseMode(cfg.RecordMode)
	if err != nil {
		return fmt.Errorf("app: %w", err)
	}
	if a.detector, err = a.openDetector(); err != nil {
		return err
	}
	a.processor, err = pipeline.NewProcessor(ctx, a.broker, a.db, pipeline.Options{
		Stream:           cfg.Stream,
		DeadLetterStream: cfg.DeadLetterStream,
		Database:         cfg.Database,
		Table:            cfg.Table,
		BatchSize:        cfg.BatchSize,
		FlushInterval:    cfg.FlushInterval,
		Workers:          cfg.Processors,
		Mapping:          event.Options{Mode: mode, MultiMeasureName: cfg.MultiMeasureName, FutureThreshold: cfg.FutureThreshold},
		Retention:        tsdb.Retention{Memory: cfg.MemoryRetention, Magnetic: cfg.MagneticRetention},
		Anomalies:        a.detector,
	}, a.logger.With("component", "processor"), a.reg)
	if err != nil {
		return err
	}
	if err := a.processor.Start(ctx); err != nil {
		return err
	}
	if a.detector != nil {
		a.startDetectorSaves(a.detector)
	}
	if cfg.Lake {
		lakeDir := cfg.LakeDir
		if lakeDir == "" {
			lakeDir = filepath.Join(cfg.DataDir, "lake")
		}
		a.lake, err = pipeline.NewLakeWriter(ctx, a.broker, pipeline.LakeOptions{Stream: cfg.Stream, Lake: lake.Options{
			Dir:            lakeDir,
			Format:         cfg.LakeFormat,
			Compression:    cfg.LakeCompression,
			Prefix:         cfg.LakePrefix,
			ErrorPrefix:    cfg.LakeErrorPrefix,
			BufferBytes:    cfg.LakeBufferBytes,
			BufferInterval: cfg.LakeBufferInterval,
			// Outside the lake: readers of the lake see objects only.
			StateDir: filepath.Join(cfg.DataDir, "catalog"),
		}}, a.logger.With("component", "lake"), a.reg)
		if err != nil {
			return fmt.Errorf("app: lake: %w", err)
		}
		if err := a.lake.Start(ctx); err != nil {
			return fmt.Errorf("app: lake: %w", err)
		}
	}

	if cfg.HTTPAddr != "" {
		mux := http.NewServeMux()
		a.ingest.Register(mux)
		var flushers []api.Flusher // POST /v1/admin/flush writes the lake's buffer too
		if a.lake != nil {
			flushers = append(flushers, a.lake)
		}
		srv := api.New(a.db, a.logger.With("component", "api"), flushers...)
		srv.SetQuerier(a.engine)
		srv.Register(mux)
		aws, err := awsapi.New(a.db, a.engine, a.broker, awsapi.Options{
			CatalogDir:      filepath.Join(cfg.DataDir, "catalog"),
			DefaultDatabase: cfg.Database,
			StreamRetention: cfg.StreamRetention,
			Protected:       a.protectedStreams(),
			Authorizer:      a.awsAuthorizer(),
			Publisher:       a.ingest,
			CheckSQL: func(p awsapi.Principal, sql string) error {
				return auth.CheckSQL(p, sql, a.sqlScope(nil))
			},
		}, a.logger.With("component", "awsapi"), a.reg)
		if err != nil {
			return fmt.Errorf("app: aws api: %w", err)
		}
		aws.Register(mux)
		mux.Handle("GET /metrics", promhttp.HandlerFor(a.reg, promhttp.HandlerOpts{Registry: a.reg}))
		mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte("ok\n"))
		})
		mux.HandleFunc("GET /readyz", a.readyz)
		a.httpLn, err = net.Listen("tcp", cfg.HTTPAddr)
		if err != nil {
			return fmt.Errorf("app: listen http on %s: %w", cfg.HTTPAddr, err)
		}
		if a.tls != nil {
			a.httpLn = tls.NewListener(a.httpLn, a.tls)
		}
		handler := a.auth.Guard(mux, auth.GuardOptions{MaxBodyBytes: cfg.MaxBodyBytes, SQL: a.sqlScope(nil),
			Statements: map[string]auth.StatementFunc{"POST /v1/insights/{fn}": api.InsightStatement, "GET /v1/plot": api.PlotStatement}})
		a.httpSrv = &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(a.logger.Handler(), slog.LevelWarn)}
		a.httpDone = make(chan error, 1)
		go func() { a.httpDone <- a.httpSrv.Serve(a.httpLn) }()
	}
	if cfg.MQTTAddr != "" {
		if err := a.ingest.StartMQTT(ctx, cfg.MQTTAddr, a.tls); err != nil {
			return fmt.Errorf("app: mqtt: %w", err)
		}
	}
	if cfg.PGAddr != "" {
		pgOpts := pgwire.Options{Addr: cfg.PGAddr, TLS: a.tls, Logger: a.logger.With("component", "pgwire")}
		h := &pgHandler{engine: a.engine}
		if a.auth.Enabled() && !a.auth.AllowUnsigned() {
			// User = key id, password = secret, by SCRAM (the secret never
			// crosses the wire); each statement's tables are checked.
			pgOpts.Passwords, pgOpts.AuthMethod = a.auth.PGPassword, pgwire.AuthSCRAM
			h.access = a.pgAccess
		}
		a.pg, err = pgwire.NewServer(h, pgOpts, a.reg)
		if err != nil {
			return fmt.Errorf("app: postgres wire protocol: %w", err)
		}
		if err := a.pg.Start(ctx); err != nil {
			return fmt.Errorf("app: listen postgres on %s: %w", cfg.PGAddr, err)
		}
	}
	a.logger.Info("sluice is up", "http", a.HTTPAddr(), "mqtt", a.MQTTAddr(), "postgres", a.PGAddr(), "data_dir", cfg.DataDir)
	return nil
}

// awsAuthorizer verifies the AWS APIs' signatures once keys are
// configured; without keys the APIs are open (nil).
func (a *App) awsAuthorizer() awsapi.Authorizer {
	if !a.auth.Enabled() {
		return nil
	}
	return a.auth
}

// protectedStreams are the streams sluice itself reads or writes; the
// Kinesis API may not delete them.
func (a *App) protectedStreams() []string {
	out := []string{a.cfg.Stream, a.cfg.DeadLetterStream}
	for _, tm := range a.cfg.MQTTTopics {
		out = append(out, tm.Stream)
	}
	return out
}

// Ready reports whether the stream, the store and the consumers are up.
func (a *App) Ready(ctx context.Context) error {
	a.mu.Lock()
	stopping := a.stopping
	a.mu.Unlock()
	switch {
	case stopping:
		return errors.New("shutting down")
	case a.broker == nil || a.db == nil || a.processor == nil:
		return errors.New("starting")
	case !a.processor.Ready():
		return errors.New("processor is not consuming")
	case a.lake != nil && !a.lake.Ready():
		return errors.New("lake writer is not consuming")
	}
	if _, err := a.broker.Streams(ctx); err != nil {
		return fmt.Errorf("stream: %w", err)
	}
	return nil
}

func (a *App) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := a.Ready(ctx); err != nil {
		w.Header().Set("Retry-After", "1")
		http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	w.Write([]byte("ready\n"))
}

// Shutdown stops everything in reverse order of start.
func (a *App) Shutdown(ctx context.Context) error {
	a.mu.Lock()
	if a.stopping {
		a.mu.Unlock()
		return nil
	}
	a.stopping = true
	a.mu.Unlock()
	var errs []error
	if a.httpSrv != nil {
		// Ingest answers 503 from here on; in-flight requests finish.
		errs = append(errs, a.httpSrv.Shutdown(ctx))
		<-a.httpDone
	}
	if a.pg != nil {
		errs = append(errs, a.pg.Shutdown(ctx))
	}
	if a.ingest != nil {
		errs = append(errs, a.ingest.Shutdown(ctx))
	}
	if a.processor != nil {
		errs = append(errs, a.processor.Shutdown(ctx))
	}
	// After the processor: the state then holds every batch it wrote.
	errs = append(errs, a.stopDetectorSaves())
	if a.lake != nil {
		// Writes the buffered events and acknowledges them.
		errs = append(errs, a.lake.Shutdown(ctx))
	}
	if a.db != nil {
		errs = append(errs, a.db.Close())
	}
	if a.broker != nil {
		errs = append(errs, a.broker.Close())
	}
	errs = append(errs, a.lock.Release())
	err := errors.Join(errs...)
	if err != nil {
		a.logger.Error("shutdown finished with errors", "err", err)
	} else {
		a.logger.Info("sluice stopped cleanly")
	}
	return err
}
