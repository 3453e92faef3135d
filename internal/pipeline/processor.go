// Package pipeline runs the stream's consumers: the processor, which maps
// raw device events to records, corrects device clocks, writes batches to
// the tsdb and (optionally) scores them for anomalies as it writes them
// (anomalies.go); and the lake writer (lake.go), which delivers the
// original events to the data lake as files.
//
// Contract: a stream message is acknowledged only after everything derived
// from it is durable — its records in the tsdb, its dead letters in the
// dead-letter stream and table, its clock corrections and its anomalies in
// their tables. A
// crash before the ack leads to redelivery, which the tsdb's upsert rules
// make harmless (same key, same value, same version is a no-op). Several
// processors, in one process or several, may consume as the same durable
// consumer; the stream hands each message to one of them at a time. Each
// worker of a Processor is a pipeline of three goroutines (build, write,
// finish; see worker), so decoding, the store's write and scoring overlap.
//
// A Processor is started once and stopped once; its methods are safe for
// concurrent use.
package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluice-dev/sluice/internal/columnar"
	"github.com/sluice-dev/sluice/internal/event"
	"github.com/sluice-dev/sluice/internal/insights"
	"github.com/sluice-dev/sluice/internal/stream"
	"github.com/sluice-dev/sluice/internal/tsdb"
)

// System tables (database "sluice").
const (
	SystemDatabase   = "sluice"
	DeadLettersTable = "dead_letters"
	CorrectionsTable = "clock_corrections"
)

// Options configure a Processor. Zero fields mean defaults.
type Options struct {
	Stream           string        // default "events"
	Durable          string        // durable consumer name; default "tsdb"
	DeadLetterStream string        // default "events-dlq"
	Database, Table  string        // default "iot", "telemetry"
	BatchSize        int           // records per tsdb write; default 10000
	FlushInterval    time.Duration // longest a record waits for its batch; default 100 ms
	Workers          int           // consumer members, each a pipeline of three goroutines; default 1
	AckWait          time.Duration // redelivery of a message held by a member that died; default 10 s
	Mapping          event.Options
	Retention        tsdb.Retention // of the table, when the processor creates it; zero = Timestream's defaults
	// Anomalies, if set, scores every DOUBLE and BIGINT measure value once
	// its batch is durable and writes the anomalies to sluice.anomalies.
	// The caller owns it (snapshots and restores it); it may be shared.
	Anomalies *insights.Detector
}

func (o *Options) ensureDefaults() {
	if o.Stream == "" {
		o.Stream = stream.DefaultStream
	}
	if o.Durable == "" {
		o.Durable = "tsdb"
	}
	if o.DeadLetterStream == "" {
		o.DeadLetterStream = stream.DefaultDeadLetter
	}
	if o.Database == "" {
		o.Database = "iot"
	}
	if o.Table == "" {
		o.Table = "telemetry"
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 10000
	}
	if o.FlushInterval <= 0 {
		o.FlushInterval = 100 * time.Millisecond
	}
	if o.Workers <= 0 {
		o.Workers = 1
	}
	if o.AckWait <= 0 {
		// Batches take well under a second; a short wait brings a crashed
		// member's messages back quickly, and redelivery is harmless.
		o.AckWait = 10 * time.Second
	}
}

// Processor consumes raw events and writes records to the tsdb.
type Processor struct {
	// Set in NewProcessor.
	broker  stream.Broker
	db      *tsdb.DB
	opts    Options
	logger  *slog.Logger
	metrics *metrics

	mu        sync.Mutex
	consumers []stream.Consumer
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	running   atomic.Int32 // workers inside their loop
	started   bool

	corr corrMemo
}

