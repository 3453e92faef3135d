package bench

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluice-dev/sluice/internal/app"
	"github.com/sluice-dev/sluice/internal/columnar"
	"github.com/sluice-dev/sluice/internal/config"
	"github.com/sluice-dev/sluice/internal/cputime"
	"github.com/sluice-dev/sluice/internal/simulate"
	"github.com/sluice-dev/sluice/internal/tsdb"
)

// Targets of the whole pipeline.
var (
	targetBatchEvents  = atLeast(250_000) // events/s, NDJSON batches of 500
	targetSingleEvents = atLeast(20_000)  // events/s, 64 clients, one event per request
	targetLatencyMS    = atMost(1000)     // ingest → queryable, p99
)

type pipelineConfig struct {
	devices      int
	lake         bool
	anomalies    bool
	senders      int
	batch        int
	clients      int
	duration     time.Duration
	singleDur    time.Duration
	latencyDur   time.Duration
	latencyRate  float64
	sampleEvery  time.Duration
	drainTimeout time.Duration
	poolEvents   int
	streamSync   string
	walSync      string
	processors   int
	logLevel     string
	client       string
}

func pipelineFlags(fs *flag.FlagSet) (func(*run) error, func(map[string]bool)) {
	c := &pipelineConfig{}
	fs.IntVar(&c.devices, "devices", 10_000, "devices sending the load (each event has the seed's 4 measures)")
	fs.IntVar(&c.senders, "senders", 4, "concurrent senders of NDJSON batches")
	fs.IntVar(&c.batch, "batch", 500, "events per NDJSON request")
	fs.IntVar(&c.clients, "clients", 64, "concurrent clients sending one event per request")
	fs.DurationVar(&c.duration, "duration", 15*time.Second, "load time of the batch phase")
	fs.DurationVar(&c.singleDur, "single-duration", 10*time.Second, "load time of the single-event phase")
	fs.DurationVar(&c.latencyDur, "latency-duration", 10*time.Second, "load time of the latency phase")
	fs.Float64Var(&c.latencyRate, "latency-rate", 0, "background events/s during the latency phase (0 = half the end-to-end rate of the batch phase)")
	fs.DurationVar(&c.sampleEvery, "sample-every", 10*time.Millisecond, "interval between latency probes")
	fs.DurationVar(&c.drainTimeout, "drain-timeout", 60*time.Second, "longest wait, after a phase's load stops, for the store to hold everything acknowledged")
	fs.IntVar(&c.poolEvents, "pool", 100_000, "distinct pre-generated events (reused with shifted times)")
	fs.StringVar(&c.streamSync, "stream-sync", "always", "stream fsync: always or interval (as the server's --stream-sync)")
	fs.StringVar(&c.walSync, "wal-sync", "always", "store fsync: always or relaxed (as the server's --wal-sync)")
	fs.IntVar(&c.processors, "processors", 0, "processor workers (0 = the server's default)")
	fs.StringVar(&c.client, "client", "raw", "the load generator's HTTP client: raw (a lean HTTP/1.1 keep-alive client, one connection per sender) or net/http (Go's, ~20 µs more CPU per request on the same cores)")
	fs.StringVar(&c.logLevel, "log-level", "warn", "the server's log level (logs go to stderr)")
	fs.BoolVar(&c.lake, "lake", true, "run the lake writer as the server does by default (its share of the CPU shows with --lake=false)")
	fs.BoolVar(&c.anomalies, "anomalies", true, "score points for anomalies in the processor, as the server does by default")
	quick := func(set map[string]bool) {
		q := map[string]func(){
			"duration":         func() { c.duration = 2 * time.Second },
			"single-duration":  func() { c.singleDur = 2 * time.Second },
			"latency-duration": func() { c.latencyDur = 2 * time.Second },
			"pool":             func() { c.poolEvents = 20_000 },
			"drain-timeout":    func() { c.drainTimeout = 20 * time.Second },
		}
		for name, f := range q {
			if !set[name] {
				f()
			}
		}
	}
	return func(r *run) error { return runPipeline(r, c) }, quick
}

