package lake

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluice-dev/sluice/internal/stream"
)

// Formats and compressions of lake objects.
const (
	FormatJSONL   = "jsonl"
	FormatParquet = "parquet"

	CompressionNone = "none"
	CompressionGzip = "gzip"
)

// Default prefixes: Hive-style partitions by arrival hour (UTC). They match
// internal/config's defaults.
const (
	DefaultPrefix      = "events/year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/hour=!{timestamp:HH}/"
	DefaultErrorPrefix = "errors/!{firehose:error-output-type}/year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/hour=!{timestamp:HH}/"
)

// Options configure a Writer. Zero fields mean defaults, except
// BufferInterval (see there).
type Options struct {
	Dir         string // lake root; required
	Stream      string // the stream whose messages are written; names the objects; default "events"
	Format      string // FormatJSONL (default) or FormatParquet
	Compression string // CompressionNone (default) or CompressionGzip (JSON Lines and error objects)
	Prefix      string // default DefaultPrefix
	ErrorPrefix string // default DefaultErrorPrefix
	BufferBytes int64  // event bytes buffered before Due; default 5 MiB
	// BufferInterval is the longest a message waits in the buffer. Zero
	// means no wait (Firehose's IntervalInSeconds 0): Due as soon as
	// anything is buffered.
	BufferInterval time.Duration
	// MaxMessages bounds the stream messages held unacknowledged; keep it
	// below the consumer's MaxPending. Default 20000.
	MaxMessages int
	// StreamCreated is when the stream was created. Stream sequences
	// restart when a stream is deleted and created again, so objects of an
	// earlier life must not count as delivered: object names carry the
	// creation time (base 36 of its Unix nanoseconds), and names without
	// one (written before sluice named lives) count only if the file is
	// younger than the stream. Zero writes names without it.
	StreamCreated time.Time
	// StateDir is where the writer keeps the list of prefixes the
	// stream's objects were written under (outside the lake: readers
	// take every file there for an object). With it, opening reads no
	// object names: each partition is read when the first message that
	// arrived in its time is delivered (see the package comment). Empty
	// means no state: every open reads the whole lake.
	StateDir string
	// NoSync skips fsync (benchmarks of the CPU cost only; never in a
	// server: a machine crash could then lose acknowledged events).
	NoSync bool
}

func (o *Options) ensureDefaults() {
	if o.Stream == "" {
		o.Stream = stream.DefaultStream
	}
	if o.Format == "" {
		o.Format = FormatJSONL
	}
	if o.Compression == "" {
		o.Compression = CompressionNone
	}
	if o.Prefix == "" {
		o.Prefix = DefaultPrefix
	}
	if o.ErrorPrefix == "" {
		o.ErrorPrefix = DefaultErrorPrefix
	}
	if o.BufferBytes <= 0 {
		o.BufferBytes = 5 << 20
	}
	if o.MaxMessages <= 0 {
		o.MaxMessages = 20000
	}
}

// The two outputs of a writer.
const (
	outEvents = 0 // events as they are (or as Parquet rows)
	outErrors = 1 // error records of events that cannot be delivered as they are
)

// Writer buffers the events of stream messages and writes them to lake
// objects. See the package comment for the layout and the guarantees.
type Writer struct {
	// Set in NewWriter, read-only afterwards.
	opts     Options
	inc      string // incarnation(opts.StreamCreated)
	logger   *slog.Logger
	metrics  *metrics
	prefixes [2]*Prefix
	errType  string
	ext      [2]string // object name extensions per output

	// bufStart is when the oldest buffered message was added (unix ns; 0
	// when empty), for the buffer age gauge.
	bufStart atomic.Int64

	mu       sync.Mutex
	covered  [2]rangeSet // sequences whose events are already in objects
	runs     [2][]*run
	msgs     []*stream.Message // buffered, acknowledged after the flush
	bytes    int64             // event bytes buffered
	started  time.Time         // when the buffer got its first message
	schema   *schemaState      // Parquet schema, grown by every object
	keyCache [2]keyCache
	scratch  []stream.Record
	spare    []runBuf // emptied event buffers of written runs, for reuse
	closed   bool

	// Recovery (writer_recover.go). Set in NewWriter; scanned is
	// guarded by mu.
	opened  time.Time // temporary files older than this are a crash's
	layouts []*layout // every layout objects of the stream were written under
	lazy    bool      // partitions are read as messages arrive (scanPartitions)
	scanned map[string]bool
}