// NewProcessor checks options and prepares tables; Start begins consuming.
func NewProcessor(ctx context.Context, broker stream.Broker, db *tsdb.DB, opts Options, logger *slog.Logger, reg prometheus.Registerer) (*Processor, error) {
	opts.ensureDefaults()
	if _, err := event.NewMapper(opts.Mapping); err != nil {
		return nil, fmt.Errorf("pipeline: %w", err)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if err := db.EnsureTable(ctx, opts.Database, opts.Table, tsdb.TableOptions{Retention: opts.Retention}); err != nil {
		return nil, fmt.Errorf("pipeline: create table %s.%s: %w", opts.Database, opts.Table, err)
	}
	systemTables := map[string][]tsdb.DeclaredColumn{
		DeadLettersTable: {{Name: "stream", Kind: "dimension"}, {Name: "seq", Kind: "dimension"}, {Name: "index", Kind: "dimension"},
			{Name: "reason", Kind: "measure", Type: columnar.String}, {Name: "payload", Kind: "measure", Type: columnar.String}},
		CorrectionsTable: {{Name: "DeviceID", Kind: "dimension"}, {Name: "stream", Kind: "dimension"},
			{Name: "original_time", Kind: "measure", Type: columnar.Timestamp}, {Name: "corrected_time", Kind: "measure", Type: columnar.Timestamp},
			{Name: "arrival_time", Kind: "measure", Type: columnar.Timestamp}, {Name: "offset_seconds", Kind: "measure", Type: columnar.Float64}},
	}
	// sluice.anomalies exists even with detection off, so dashboards and
	// queries of it bind (and find nothing).
	systemTables[AnomaliesTable] = anomalyColumns
	for _, name := range []string{DeadLettersTable, CorrectionsTable, AnomaliesTable} {
		if err := db.EnsureTable(ctx, SystemDatabase, name, tsdb.TableOptions{System: true, Declared: systemTables[name]}); err != nil {
			return nil, fmt.Errorf("pipeline: create system table %s.%s: %w", SystemDatabase, name, err)
		}
	}
	if err := broker.EnsureStream(ctx, stream.Config{Name: opts.DeadLetterStream}); err != nil {
		return nil, fmt.Errorf("pipeline: create dead-letter stream %q: %w", opts.DeadLetterStream, err)
	}
	m := newMetrics(reg, opts.Durable)
	registerDetectorMetrics(reg, opts.Durable, opts.Anomalies)
	return &Processor{broker: broker, db: db, opts: opts, logger: logger, metrics: m}, nil
}

// Start starts the workers. The context bounds the consumer set-up only.
func (p *Processor) Start(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.started {
		return errors.New("pipeline: processor already started")
	}
	p.started = true
	runCtx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	for i := 0; i < p.opts.Workers; i++ {
		c, err := p.broker.Consumer(ctx, stream.ConsumerConfig{Stream: p.opts.Stream, Durable: p.opts.Durable, AckWait: p.opts.AckWait})
		if err != nil {
			cancel()
			for _, c := range p.consumers {
				c.Close()
			}
			return fmt.Errorf("pipeline: consumer %q on stream %q: %w", p.opts.Durable, p.opts.Stream, err)
		}
		p.consumers = append(p.consumers, c)
		w, err := p.newWorker(c)
		if err != nil {
			cancel()
			return err
		}
		p.wg.Add(1)
		p.running.Add(1)
		go func() {
			defer p.wg.Done()
			defer p.running.Add(-1)
			w.run(runCtx)
		}()
	}
	if lag, err := p.consumers[0].Pending(ctx); err == nil {
		p.metrics.lag.Set(float64(lag))
	}
	p.wg.Add(1)
	go func() { defer p.wg.Done(); p.watchLag(runCtx) }()
	return nil
}

// Ready reports whether every worker is consuming.
func (p *Processor) Ready() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.started && int(p.running.Load()) == p.opts.Workers
}

// Lag reports the messages not yet handled by the processor's consumer.
func (p *Processor) Lag(ctx context.Context) (uint64, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.consumers) == 0 {
		return 0, errors.New("pipeline: processor not started")
	}
	return p.consumers[0].Pending(ctx)
}

// Shutdown stops fetching, lets every worker write and acknowledge what it
// holds, and returns when they are done or ctx ends.
func (p *Processor) Shutdown(ctx context.Context) error {
	p.mu.Lock()
	cancel := p.cancel
	p.mu.Unlock()
	if cancel == nil {
		return nil
	}
	cancel()
	done := make(chan struct{})
	go func() { p.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		return fmt.Errorf("pipeline: processor shutdown: %w", ctx.Err())
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	var errs []error
	for _, c := range p.consumers {
		errs = append(errs, c.Close())
	}
	p.consumers = nil
	return errors.Join(errs...)
}

func (p *Processor) watchLag(ctx context.Context) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if lag, err := p.Lag(ctx); err == nil {
			p.metrics.lag.Set(float64(lag))
		}
	}
}