func (c *pipelineConfig) check() error {
	var errs []error
	if c.devices < 1 || c.senders < 1 || c.batch < 1 || c.clients < 1 {
		errs = append(errs, errors.New("--devices, --senders, --batch and --clients must be at least 1"))
	}
	if c.duration <= 0 || c.singleDur <= 0 || c.latencyDur <= 0 || c.sampleEvery <= 0 || c.drainTimeout <= 0 {
		errs = append(errs, errors.New("durations must be positive"))
	}
	if c.poolEvents < c.batch || c.poolEvents < c.devices {
		errs = append(errs, fmt.Errorf("--pool %d: want at least --batch and --devices", c.poolEvents))
	}
	if c.client != "raw" && c.client != "net/http" {
		errs = append(errs, fmt.Errorf("--client %q: want raw or net/http", c.client))
	}
	if c.latencyRate < 0 {
		errs = append(errs, fmt.Errorf("--latency-rate %v is negative", c.latencyRate))
	}
	return errors.Join(errs...)
}

// pipelineBench is one run of the pipeline suite.
type pipelineBench struct {
	*run
	c      *pipelineConfig
	app    *app.App
	url    string
	path   string
	client *http.Client
	pool   *eventPool
	next   atomic.Int64 // next event number to send; see eventPool
}

func runPipeline(r *run, c *pipelineConfig) (err error) {
	if err := c.check(); err != nil {
		return err
	}
	p := &pipelineBench{run: r, c: c}
	// Round the pool to whole batches so that batch n's events are one
	// pre-built body.
	c.poolEvents -= c.poolEvents % c.batch
	// Event times run from half an hour ago towards now, as live data
	// does (sim time runs faster than the wall clock under load): the
	// store sees recent partitions, not a backfill of old ones, which
	// background maintenance would treat differently. The future limit
	// leaves margin to the processor's clock-correction threshold.
	now := time.Now().Truncate(time.Second)
	if p.pool, err = newEventPool(r.ctx, r.progress, c.devices, c.poolEvents, c.batch, now.Add(-30*time.Minute), now.Add(10*time.Minute)); err != nil {
		return err
	}

	cfg := config.Default()
	cfg.DataDir = filepath.Join(r.dir, "data")
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.MQTTAddr, cfg.PGAddr = "", ""
	cfg.StreamSync, cfg.WALSync = c.streamSync, c.walSync
	if c.processors > 0 {
		cfg.Processors = c.processors
	}
	cfg.Lake, cfg.Anomalies = c.lake, c.anomalies
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.logLevel)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	logger := slog.New(slog.NewTextHandler(r.stderr, &slog.HandlerOptions{Level: level}))
	if p.app, err = app.New(cfg, logger); err != nil {
		return fmt.Errorf("configure server: %w", err)
	}
	if err := p.app.Start(r.ctx); err != nil {
		return fmt.Errorf("start server: %w", err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if serr := p.app.Shutdown(ctx); serr != nil && err == nil {
			err = fmt.Errorf("stop server: %w", serr)
		}
	}()
	if err := p.waitReady(); err != nil {
		return err
	}
	p.path = "/v1/streams/" + cfg.Stream + "/records"
	p.url = "http://" + p.app.HTTPAddr() + p.path
	tr := &http.Transport{MaxIdleConns: 1024, MaxIdleConnsPerHost: 1024, DisableCompression: true, IdleConnTimeout: time.Minute}
	defer tr.CloseIdleConnections()
	p.client = &http.Client{Transport: tr, Timeout: 60 * time.Second}

	var batchRate float64
	if r.want("ingest_batch") {
		name := fmt.Sprintf("ingest_batch/batch=%d/senders=%d", c.batch, c.senders)
		res, err := p.load(name, c.duration, c.senders, c.batch, 0)
		if err != nil {
			return err
		}
		p.addLoad(name, res, targetBatchEvents)
		batchRate = res.storedRate()
	}
	if r.want("ingest_single") {
		name := fmt.Sprintf("ingest_single/clients=%d", c.clients)
		res, err := p.load(name, c.singleDur, c.clients, 1, 0)
		if err != nil {
			return err
		}
		p.addLoad(name, res, targetSingleEvents)
	}
	if r.want("latency") {
		rate := c.latencyRate
		switch {
		case rate > 0:
		case batchRate > 0:
			rate = batchRate / 2
		default:
			rate = 50_000
			r.logf("latency: the batch phase did not run; background load %v events/s (set --latency-rate)", rate)
		}
		if err := p.latency(rate); err != nil {
			return err
		}
	}
	return nil
}