// keyCache holds a partition key of one output for one second.
type keyCache struct {
	sec     int64
	key     string
	scanned bool // scanPartitions read the directories of sec
}

// maxSpare bounds Writer.spare.
const maxSpare = 4

type runBuf struct {
	lines []byte
	spans []pqSpan
}

// run is a contiguous range of stream sequences whose events for one
// output go to one object. Contiguity is what makes the object's name a
// true statement: every message from first to last that has events for
// this output has them in this object.
type run struct {
	first, last uint64
	oldest      time.Time // arrival of the oldest message
	key         string    // partition key: the prefix without random strings
	lines       []byte    // JSON lines (events, or error records)
	spans       []pqSpan  // members of the events (Parquet output only)
	events      int
	done        bool // written; kept until the buffer's messages are acked
}

// NewWriter opens the lake root: it removes temporary files a crash left
// behind and learns from object names which stream sequences are already
// delivered, so that redelivered messages are acknowledged and skipped.
func NewWriter(opts Options, logger *slog.Logger, reg prometheus.Registerer) (*Writer, error) {
	opts.ensureDefaults()
	if opts.Dir == "" {
		return nil, errors.New("lake: no directory given")
	}
	if strings.ContainsAny(opts.Stream, "/\\") || opts.Stream == "" {
		return nil, fmt.Errorf("lake: bad stream name %q", opts.Stream)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	w := &Writer{opts: opts, logger: logger, schema: newSchemaState(), inc: incarnation(opts.StreamCreated)}
	switch opts.Format {
	case FormatJSONL:
		w.errType = ErrorProcessingFailed
		w.ext[outEvents] = ".jsonl"
	case FormatParquet:
		w.errType = ErrorFormatConversionFailed
		w.ext[outEvents] = ".parquet"
	default:
		return nil, fmt.Errorf("lake: unknown format %q (want jsonl or parquet)", opts.Format)
	}
	w.ext[outErrors] = ".errors.jsonl"
	switch opts.Compression {
	case CompressionNone:
	case CompressionGzip:
		if opts.Format == FormatJSONL {
			w.ext[outEvents] += ".gz"
		}
		w.ext[outErrors] += ".gz"
	default:
		return nil, fmt.Errorf("lake: unknown compression %q (want none or gzip)", opts.Compression)
	}
	var err error
	if w.prefixes[outEvents], err = ParsePrefix(opts.Prefix, false); err != nil {
		return nil, err
	}
	if w.prefixes[outErrors], err = ParsePrefix(opts.ErrorPrefix, true); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("lake: create %s: %w", opts.Dir, err)
	}
	if err := w.recover(); err != nil {
		return nil, err
	}
	w.metrics = newMetrics(reg, opts.Stream, w)
	return w, nil
}

// objectName is the name of the object holding sequences first..last of
// one output: <stream>-<incarnation>-<first>-<last><ext>, sequences in 20
// digits so that names sort by position in the stream (like Firehose's
// names, which carry the delivery stream's version).
func (w *Writer) objectName(out int, first, last uint64) string {
	if w.inc == "" {
		return fmt.Sprintf("%s-%020d-%020d%s", w.opts.Stream, first, last, w.ext[out])
	}
	return fmt.Sprintf("%s-%s-%020d-%020d%s", w.opts.Stream, w.inc, first, last, w.ext[out])
}

// incarnation names a life of a stream in object names: base 36 of its
// creation's Unix nanoseconds (13 characters until 2081), never 20 digits,
// so it cannot be read as a sequence.
func incarnation(created time.Time) string {
	if created.IsZero() {
		return ""
	}
	return strconv.FormatUint(uint64(created.UnixNano()), 36)
}

func validIncarnation(s string) bool {
	if s == "" || len(s) > 13 {
		return false
	}
	for _, c := range []byte(s) {
		if (c < '0' || c > '9') && (c < 'a' || c > 'z') {
			return false
		}
	}
	return true
}