// worker owns one consumer and runs three stages on it, each in its own
// goroutine, so that decoding the next batch, writing the current one to
// the store (which waits for its WAL fsync) and scoring and acknowledging
// the one before overlap instead of taking turns on one core:
//
//	build:  fetch, decode, map, clock-correct (build)
//	write:  tsdb.Write of the records (writeLoop)
//	finish: score, clock corrections, anomalies, dead letters, then ack (finishLoop)
//
// Batches pass from stage to stage in order through unbuffered channels and
// come back through free once acknowledged, so at most pipelineDepth exist.
// The contract is unchanged: the finish stage acknowledges a batch's
// messages only after its own writes, which follow the write stage's.
type worker struct {
	p      *Processor
	c      stream.Consumer
	mapper *event.Mapper

	// Build stage.
	cur      *batch // being built; nil between batches
	lastSeq  uint64 // seq of the last batch started
	seenMsgs int    // messages and records decoded (decaying), for fetchSize
	seenRecs int

	// durable is the seq of the last batch the finish stage completed.
	durable atomic.Uint64

	free     chan *batch // acknowledged batches, for reuse
	toWrite  chan *batch // build → write
	toFinish chan *batch // write → finish

	sc scorer // finish stage: anomaly scoring scratch and the batch's anomaly rows
}

// pipelineDepth is the number of batches a worker has: one per stage.
const pipelineDepth = 3

// batch is what the stages hand on: the messages of one tsdb write and
// everything derived from them.
type batch struct {
	seq         uint64 // 1, 2, … per worker
	msgs        []*stream.Message
	recs        []tsdb.Record
	dims        []tsdb.Dimension // arena of recs' dimensions (event.Mapper.MapInto)
	src         []recSource      // where each of recs came from
	deadLetters []deadLetter
	corrections []tsdb.Record
	rejects     []tsdb.Reject // the store's, of recs
	first       time.Time     // when the oldest message was fetched
	start       time.Time     // when the write stage took it
	// Progress of the finish stage, so a retry redoes only what failed.
	scored, corrDone, anomDone bool
	dlPublished                int // dead letters already in the dead-letter stream
}

// seenCorrection is a corrected time given in batch of worker w.
type seenCorrection struct {
	t     int64
	w     *worker
	batch uint64
}

// corrMemo holds the corrected times given to skewed events whose batches
// are not yet durable, by correctionKey. It is shared by the workers: a
// duplicate of an event (a device's retry) that another worker fetches
// before the first one's batch reaches sluice.clock_corrections must get
// the same time, or it would be stored twice.
type corrMemo struct {
	mu   sync.Mutex
	seen map[string]seenCorrection
}

type recSource struct {
	seq     uint64
	index   int
	arrival time.Time
}

type deadLetter struct {
	Stream  string    `json:"stream"`
	Seq     uint64    `json:"seq"`
	Index   int       `json:"index"`
	Measure string    `json:"measure,omitempty"` // for a record the store rejected
	Arrival time.Time `json:"arrival"`
	Reason  string    `json:"reason"`
	Payload []byte    `json:"payload"` // base64 in JSON: the original bytes, exactly
}

func (p *Processor) newWorker(c stream.Consumer) (*worker, error) {
	m, err := event.NewMapper(p.opts.Mapping)
	if err != nil {
		return nil, err
	}
	w := &worker{p: p, c: c, mapper: m,
		free: make(chan *batch, pipelineDepth), toWrite: make(chan *batch), toFinish: make(chan *batch)}
	for range pipelineDepth {
		w.free <- &batch{}
	}
	return w, nil
}

// run runs the three stages until ctx ends; then the batch being built is
// handed on, and run returns once every stage has written and acknowledged
// what it holds (or given up on it after a few tries: the stream
// redelivers what is not acknowledged).
func (w *worker) run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		defer close(w.toFinish)
		w.writeLoop(ctx)
	}()
	go func() {
		defer wg.Done()
		w.finishLoop(ctx)
	}()
	w.build(ctx)
	close(w.toWrite)
	wg.Wait()
}