func (p *pipelineBench) waitReady() error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := p.app.Ready(p.ctx)
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("server not ready after 30 s: %w", err)
		}
		select {
		case <-p.ctx.Done():
			return p.ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// loadResult is what one load phase measured.
type loadResult struct {
	events   int64         // acknowledged by ingest
	acked    time.Duration // from the first send to the last acknowledgement
	stored   time.Duration // from the first send until the store held them all; 0 if it never did
	storedEv float64       // events the store held at the end (points / 4)
	waited   time.Duration // from the first send to the end of the wait
	retries  int64         // 429/503 answers
	cpu      time.Duration // process CPU time from the first send to the end of the wait; 0 = unknown
}

func (l loadResult) storedRate() float64 {
	if l.stored > 0 {
		return float64(l.events) / l.stored.Seconds()
	}
	return l.storedEv / l.waited.Seconds()
}

func (p *pipelineBench) addLoad(name string, res loadResult, t *target) {
	p.add(name+"/acked", float64(res.events)/res.acked.Seconds(), "events/s", t)
	p.add(name+"/end_to_end", res.storedRate(), "events/s", t)
	p.add(name+"/end_to_end_points", 4*res.storedRate(), "points/s", nil)
	if res.cpu > 0 && res.stored > 0 {
		// Independent of what else runs on the machine: the server and the
		// load generator together, per CPU second they used.
		p.add(name+"/end_to_end_per_cpu", float64(res.events)/res.cpu.Seconds(), "events/CPU-s", nil)
	}
	if res.stored == 0 {
		p.logf("  %s: the store did not hold every acknowledged event within %s; end-to-end rate counts what it held", name, p.c.drainTimeout)
	}
}

// load runs senders concurrent senders of per-request events each for d,
// then waits until the store holds every acknowledged event. rate > 0
// paces the senders to about that many events/s in total.
func (p *pipelineBench) load(label string, d time.Duration, senders, per int, rate float64) (loadResult, error) {
	p.next.Store(p.pool.align(p.next.Load()))
	base, err := p.storedPoints()
	if err != nil {
		return loadResult{}, err
	}
	writes0, recs0 := histogramValue(p.app.Registry(), "sluice_processor_batch_records")
	defer func() {
		// How the processor batched: a diagnostic for the report, not a figure.
		writes1, recs1 := histogramValue(p.app.Registry(), "sluice_processor_batch_records")
		if n := writes1 - writes0; n > 0 {
			p.logf("  %s: the processor wrote %d batches, %.0f records each on average", label, n, (recs1-recs0)/float64(n))
		}
	}()
	var (
		res      loadResult
		events   atomic.Int64
		retries  atomic.Int64
		lastAck  atomic.Int64 // ns since begin
		stored   atomic.Int64 // points, sampled by the progress line
		stopping atomic.Bool
	)
	stop := p.progress.start(label, func(el time.Duration) string {
		if pts, err := p.storedPoints(); err == nil {
			stored.Store(int64(pts - base))
		}
		s := timeStatus(el, d)
		sec := min(el, d).Seconds()
		return fmt.Sprintf("%s; acked %s events (%s/s), stored %s events (%s/s), %d retries", s,
			short(float64(events.Load())), short(float64(events.Load())/sec),
			short(float64(stored.Load())/4), short(float64(stored.Load())/4/el.Seconds()), retries.Load())
	})
	defer stop()

	ctx, cancel := context.WithCancel(p.ctx)
	defer cancel()
	var (
		wg    sync.WaitGroup
		once  sync.Once
		first error
		slot  atomic.Int64
	)
	fail := func(err error) { once.Do(func() { first = err; cancel() }) }
	cpu0, cpuOK := cputime.Process()
	begin := time.Now()
	var interval time.Duration
	if rate > 0 {
		interval = time.Duration(float64(per) / rate * float64(time.Second))
	}
	for range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var body []byte
			snd := p.sender()
			defer snd.close()
			for !stopping.Load() && ctx.Err() == nil {
				if interval > 0 {
					due := begin.Add(time.Duration(slot.Add(1)-1) * interval)
					if wait := time.Until(due); wait > 0 {
						select {
						case <-time.After(wait):
						case <-ctx.Done():
							return
						}
					}
				}
				n := p.next.Add(int64(per)) - int64(per)
				var err error
				if body, err = p.pool.body(body[:0], n, per); err != nil {
					fail(err)
					return
				}
				r, err := p.send(ctx, snd, body, per)
				retries.Add(r)
				if err != nil {
					if ctx.Err() == nil {
						fail(err)
					}
					return
				}
				events.Add(int64(per))
				lastAck.Store(int64(time.Since(begin)))
			}
		}()
	}
	select {
	case <-time.After(d):
	case <-ctx.Done():
	}
	stopping.Store(true)
	wg.Wait()
	if first != nil {
		return res, first
	}
	if err := p.ctx.Err(); err != nil {
		return res, err
	}
	res.events, res.retries = events.Load(), retries.Load()
	res.acked = time.Duration(lastAck.Load())
	if res.events == 0 {
		return res, fmt.Errorf("%s: no event was acknowledged", label)
	}
	want := base + 4*float64(res.events)
	deadline := time.Now().Add(p.c.drainTimeout)
	for {
		pts, err := p.storedPoints()
		if err != nil {
			return res, err
		}
		res.waited = time.Since(begin)
		res.storedEv = (pts - base) / 4
		if pts >= want {
			res.stored = res.waited
			if cpu1, _ := cputime.Process(); cpuOK {
				res.cpu = cpu1 - cpu0
			}
			break
		}
		if time.Now().After(deadline) {
			break
		}
		select {
		case <-time.After(10 * time.Millisecond):
		case <-p.ctx.Done():
			return res, p.ctx.Err()
		}
	}
	return res, nil
}