// tmpMarker separates an object name from the random suffix of its
// temporary file: ".<name>.tmp-<random>".
const tmpMarker = ".tmp-"

// Add buffers the events of m. A message whose events are all already in
// objects (a redelivery after a crash) is acknowledged at once; others are
// acknowledged by the Flush that makes them durable. Add never writes.
func (w *Writer) Add(m *stream.Message) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return errors.New("lake: writer closed")
	}
	if w.lazy {
		// Before asking covered: the objects holding m, if any, are in
		// the directories of its arrival time.
		for out := range w.keyCache {
			if err := w.scanPartitions(out, m.Time); err != nil {
				return err
			}
		}
	}
	var need [2]bool
	needAny := false
	for out := range need {
		need[out] = !w.covered[out].contains(m.Seq) && !w.buffered(out, m.Seq)
		needAny = needAny || need[out]
	}
	if !needAny {
		if w.inBuffer(m.Seq) {
			// Redelivered while still buffered (a flush took longer than
			// AckWait): acknowledge this delivery too, after the flush.
			w.msgs = append(w.msgs, m)
			return nil
		}
		w.metrics.skipped.Inc()
		if err := m.Ack(); err != nil {
			w.logger.Warn("lake: ack of an already delivered message failed; it will come again", "seq", m.Seq, "err", err)
		}
		return nil
	}
	var rs [2]*run
	for out := range need {
		if need[out] {
			rs[out] = w.runFor(out, m)
		}
	}
	before := w.bytesOf(rs)
	w.scratch = w.scratch[:0]
	err := stream.DecodeFrame(m.Data, func(i int, r stream.Record) error {
		w.scratch = append(w.scratch, r)
		return nil
	})
	if err != nil {
		// Not a frame sluice wrote: keep the whole message.
		if r := rs[outErrors]; r != nil {
			r.lines = appendErrorRecord(r.lines, m.Time, m.Seq, -1, CodeMalformedFrame, err.Error(), m.Data)
			r.events++
		}
	} else {
		for i, rec := range w.scratch {
			var code, msg string
			switch r := rs[outEvents]; {
			case r != nil && w.opts.Format == FormatParquet:
				// Validates and files the members for writeParquet in one pass.
				code, msg = w.schema.addEvent(r, rec.Data)
			case rec.JSONLine:
				// Ingest checked it: one JSON object on one line, which is
				// all classify looks for.
			default:
				code, msg = classify(rec.Data)
			}
			if code == "" {
				if r := rs[outEvents]; r != nil {
					r.lines = append(append(r.lines, rec.Data...), '\n')
					r.events++
				}
				continue
			}
			if r := rs[outErrors]; r != nil {
				r.lines = appendErrorRecord(r.lines, m.Time, m.Seq, i, code, msg, rec.Data)
				r.events++
			}
		}
	}
	clear(w.scratch) // do not keep m.Data alive
	for _, r := range rs {
		if r != nil {
			r.last = max(r.last, m.Seq)
			if m.Time.Before(r.oldest) {
				r.oldest = m.Time
			}
		}
	}
	w.bytes += w.bytesOf(rs) - before
	if len(w.msgs) == 0 {
		w.started = time.Now()
		w.bufStart.Store(w.started.UnixNano())
	}
	w.msgs = append(w.msgs, m)
	return nil
}

func (w *Writer) bytesOf(rs [2]*run) int64 {
	var n int64
	for _, r := range rs {
		if r != nil {
			n += int64(len(r.lines))
		}
	}
	return n
}

// buffered reports whether seq is in a run of out.
func (w *Writer) buffered(out int, seq uint64) bool {
	for _, r := range w.runs[out] {
		if seq >= r.first && seq <= r.last {
			return true
		}
	}
	return false
}

func (w *Writer) inBuffer(seq uint64) bool {
	return w.buffered(outEvents, seq) || w.buffered(outErrors, seq)
}

