package bench

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluice-dev/sluice/internal/cputime"
	"github.com/sluice-dev/sluice/internal/lake"
	"github.com/sluice-dev/sluice/internal/pipeline"
	"github.com/sluice-dev/sluice/internal/simulate"
	"github.com/sluice-dev/sluice/internal/stream"
	"github.com/sluice-dev/sluice/internal/stream/jetstream"
)

// targetLakeDelivery: the lake must keep up with the pipeline's acked
// ingest rate (about 450k events/s in BENCHMARKS.md).
var targetLakeDelivery = atLeast(450_000) // events/s

type lakeConfig struct {
	events   int
	devices  int
	perMsg   int
	bufBytes int64
}

func lakeFlags(fs *flag.FlagSet) (func(*run) error, func(map[string]bool)) {
	c := &lakeConfig{}
	fs.IntVar(&c.events, "events", 1_000_000, "events in the stream that each format delivers")
	fs.IntVar(&c.devices, "devices", 10_000, "simulated devices")
	fs.IntVar(&c.perMsg, "per-message", 500, "events per stream message (as ingest's group commit of NDJSON batches)")
	fs.Int64Var(&c.bufBytes, "buffer-bytes", 5<<20, "lake buffer size (Firehose's SizeInMBs)")
	quick := func(set map[string]bool) {
		if !set["events"] {
			c.events = 200_000
		}
	}
	return func(r *run) error { return runLake(r, c) }, quick
}

// lakeBench is one run of the lake suite. Its phases run in order over
// one stream filled once; each reads what it needs from the struct.
type lakeBench struct {
	*run
	c      *lakeConfig
	broker *jetstream.Broker
	bytes  int64 // event bytes in the stream
	// dirs are the lake roots delivery wrote, by format name (for scans).
	dirs map[string]string
}

// lakePhases are the suite's measurement groups, in order (--only picks
// by name). Delivery writes one lake per format into dirs; scan phases
// (lake tables: rows/s and MB/s over JSON Lines and Parquet) go after it.
var lakePhases = []struct {
	name string
	run  func(b *lakeBench) error
}{
	{"delivery", (*lakeBench).delivery},
	{"scan", func(b *lakeBench) error { return lakeScan(b.run, b.dirs, 5) }},
}

func runLake(r *run, c *lakeConfig) error {
	if c.events < 1 || c.devices < 1 || c.perMsg < 1 || c.bufBytes < 1 {
		return errors.New("--events, --devices, --per-message and --buffer-bytes must be positive")
	}
	ctx := r.ctx
	b := &lakeBench{run: r, c: c, dirs: map[string]string{}}
	var err error
	b.broker, err = jetstream.Open(ctx, jetstream.Options{DataDir: filepath.Join(r.dir, "stream"), Sync: jetstream.SyncInterval}, nil)
	if err != nil {
		return fmt.Errorf("open stream: %w", err)
	}
	defer b.broker.Close()
	if err := b.fill(ctx); err != nil {
		return err
	}
	for _, ph := range lakePhases {
		if !r.want(ph.name) {
			continue
		}
		if err := ph.run(b); err != nil {
			return fmt.Errorf("%s: %w", ph.name, err)
		}
	}
	return nil
}

// fill publishes c.events simulated events in frames of c.perMsg, in the
// order many devices' HTTP requests arrive in: within each window of
// c.devices events (about one second of the fleet) the devices come in a
// random order, a new one per window, and each device's own events keep
// theirs. The generator itself samples the devices in index order every
// tick; delivered as they are, every lake object would list the devices
// in the same order and Parquet objects would repeat the same string
// dictionaries byte for byte, which real streams do not, and which scans
// can exploit (a reader that remembers the last dictionary).
func (b *lakeBench) fill(ctx context.Context) error {
	if err := b.broker.EnsureStream(ctx, stream.Config{Name: stream.DefaultStream}); err != nil {
		return err
	}
	ticks := (b.c.events + b.c.devices - 1) / b.c.devices
	start := time.Now().Add(-time.Duration(ticks) * time.Second).Truncate(time.Second)
	g, err := simulate.NewGenerator(simulate.Options{Devices: b.c.devices, Rate: 1, Seed: 7, Start: start,
		Duration: time.Duration(ticks) * time.Second, MaxEvents: int64(b.c.events)})
	if err != nil {
		return fmt.Errorf("generate events: %w", err)
	}
	done, published := 0, 0
	stop := b.progress.start(fmt.Sprintf("fill the stream with %d events", b.c.events), func(el time.Duration) string {
		return countStatus(float64(published), float64(b.c.events), "events", el)
	})
	defer stop()
	rng := rand.New(rand.NewPCG(7, uint64(b.c.devices)))
	rank := make([]int32, b.c.devices) // a window's order of the devices
	for i := range rank {
		rank[i] = int32(i)
	}
	type span struct{ off, end, dev int }
	var (
		win   []byte // a window's events, in generation order
		spans []span
		ready []byte // events in delivery order, not yet published
		offs  []int  // where each ready event starts (and, last, ends)
		frame []byte
		recs  []stream.Record
	)
	publish := func(n int) error {
		recs = recs[:0]
		for i := range n {
			recs = append(recs, stream.Record{Data: ready[offs[i]:offs[i+1]]})
		}
		frame = stream.AppendFrame(frame[:0], recs)
		if _, err := b.broker.Publish(ctx, stream.DefaultStream, frame); err != nil {
			return fmt.Errorf("publish: %w", err)
		}
		used := offs[n]
		b.bytes += int64(used)
		ready = ready[:copy(ready, ready[used:])]
		offs = offs[:copy(offs, offs[n:])]
		for i := range offs {
			offs[i] -= used
		}
		published += n
		return nil
	}
	for done < b.c.events {
		n := min(b.c.devices, b.c.events-done)
		win, spans = win[:0], spans[:0]
		for range n {
			off := len(win)
			var ev simulate.Event
			var ok bool
			if win, ev, ok = g.Next(win); !ok {
				return fmt.Errorf("generate events: the generator stopped after %d events", done)
			}
			spans = append(spans, span{off, len(win), ev.Device})
		}
		done += n
		rng.Shuffle(len(rank), func(i, j int) { rank[i], rank[j] = rank[j], rank[i] })
		slices.SortStableFunc(spans, func(x, y span) int { return cmp.Compare(rank[x.dev], rank[y.dev]) })
		if len(offs) == 0 {
			offs = append(offs, 0)
		}
		for _, s := range spans {
			ready = append(ready, win[s.off:s.end]...)
			offs = append(offs, len(ready))
		}
		for len(offs)-1 >= b.c.perMsg || (done == b.c.events && len(offs) > 1) {
			if err := publish(min(b.c.perMsg, len(offs)-1)); err != nil {
				return err
			}
		}
	}
	return nil
}