// send posts body (n events) until it is accepted, retrying on 429 and
// 503 (backpressure); it returns the number of retries.
// sender posts request bodies to the ingest URL.
type sender interface {
	// post returns the status and the first bytes of the answer (enough
	// for its "accepted" count), valid until the next post.
	post(ctx context.Context, body []byte) (int, []byte, error)
	close()
}

// sender returns a sender for one load goroutine (--client).
func (p *pipelineBench) sender() sender {
	if p.c.client == "net/http" {
		return httpSender{p}
	}
	return rawSender{newPostConn(p.app.HTTPAddr(), p.path, "application/x-ndjson", 60*time.Second)}
}

type rawSender struct{ *postConn }

func (s rawSender) close() { s.postConn.close() }

// httpSender posts through net/http's client (safe for concurrent use).
type httpSender struct{ p *pipelineBench }

func (s httpSender) post(ctx context.Context, body []byte) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.p.url, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/x-ndjson")
	resp, err := s.p.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	buf := make([]byte, 512)
	k, _ := io.ReadFull(resp.Body, buf)
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, buf[:k], nil
}

func (httpSender) close() {}

func (p *pipelineBench) send(ctx context.Context, snd sender, body []byte, n int) (int64, error) {
	var retries int64
	for {
		status, answer, err := snd.post(ctx, body)
		if err != nil {
			return retries, fmt.Errorf("send: %w", err)
		}
		answer = answer[:min(len(answer), 512)]
		switch status {
		case http.StatusOK:
			if got := acceptedCount(answer); got != n {
				return retries, fmt.Errorf("send: %d of %d events accepted: %s", got, n, answer)
			}
			return retries, nil
		case http.StatusTooManyRequests, http.StatusServiceUnavailable:
			retries++
			select {
			case <-time.After(5 * time.Millisecond):
			case <-ctx.Done():
				return retries, ctx.Err()
			}
		default:
			return retries, fmt.Errorf("send: HTTP %d: %s", status, bytes.TrimSpace(answer))
		}
	}
}

// acceptedCount reads "accepted":N from an ingest answer; -1 if absent.
func acceptedCount(b []byte) int {
	const key = `"accepted":`
	i := bytes.Index(b, []byte(key))
	if i < 0 {
		return -1
	}
	b = b[i+len(key):]
	j := 0
	for j < len(b) && b[j] >= '0' && b[j] <= '9' {
		j++
	}
	n, err := strconv.Atoi(string(b[:j]))
	if err != nil {
		return -1
	}
	return n
}

// storedPoints returns the store's count of points written.
func (p *pipelineBench) storedPoints() (float64, error) {
	return counterValue(p.app.Registry(), "sluice_tsdb_points_written_total")
}

func counterValue(g prometheus.Gatherer, name string) (float64, error) {
	mfs, err := g.Gather()
	if err != nil {
		return 0, fmt.Errorf("read metrics: %w", err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		var sum float64
		for _, m := range mf.GetMetric() {
			sum += m.GetCounter().GetValue()
		}
		return sum, nil
	}
	return 0, fmt.Errorf("read metrics: no %s", name)
}

const (
	probePrefix = "bench-probe-"
	// pollEvery is the poller's pause between lookups: the resolution of
	// the latency figures, and small next to the 1 s target, while the
	// lookups (which walk the table's series) cost only a few per cent of
	// a core.
	pollEvery = 5 * time.Millisecond
)

// histogramValue returns the sample count and sum of a histogram summed
// over its label sets (zeros if absent).
func histogramValue(g prometheus.Gatherer, name string) (count uint64, sum float64) {
	mfs, err := g.Gather()
	if err != nil {
		return 0, 0
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				count += m.GetHistogram().GetSampleCount()
				sum += m.GetHistogram().GetSampleSum()
			}
		}
	}
	return count, sum
}