// runFor returns the run m extends: the one ending just before it in the
// same partition, or a new one.
func (w *Writer) runFor(out int, m *stream.Message) *run {
	key := w.partitionKey(out, m.Time)
	runs := w.runs[out]
	for i := len(runs) - 1; i >= 0; i-- {
		if r := runs[i]; !r.done && r.last+1 == m.Seq && r.key == key {
			return r
		}
	}
	r := &run{first: m.Seq, last: m.Seq, oldest: m.Time, key: key}
	if n := len(w.spare); n > 0 && out == outEvents {
		r.lines, r.spans = w.spare[n-1].lines, w.spare[n-1].spans
		w.spare = w.spare[:n-1]
	}
	w.runs[out] = append(w.runs[out], r)
	return r
}

// partitionKey evaluates the prefix without random strings, cached per
// second (the finest field a prefix can use).
func (w *Writer) partitionKey(out int, t time.Time) string {
	return w.keyCacheFor(out, t).key
}

func (w *Writer) keyCacheFor(out int, t time.Time) *keyCache {
	sec := t.Unix()
	c := &w.keyCache[out]
	if c.key == "" || c.sec != sec {
		// scanned too is per second: the same key can stand for several
		// directories of a former layout with finer partitions.
		c.sec, c.key, c.scanned = sec, w.prefixes[out].partitionKey(t, w.errType), false
	}
	return c
}

// Due reports whether the buffer should be written now (size, message
// count or age reached), and otherwise how long until its age is reached
// (a long time when it is empty).
func (w *Writer) Due() (bool, time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.msgs) == 0 {
		return false, time.Hour
	}
	if w.bytes >= w.opts.BufferBytes || len(w.msgs) >= w.opts.MaxMessages {
		return true, 0
	}
	left := w.opts.BufferInterval - time.Since(w.started)
	return left <= 0, max(left, 0)
}

// Buffered reports the messages and event bytes in the buffer.
func (w *Writer) Buffered() (msgs int, bytes int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.msgs), w.bytes
}

// Flush writes the buffer to objects, makes them durable (file fsync,
// rename, directory fsync) and then acknowledges the buffered messages.
// On error the buffer is kept (objects already written stay written) and
// a later Flush retries the rest.
func (w *Writer) Flush(ctx context.Context) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.msgs) == 0 {
		return nil
	}
	start := time.Now()
	syncDirs := map[string]bool{}
	for out := range w.runs {
		for _, r := range w.runs[out] {
			if r.done {
				continue
			}
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("lake: flush: %w", err)
			}
			if r.events > 0 {
				if err := w.writeRun(out, r, syncDirs); err != nil {
					w.metrics.flushErrors.Inc()
					return err
				}
			}
			r.done = true
		}
	}
	if !w.opts.NoSync {
		dirs := make([]string, 0, len(syncDirs))
		for d := range syncDirs {
			dirs = append(dirs, d)
		}
		// Deepest first: a new directory's own entries before its entry
		// in its parent.
		sort.Slice(dirs, func(i, j int) bool { return len(dirs[i]) > len(dirs[j]) })
		for _, d := range dirs {
			if err := syncDir(d); err != nil {
				w.metrics.flushErrors.Inc()
				return fmt.Errorf("lake: sync directory %s: %w", d, err)
			}
		}
	}
	// Durable: remember what is delivered, then acknowledge.
	for out := range w.runs {
		for _, r := range w.runs[out] {
			if r.events > 0 {
				w.covered[out].add(r.first, r.last)
			}
		}
	}
	for _, m := range w.msgs {
		if err := m.Ack(); err != nil {
			// Redelivery is harmless: the names say it is delivered.
			w.logger.Warn("lake: ack failed; the message will be redelivered and skipped", "seq", m.Seq, "err", err)
		}
	}
	w.metrics.messages.Add(float64(len(w.msgs)))
	w.metrics.flushSeconds.Observe(time.Since(start).Seconds())
	clear(w.msgs)
	w.msgs = w.msgs[:0]
	// Keep a few event buffers for the next runs: growing a fresh one to
	// BufferBytes (page faults and copies) costs about as much as the
	// JSON Lines write itself.
	for _, r := range w.runs[outEvents] {
		if len(w.spare) < maxSpare && cap(r.lines) <= 2*int(w.opts.BufferBytes) {
			w.spare = append(w.spare, runBuf{r.lines[:0], r.spans[:0]})
		}
	}
	w.runs = [2][]*run{}
	w.bytes = 0
	w.bufStart.Store(0)
	return nil
}