// delivery measures how fast the lake writer delivers the whole stream in
// each format: from the consumer's start until Flush returns with every
// object durable (fsync, rename, directory fsync) and every message
// acknowledged.
func (b *lakeBench) delivery() error {
	formats := []struct{ name, format, compression string }{
		{"jsonl", lake.FormatJSONL, lake.CompressionNone},
		{"jsonl_gzip", lake.FormatJSONL, lake.CompressionGzip},
		{"parquet", lake.FormatParquet, lake.CompressionNone},
	}
	for _, f := range formats {
		dir := filepath.Join(b.dir, "lake-"+f.name)
		lw, err := pipeline.NewLakeWriter(b.ctx, b.broker, pipeline.LakeOptions{Durable: "bench-" + f.name, Lake: lake.Options{
			Dir: dir, Format: f.format, Compression: f.compression, BufferBytes: b.c.bufBytes, BufferInterval: time.Hour,
		}}, nil, prometheus.NewRegistry())
		if err != nil {
			return err
		}
		start := time.Now()
		cpu0, cpuOK := cputime.Process()
		if err := lw.Start(b.ctx); err != nil {
			return err
		}
		total := float64((b.c.events + b.c.perMsg - 1) / b.c.perMsg)
		var lag atomic.Int64 // messages not yet acknowledged
		lag.Store(int64(total))
		stopWatch := make(chan struct{})
		go func() {
			for {
				select {
				case <-stopWatch:
					return
				case <-time.After(500 * time.Millisecond):
				}
				if n, err := lw.Lag(b.ctx); err == nil {
					lag.Store(int64(n))
				}
			}
		}()
		stop := b.progress.start("deliver the stream as "+f.name, func(el time.Duration) string {
			return countStatus(total-float64(lag.Load()), total, "messages", el)
		})
		err = lw.Flush(b.ctx)
		el := time.Since(start)
		cpu1, _ := cputime.Process()
		close(stopWatch)
		stop()
		if err == nil {
			// Everything delivered and acknowledged?
			var lag uint64
			if lag, err = lw.Lag(b.ctx); err == nil && lag != 0 {
				err = fmt.Errorf("%d messages not acknowledged after Flush", lag)
			}
		}
		if serr := lw.Shutdown(context.Background()); err == nil {
			err = serr
		}
		if err != nil {
			return fmt.Errorf("deliver as %s: %w", f.name, err)
		}
		files, size, err := dirSize(dir)
		if err != nil {
			return err
		}
		secs := el.Seconds()
		b.logf("  %s: %d events in %v into %d objects of %.1f MB", f.name, b.c.events, el.Round(time.Millisecond), files, float64(size)/1e6)
		b.add("delivery_"+f.name+"_events_per_s", float64(b.c.events)/secs, "events/s", targetLakeDelivery)
		b.add("delivery_"+f.name+"_mb_per_s", float64(b.bytes)/1e6/secs, "MB/s", nil)
		if cpuOK && cpu1 > cpu0 {
			// Robust to other load on the machine: the whole process's CPU
			// time (the embedded stream server included) per event.
			b.add("delivery_"+f.name+"_events_per_cpu_s", float64(b.c.events)/(cpu1-cpu0).Seconds(), "events/s", nil)
		}
		b.add("delivery_"+f.name+"_bytes_per_event", float64(size)/float64(b.c.events), "bytes", nil)
		b.dirs[f.name] = dir
	}
	return nil
}

func dirSize(dir string) (files int, size int64, err error) {
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		files++
		size += info.Size()
		return nil
	})
	return files, size, err
}