// latency runs background batches at rate events/s and, every
// c.sampleEvery, one probe event of a device of its own; a poller looks
// the probes up with db.Latest and records when each became visible,
// counted from the start of its request.
func (p *pipelineBench) latency(rate float64) error {
	type probe struct {
		sent time.Time
		t    int64 // the event's time, ns
	}
	var (
		mu          sync.Mutex
		outstanding = map[string]*probe{}
		lat         []time.Duration
		failed      int
		wg          sync.WaitGroup
	)
	db := p.app.DB()
	dbName, table := config.Default().Database, config.Default().Table
	ctx, cancel := context.WithCancel(p.ctx)
	defer cancel()

	// The poller.
	pollDone := make(chan struct{})
	go func() {
		defer close(pollDone)
		for ctx.Err() == nil {
			// Only probes newer than the oldest outstanding one can be
			// news, so the lookup stays small however many were seen.
			mu.Lock()
			oldest := int64(math.MaxInt64)
			for _, pr := range outstanding {
				oldest = min(oldest, pr.t)
			}
			mu.Unlock()
			if oldest != math.MaxInt64 {
				req := tsdb.ScanRequest{Database: dbName, Table: table,
					MinTime: oldest, MaxTime: math.MaxInt64, MeasureNames: []string{"temperature"},
					Dims: []tsdb.DimFilter{{Name: "DeviceID", Prefix: probePrefix}}, Columns: []string{"DeviceID"}}
				err := db.Latest(ctx, req, func(b *columnar.Batch) error {
					now := time.Now()
					c := b.Col("DeviceID")
					if c == nil {
						return nil
					}
					mu.Lock()
					defer mu.Unlock()
					for _, id := range c.Strs {
						if pr := outstanding[id]; pr != nil {
							lat = append(lat, now.Sub(pr.sent))
							delete(outstanding, id)
						}
					}
					return nil
				})
				if err != nil && !errors.Is(err, tsdb.ErrNotFound) && ctx.Err() == nil {
					p.logf("  latency: poll: %v", err)
				}
			}
			time.Sleep(pollEvery)
		}
	}()

	// The prober.
	probeDone := make(chan struct{})
	probeStop := make(chan struct{})
	go func() {
		defer close(probeDone)
		tick := time.NewTicker(p.c.sampleEvery)
		defer tick.Stop()
		end := time.After(p.c.latencyDur) // probes only while the load runs, not during the drain
		for i := 0; ; i++ {
			select {
			case <-probeStop:
				return
			case <-end:
				return
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			id := fmt.Sprintf("%s%06d", probePrefix, i)
			now := time.Now()
			ms := now.UnixMilli()
			body := fmt.Appendf(nil, `{"Time":%d,"DeviceID":"%s","temperature_measure":21.5,"humidity_measure":45.25,"voltage_measure":230.1,"watt_measure":512.75}`, ms, id)
			pr := &probe{sent: now, t: ms * 1e6}
			mu.Lock()
			outstanding[id] = pr
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := p.send(ctx, httpSender{p}, body, 1); err != nil {
					mu.Lock()
					if outstanding[id] != nil {
						delete(outstanding, id)
						failed++
					}
					mu.Unlock()
				}
			}()
		}
	}()

	label := fmt.Sprintf("latency at %s events/s", short(rate))
	res, err := p.load(label, p.c.latencyDur, 2*p.c.senders, p.c.batch, rate)
	close(probeStop)
	<-probeDone
	wg.Wait()
	// Wait for the last probes to show up.
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		n := len(outstanding)
		mu.Unlock()
		if n == 0 || time.Now().After(deadline) || err != nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-pollDone
	if err != nil {
		return err
	}
	mu.Lock()
	defer mu.Unlock()
	if len(lat) == 0 {
		return errors.New("latency: no probe became visible")
	}
	p.add("latency/background", float64(res.events)/res.acked.Seconds(), "events/s", nil)
	p.add("latency/probes", float64(len(lat)), "probes", nil)
	p.addLatencies("latency/ingest_to_queryable", lat, targetLatencyMS)
	p.add("latency/probes_not_visible", float64(len(outstanding)+failed), "probes", atMost(0))
	return nil
}