// build is the build stage: it fetches messages, decodes them into the
// current batch and hands the batch to the write stage when it is full or
// its oldest message has waited FlushInterval.
func (w *worker) build(ctx context.Context) {
	p := w.p
	backoff := 100 * time.Millisecond
	for {
		b := w.batch()
		wait := p.opts.FlushInterval
		if len(b.msgs) > 0 {
			wait = time.Until(b.first.Add(p.opts.FlushInterval))
		}
		if ctx.Err() != nil {
			// Stopping: hand on what we hold, then leave.
			if len(b.msgs) > 0 {
				w.handOn()
			}
			return
		}
		if wait > 0 {
			// Not ctx: cancelling a pull in flight would drop messages the
			// server already handed over, and they would come back only
			// after AckWait. A fetch ends by itself within wait, and the
			// loop checks ctx between fetches.
			msgs, err := w.c.Fetch(context.Background(), w.fetchSize(), wait)
			if err != nil && ctx.Err() == nil {
				p.logger.Warn("pipeline: fetch failed", "consumer", p.opts.Durable, "err", err)
				sleep(ctx, backoff)
				continue
			}
			for _, m := range msgs {
				w.add(m)
			}
		}
		if len(b.msgs) > 0 && (len(b.recs) >= p.opts.BatchSize || time.Since(b.first) >= p.opts.FlushInterval) {
			w.handOn()
		}
	}
}

// batch returns the batch being built, starting one (a free one, which may
// mean waiting for the finish stage) if there is none.
func (w *worker) batch() *batch {
	if w.cur != nil {
		return w.cur
	}
	b := <-w.free
	w.lastSeq++
	b.seq = w.lastSeq
	w.cur = b
	// Corrections of this worker's batches now durable are found in the
	// store by lookupCorrection; keep only the others'.
	memo := &w.p.corr
	memo.mu.Lock()
	if len(memo.seen) > 0 {
		d := w.durable.Load()
		for k, s := range memo.seen {
			if s.w == w && s.batch <= d {
				delete(memo.seen, k)
			}
		}
	}
	memo.mu.Unlock()
	return b
}

// handOn passes the current batch to the write stage (waiting until it
// takes it).
func (w *worker) handOn() {
	w.toWrite <- w.cur
	w.cur = nil
}