// writeRun writes one run as an object: temporary file in the target
// directory, fsync, rename. The directories to fsync are collected.
func (w *Writer) writeRun(out int, r *run, syncDirs map[string]bool) error {
	prefix := w.prefixes[out].Eval(r.oldest, w.errType)
	name := w.objectName(out, r.first, r.last)
	key := prefix + name
	full := filepath.Join(w.opts.Dir, filepath.FromSlash(key))
	dir := filepath.Dir(full)
	if err := w.mkdirAll(dir, syncDirs); err != nil {
		return fmt.Errorf("lake: create directory for %s: %w", key, err)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(full)+tmpMarker+"*")
	if err != nil {
		return fmt.Errorf("lake: create temporary file for %s: %w", key, err)
	}
	tmp := f.Name()
	fail := func(what string, err error) error {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("lake: %s %s: %w", what, key, err)
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	cw := &countWriter{w: bw}
	if out == outEvents && w.opts.Format == FormatParquet {
		meta := map[string]string{
			"sluice.stream":    w.opts.Stream,
			"sluice.first_seq": strconv.FormatUint(r.first, 10),
			"sluice.last_seq":  strconv.FormatUint(r.last, 10),
		}
		if !w.opts.StreamCreated.IsZero() {
			meta["sluice.stream_created"] = w.opts.StreamCreated.UTC().Format(time.RFC3339Nano)
		}
		err = writeParquet(cw, r.lines, r.spans, r.events, w.schema, meta)
	} else {
		err = writeJSONL(cw, r.lines, w.opts.Compression == CompressionGzip)
	}
	if err != nil {
		return fail("write", err)
	}
	if err := bw.Flush(); err != nil {
		return fail("write", err)
	}
	if !w.opts.NoSync {
		if err := f.Sync(); err != nil {
			return fail("sync", err)
		}
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("lake: close %s: %w", key, err)
	}
	if err := os.Rename(tmp, full); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("lake: rename %s: %w", key, err)
	}
	syncDirs[dir] = true
	if out == outEvents {
		w.metrics.events.Add(float64(r.events))
	} else {
		w.metrics.errorEvents.Add(float64(r.events))
	}
	w.metrics.files.WithLabelValues(outputName(out)).Inc()
	w.metrics.bytes.WithLabelValues(outputName(out)).Add(float64(cw.n))
	w.logger.Debug("lake: object written", "key", key, "events", r.events, "bytes", cw.n)
	return nil
}

func outputName(out int) string {
	if out == outErrors {
		return "errors"
	}
	return "events"
}

// mkdirAll creates dir and its missing parents under the lake root and
// records the parents whose entries changed, for fsync.
func (w *Writer) mkdirAll(dir string, syncDirs map[string]bool) error {
	if _, err := os.Stat(dir); err == nil {
		return nil
	}
	parent := filepath.Dir(dir)
	if parent != dir && len(parent) >= len(filepath.Clean(w.opts.Dir)) {
		if err := w.mkdirAll(parent, syncDirs); err != nil {
			return err
		}
	}
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	syncDirs[parent] = true
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

type countWriter struct {
	w interface{ Write([]byte) (int, error) }
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// Close gives up the buffer without writing it: its messages stay
// unacknowledged and the stream redelivers them. Callers Flush first.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.closed = true
	return nil
}

// rangeSet is a set of sequence ranges, kept sorted and merged.
type rangeSet struct {
	r [][2]uint64
}

func (s *rangeSet) contains(seq uint64) bool {
	i := sort.Search(len(s.r), func(i int) bool { return s.r[i][1] >= seq })
	return i < len(s.r) && s.r[i][0] <= seq
}

func (s *rangeSet) add(first, last uint64) {
	i := sort.Search(len(s.r), func(i int) bool { return s.r[i][1]+1 >= first })
	j := i
	for j < len(s.r) && s.r[j][0] <= last+1 {
		first = min(first, s.r[j][0])
		last = max(last, s.r[j][1])
		j++
	}
	s.r = append(s.r[:i], append([][2]uint64{{first, last}}, s.r[j:]...)...)
}