// eventPool holds pre-generated events and batch bodies. Event number n
// (counted across the whole run) is pool event n mod size, with its time
// moved span·⌊n/size⌋ later, so every event sent is distinct (new key, so
// it is stored, not deduplicated) while generating costs nothing during
// the load. The 13 integer digits of an event's millisecond time sit at a
// fixed place (`{"Time":` is 8 bytes), so moving it rewrites them in a
// copy of the body.
type eventPool struct {
	size, batch int
	span        int64   // ms between two rounds of the pool
	limit       int64   // ms: no event may be later than this
	events      []byte  // all events, '\n'-separated
	offs        []int32 // start of event i in events; offs[size] = len(events)
	maxShiftMS  int64
}

func newEventPool(ctx context.Context, prog *progress, devices, size, batch int, start, limit time.Time) (*eventPool, error) {
	ticks := (size + devices - 1) / devices
	g, err := simulate.NewGenerator(simulate.Options{Devices: devices, Rate: 1, Seed: 7, Start: start,
		Duration: time.Duration(ticks) * time.Second, MaxEvents: int64(size)})
	if err != nil {
		return nil, fmt.Errorf("generate events: %w", err)
	}
	ep := &eventPool{size: size, batch: batch, limit: limit.UnixMilli()}
	lo, hi := int64(math.MaxInt64), int64(math.MinInt64)
	var shown atomic.Int64 // events made, for the progress line
	stop := prog.start(fmt.Sprintf("generate %d events of %d devices", size, devices), func(el time.Duration) string {
		return countStatus(float64(shown.Load()), float64(size), "events", el)
	})
	defer stop()
	for len(ep.offs) < size {
		if len(ep.offs)%4096 == 0 {
			shown.Store(int64(len(ep.offs)))
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
		}
		ep.offs = append(ep.offs, int32(len(ep.events)))
		var ok bool
		ep.events, _, ok = g.Next(ep.events)
		if !ok {
			return nil, fmt.Errorf("generate events: the generator stopped after %d events", len(ep.offs)-1)
		}
		ev := ep.events[ep.offs[len(ep.offs)-1]:]
		if !bytes.HasPrefix(ev, []byte(`{"Time":`)) || len(ev) < 22 || !allDigits(ev[8:21]) || (ev[21] != '.' && ev[21] != ',') {
			return nil, fmt.Errorf("generate events: unexpected event layout %.40q", ev)
		}
		ms, _ := strconv.ParseInt(string(ev[8:21]), 10, 64)
		lo, hi = min(lo, ms), max(hi, ms)
		ep.events = append(ep.events, '\n')
	}
	shown.Store(int64(size))
	ep.offs = append(ep.offs, int32(len(ep.events)))
	// A round moves times by more than the pool covers, in whole seconds,
	// so no device sends the same time twice.
	ep.span = (hi - lo + 1 + 999) / 1000 * 1000
	ep.maxShiftMS = ep.limit - start.UnixMilli() - ep.span
	return ep, nil
}

func allDigits(b []byte) bool {
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// align rounds n up to the start of a round of the pool, so that batches
// map to whole pre-built bodies again after single events.
func (ep *eventPool) align(n int64) int64 {
	s := int64(ep.size)
	return (n + s - 1) / s * s
}

// body appends the NDJSON of events n … n+count-1 to dst; a batch must not
// cross a round of the pool (load keeps them aligned).
func (ep *eventPool) body(dst []byte, n int64, count int) ([]byte, error) {
	i := int(n % int64(ep.size))
	if i+count > ep.size {
		return dst, fmt.Errorf("internal error: events %d..%d cross a round of the pool", n, n+int64(count))
	}
	shift := n / int64(ep.size) * ep.span
	if shift > ep.maxShiftMS {
		return dst, fmt.Errorf("sent %d events: the next ones would lie in the future; use more --devices or a larger --pool", n)
	}
	base := len(dst)
	from, to := ep.offs[i], ep.offs[i+count]
	dst = append(dst, ep.events[from:to-1]...) // without the last '\n'
	for k := i; k < i+count; k++ {
		at := base + int(ep.offs[k]-from) + 8
		shiftDigits(dst[at:at+13], shift)
	}
	return dst, nil
}

// shiftDigits adds d to the decimal number in b, keeping its width.
func shiftDigits(b []byte, d int64) {
	var v int64
	for _, c := range b {
		v = v*10 + int64(c-'0')
	}
	v += d
	for i := len(b) - 1; i >= 0; i-- {
		b[i] = byte('0' + v%10)
		v /= 10
	}
}