// fetchSize asks for about as many messages as fill the rest of a batch:
// a group-committed message can hold thousands of events, and fetching
// hundreds of them at once would build batches far over BatchSize (slow
// writes, late acks, long ingest-to-queryable latency).
func (w *worker) fetchSize() int {
	perMsg := 1.0
	if w.seenMsgs > 0 {
		perMsg = max(float64(w.seenRecs)/float64(w.seenMsgs), 1)
	}
	n := 0
	if w.cur != nil {
		n = len(w.cur.recs)
	}
	room := float64(w.p.opts.BatchSize - n)
	return int(min(max(room/perMsg, 1), 256))
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// add decodes one message into the current batch.
func (w *worker) add(m *stream.Message) {
	b := w.batch()
	if len(b.msgs) == 0 {
		b.first = time.Now()
	}
	b.msgs = append(b.msgs, m)
	before := len(b.recs)
	events := 0
	err := stream.DecodeFrame(m.Data, func(i int, r stream.Record) error {
		events++
		before := len(b.recs)
		recs, dims, corr, err := w.mapper.MapInto(b.recs, b.dims, r.Data, m.Time, r.Attrs)
		for k := len(b.src); k < len(recs); k++ {
			b.src = append(b.src, recSource{seq: m.Seq, index: i, arrival: m.Time})
		}
		if err != nil {
			b.recs = b.recs[:before]
			b.src = b.src[:before]
			w.deadLetter(m, i, err.Error(), r.Data)
			return nil
		}
		if corr != nil {
			if t := w.correctedTime(m, i, corr); t != corr.Corrected {
				for k := before; k < len(recs); k++ {
					recs[k].Time = t
				}
				corr.Corrected = t
			}
			w.correction(m, corr)
		}
		b.recs, b.dims = recs, dims
		return nil
	})
	w.p.metrics.events.Add(float64(events))
	if err != nil {
		// Not a frame sluice wrote: keep the whole message as a dead letter.
		w.deadLetter(m, -1, err.Error(), m.Data)
	}
	// A decaying average of records per message, for fetchSize.
	if w.seenMsgs > 1000 {
		w.seenMsgs, w.seenRecs = w.seenMsgs/2, w.seenRecs/2
	}
	w.seenMsgs++
	w.seenRecs += len(b.recs) - before
}

func (w *worker) deadLetter(m *stream.Message, index int, reason string, payload []byte) {
	w.p.metrics.deadLetters.Inc()
	b := w.batch()
	b.deadLetters = append(b.deadLetters, deadLetter{
		Stream: m.Stream, Seq: m.Seq, Index: index, Arrival: m.Time, Reason: reason,
		Payload: append([]byte(nil), payload...),
	})
}

// correctedTime decides the time a skewed event is stored at. The rule is
// the arrival time (DESIGN.md §4.2), made precise so that the event's key
// stays unique and stable:
//   - plus the event's index in its message, in nanoseconds, so that
//     several skewed events of one device delivered together (a device
//     back online with a wrong clock) do not collide on one arrival time;
//   - and an event corrected before (a device retry, a redelivery) keeps
//     the time it was first given, found among the batches not yet durable
//     (Processor.corr, shared by the workers) or in sluice.clock_corrections
//     by device and original time, so a duplicate stays a no-op instead of
//     a second copy.
func (w *worker) correctedTime(m *stream.Message, index int, c *event.Correction) int64 {
	dims := append(append([]tsdb.Dimension(nil), c.Dimensions...), tsdb.Dimension{Name: "stream", Value: m.Stream})
	key := correctionKey(dims, c.Original)
	seq := w.batch().seq
	memo := &w.p.corr
	// Held across the store lookup so that two workers meeting the same
	// event decide its time once; skewed events are rare.
	memo.mu.Lock()
	defer memo.mu.Unlock()
	if s, ok := memo.seen[key]; ok {
		return s.t
	}
	t := m.Time.UnixNano() + int64(index)
	if prev, ok := w.lookupCorrection(dims, c.Original); ok {
		t = prev
	}
	if memo.seen == nil {
		memo.seen = map[string]seenCorrection{}
	}
	memo.seen[key] = seenCorrection{t: t, w: w, batch: seq}
	return t
}

func correctionKey(dims []tsdb.Dimension, original int64) string {
	var b strings.Builder
	for _, d := range dims {
		b.WriteString(strconv.Quote(d.Name))
		b.WriteString(strconv.Quote(d.Value))
	}
	b.WriteString(strconv.FormatInt(original, 10))
	return b.String()
}

// lookupCorrection finds a stored correction of the same event.
func (w *worker) lookupCorrection(dims []tsdb.Dimension, original int64) (int64, bool) {
	req := tsdb.ScanRequest{Database: SystemDatabase, Table: CorrectionsTable, MinTime: original, MaxTime: original,
		MeasureNames: []string{"clock_correction"}}
	want := map[string]string{}
	for _, d := range dims {
		want[d.Name] = d.Value
		req.Dims = append(req.Dims, tsdb.DimFilter{Name: d.Name, Values: []string{d.Value}})
	}
	var found int64
	ok := false
	err := w.p.db.Scan(context.Background(), req, func(b *columnar.Batch) error {
		ct := b.Col("corrected_time")
		if ct == nil {
			return nil
		}
	rows:
		for i := 0; i < b.Len(); i++ {
			// The same dimensions exactly, not a superset.
			n := 0
			for j, name := range b.Names {
				c := b.Cols[j]
				if c.Type != columnar.String || name == "measure_name" || c.IsNull(i) {
					continue
				}
				if _, isDim := want[name]; !isDim {
					continue rows
				}
				if c.Strs[i] != want[name] {
					continue rows
				}
				n++
			}
			if n == len(want) && !ct.IsNull(i) {
				found, ok = ct.Ints[i], true
			}
		}
		return nil
	})
	if err != nil {
		w.p.logger.Warn("pipeline: looking up an earlier clock correction failed; using the arrival time", "err", err)
		return 0, false
	}
	return found, ok
}

func (w *worker) correction(m *stream.Message, c *event.Correction) {
	w.p.metrics.corrections.Inc()
	dims := append(append([]tsdb.Dimension(nil), c.Dimensions...), tsdb.Dimension{Name: "stream", Value: m.Stream})
	// Keyed by the device's claimed time, which is unique per device event;
	// a redelivery writes the same values again (a no-op).
	b := w.batch()
	b.corrections = append(b.corrections, tsdb.Record{
		Dimensions:  dims,
		MeasureName: "clock_correction",
		Time:        c.Original,
		Multi: []tsdb.MeasureValue{
			{Name: "original_time", Value: tsdb.TimestampValue(c.Original)},
			{Name: "corrected_time", Value: tsdb.TimestampValue(c.Corrected)},
			{Name: "arrival_time", Value: tsdb.TimestampValue(m.Time.UnixNano())},
			{Name: "offset_seconds", Value: tsdb.Double(float64(c.Original-c.Corrected) / 1e9)},
		},
	})
}

// retry runs step until it succeeds, backing off after failures; once ctx
// has ended it gives up after stopTries failures and reports false (the
// batch's messages are then not acknowledged, and the stream redelivers
// them).
func (w *worker) retry(ctx context.Context, what string, step func() error) bool {
	const stopTries = 3
	backoff := 100 * time.Millisecond
	for fails := 0; ; {
		err := step()
		if err == nil {
			return true
		}
		fails++
		if ctx.Err() != nil && fails >= stopTries {
			w.p.logger.Error("pipeline: final batch not "+what+"; the stream will redeliver it", "err", err)
			return false
		}
		w.p.logger.Error("pipeline: batch not "+what+"; it will be retried", "err", err)
		sleep(ctx, backoff)
		backoff = min(backoff*2, 5*time.Second)
	}
}

// writeLoop is the write stage: each batch's records go to the store; the
// records it rejects become dead letters.
func (w *worker) writeLoop(ctx context.Context) {
	p := w.p
	for b := range w.toWrite {
		b.start = time.Now()
		ok := w.retry(ctx, "written", func() error {
			if len(b.recs) == 0 {
				return nil
			}
			rejects, err := p.db.Write(context.Background(), p.opts.Database, p.opts.Table, b.recs)
			if err != nil {
				return fmt.Errorf("write %d records to %s.%s: %w", len(b.recs), p.opts.Database, p.opts.Table, err)
			}
			b.rejects = rejects
			for _, r := range rejects {
				// The store refused the record (e.g. a different value for a
				// time already stored): keep it visible as a dead letter.
				p.metrics.storeRejects.Inc()
				rec := b.recs[r.Index]
				src := b.src[r.Index]
				payload, _ := json.Marshal(recordJSON(rec))
				b.deadLetters = append(b.deadLetters, deadLetter{Stream: p.opts.Stream, Seq: src.seq, Index: src.index, Measure: rec.MeasureName,
					Arrival: src.arrival, Reason: "rejected by the store: " + r.Reason, Payload: payload})
			}
			return nil
		})
		if !ok {
			w.recycle(b)
			continue
		}
		w.toFinish <- b
	}
}

// finishLoop is the finish stage: each batch is scored, its clock
// corrections, anomalies and dead letters are written, and then its
// messages are acknowledged.
func (w *worker) finishLoop(ctx context.Context) {
	for b := range w.toFinish {
		if w.retry(ctx, "finished", func() error { return w.finish(b) }) {
			w.durable.Store(b.seq)
		}
		w.recycle(b)
	}
}

// finish does the finish stage's work for b.
func (w *worker) finish(b *batch) error {
	p := w.p
	ctx := context.Background() // each step is bounded; the ack must follow them
	if !b.scored {
		// Scored once per batch, here: only what the store holds, and a
		// retry of a later step does not score again.
		w.score(b.recs, b.rejects)
		b.scored = true
	}
	if len(b.corrections) > 0 && !b.corrDone {
		if _, err := p.db.Write(ctx, SystemDatabase, CorrectionsTable, b.corrections); err != nil {
			return fmt.Errorf("write clock corrections: %w", err)
		}
		b.corrDone = true
	}
	if len(w.sc.anomalies) > 0 && !b.anomDone {
		if err := w.writeAnomalies(ctx); err != nil {
			return err
		}
		b.anomDone = true
	}
	if len(b.deadLetters) > 0 {
		if err := w.writeDeadLetters(ctx, b); err != nil {
			return err
		}
	}
	for _, m := range b.msgs {
		if err := m.Ack(); err != nil {
			// Redelivery is harmless; count it and go on.
			p.logger.Warn("pipeline: ack failed; the message will be redelivered", "seq", m.Seq, "err", err)
		}
	}
	p.metrics.batchRecords.Observe(float64(len(b.recs)))
	p.metrics.flushSeconds.Observe(time.Since(b.start).Seconds())
	p.metrics.records.Add(float64(len(b.recs)))
	p.metrics.messages.Add(float64(len(b.msgs)))
	return nil
}

// recycle empties b (keeping its arrays) and returns it to the build stage.
func (w *worker) recycle(b *batch) {
	clear(b.msgs) // drop references to the messages' data
	b.msgs = b.msgs[:0]
	clear(b.recs) // and to the records' dimensions and strings
	b.recs = b.recs[:0]
	clear(b.dims)
	b.dims = b.dims[:0]
	b.src = b.src[:0]
	clear(b.deadLetters)
	b.deadLetters = b.deadLetters[:0]
	clear(b.corrections)
	b.corrections = b.corrections[:0]
	b.rejects = nil
	b.scored, b.corrDone, b.anomDone = false, false, false
	b.dlPublished = 0
	clear(w.sc.anomalies) // drop references to the rows' slices
	w.sc.anomalies = w.sc.anomalies[:0]
	w.free <- b
}

func (w *worker) writeDeadLetters(ctx context.Context, b *batch) error {
	p := w.p
	recs := make([]tsdb.Record, 0, len(b.deadLetters))
	for i, d := range b.deadLetters {
		data, err := json.Marshal(d)
		if err != nil {
			return err
		}
		if i >= b.dlPublished {
			if _, err := p.broker.Publish(ctx, p.opts.DeadLetterStream, data); err != nil {
				return fmt.Errorf("publish dead letter to %q: %w", p.opts.DeadLetterStream, err)
			}
			b.dlPublished = i + 1
		}
		// Keyed by stream position (and measure, for a store reject of one
		// record of an event), so a redelivery writes the same key again.
		seq := strconv.FormatUint(d.Seq, 10)
		index := strconv.Itoa(d.Index)
		if d.Measure != "" {
			index += ":" + d.Measure
		}
		recs = append(recs, tsdb.Record{
			Dimensions:  []tsdb.Dimension{{Name: "stream", Value: d.Stream}, {Name: "seq", Value: seq}, {Name: "index", Value: index}},
			MeasureName: "dead_letter",
			Time:        d.Arrival.UnixNano(),
			Multi: []tsdb.MeasureValue{
				{Name: "reason", Value: tsdb.Varchar(d.Reason)},
				{Name: "payload", Value: tsdb.Varchar(truncate(string(d.Payload), 2048))},
			},
		})
	}
	rejects, err := p.db.Write(ctx, SystemDatabase, DeadLettersTable, recs)
	if err != nil {
		return fmt.Errorf("write dead letters: %w", err)
	}
	for _, r := range rejects {
		p.logger.Warn("pipeline: dead letter not stored in the system table (it is in the dead-letter stream)", "reason", r.Reason)
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// recordJSON renders a record for a dead letter.
func recordJSON(r tsdb.Record) map[string]any {
	dims := map[string]string{}
	for _, d := range r.Dimensions {
		dims[d.Name] = d.Value
	}
	m := map[string]any{"dimensions": dims, "measure_name": r.MeasureName, "time": r.Time, "version": r.Version}
	if r.Multi == nil {
		m["value"] = r.Value.String()
		m["type"] = r.Value.Type.String()
	} else {
		vals := map[string]string{}
		for _, mv := range r.Multi {
			vals[mv.Name] = mv.Value.String()
		}
		m["values"] = vals
	}
	return m
}
