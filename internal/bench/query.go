package bench

// The "query" suite: the seed's data shape (devices × 4 measures × one point
// per second) loaded into a real server, then the dashboard's typical
// queries timed end to end through HTTP POST /v1/query twice: first as a
// live store holds the data (group "live": flushed parts not yet compacted,
// the newest minutes in the hot tier), then flushed and compacted, as it
// lies in the cold tier some time later.
// Every query's answer is checked against the generated data before it is
// timed, so a fast wrong answer is an error, not a figure.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluice-dev/sluice/internal/app"
	"github.com/sluice-dev/sluice/internal/config"
	"github.com/sluice-dev/sluice/internal/tsdb"
)

// Targets of the query suite, in milliseconds (p50 and p99 alike).
var (
	targetQ1MS = atMost(1)   // one series, last hour, newest first
	targetQ2MS = atMost(0.5) // one series, per-minute average
	targetQ3MS = atMost(20)  // one measure of every device, per-minute average
	targetQ4MS = atMost(10)  // latest value of every series
	targetQ5MS = atMost(10)  // points per device
)

type queryConfig struct {
	devices    int
	duration   time.Duration
	iterations int
	queryTime  time.Duration
	writers    int
	logLevel   string
}

func queryFlags(fs *flag.FlagSet) (func(*run) error, func(map[string]bool)) {
	c := &queryConfig{}
	fs.IntVar(&c.devices, "devices", 1000, "devices in the loaded data (each with the seed's 4 measures)")
	fs.DurationVar(&c.duration, "duration", time.Hour, "time the loaded data covers, one point per second per series, ending now")
	fs.IntVar(&c.iterations, "iterations", 200, "timed runs of each query")
	fs.DurationVar(&c.queryTime, "query-time", 30*time.Second, "stop timing a query after this long even if fewer than --iterations ran (at least 10 run)")
	fs.IntVar(&c.writers, "writers", 4, "concurrent writers while loading")
	fs.StringVar(&c.logLevel, "log-level", "warn", "the server's log level (logs go to stderr)")
	quick := func(set map[string]bool) {
		q := map[string]func(){
			"devices":    func() { c.devices = 50 },
			"duration":   func() { c.duration = 10 * time.Minute },
			"iterations": func() { c.iterations = 20 },
		}
		for name, f := range q {
			if !set[name] {
				f()
			}
		}
	}
	return func(r *run) error { return runQuery(r, c) }, quick
}

func (c *queryConfig) check() error {
	var errs []error
	if c.devices < 1 || c.iterations < 1 || c.writers < 1 {
		errs = append(errs, errors.New("--devices, --iterations and --writers must be at least 1"))
	}
	if c.duration < 2*time.Minute {
		errs = append(errs, fmt.Errorf("--duration %s: want at least 2m (the per-minute queries need whole minutes)", c.duration))
	}
	if c.queryTime <= 0 {
		errs = append(errs, errors.New("--query-time must be positive"))
	}
	return errors.Join(errs...)
}

// queryBench is one run of the query suite.
type queryBench struct {
	*run
	c      *queryConfig
	f      *fleet
	app    *app.App
	url    string
	client *http.Client
	db, tb string
	rng    *rand.Rand
	temp   int // index of "temperature" in measureNames
}

func runQuery(r *run, c *queryConfig) (err error) {
	if err := c.check(); err != nil {
		return err
	}
	q := &queryBench{run: r, c: c, rng: rand.New(rand.NewPCG(1, 2)), temp: -1}
	for i, m := range measureNames {
		if m == "temperature" {
			q.temp = i
		}
	}
	if q.temp < 0 {
		return errors.New("internal error: the generator has no temperature measure")
	}
	ticks := int(c.duration / time.Second)
	// The data ends a second before now: "the last hour" then holds it all
	// at first, and loses its oldest seconds as the run goes on (the checks
	// allow for that).
	now := time.Now().Truncate(time.Second)
	if q.f, err = genFleet(r.ctx, r.progress, 1, c.devices, ticks, now.Add(-time.Duration(ticks+1)*time.Second)); err != nil {
		return err
	}

	cfg := config.Default()
	cfg.DataDir = filepath.Join(r.dir, "data")
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.MQTTAddr, cfg.PGAddr = "", ""
	q.db, q.tb = cfg.Database, cfg.Table
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.logLevel)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	logger := slog.New(slog.NewTextHandler(r.stderr, &slog.HandlerOptions{Level: level}))
	if q.app, err = app.New(cfg, logger); err != nil {
		return fmt.Errorf("configure server: %w", err)
	}
	if err := q.app.Start(r.ctx); err != nil {
		return fmt.Errorf("start server: %w", err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if serr := q.app.Shutdown(ctx); serr != nil && err == nil {
			err = fmt.Errorf("stop server: %w", serr)
		}
	}()
	if err := q.app.DB().EnsureTable(r.ctx, q.db, q.tb, tsdb.TableOptions{
		Retention: tsdb.Retention{Memory: cfg.MemoryRetention, Magnetic: cfg.MagneticRetention},
	}); err != nil {
		return fmt.Errorf("create table: %w", err)
	}
	q.url = "http://" + q.app.HTTPAddr() + "/v1/query"
	tr := &http.Transport{MaxIdleConns: 4, MaxIdleConnsPerHost: 4, DisableCompression: true, IdleConnTimeout: time.Minute}
	defer tr.CloseIdleConnections()
	q.client = &http.Client{Transport: tr, Timeout: 60 * time.Second}

	if err := q.load(); err != nil {
		return err
	}
	if r.want("live") {
		// As a dashboard sees a live store: the older data in the parts
		// that flushes left (not compacted yet), the newest in the hot
		// tier, so a query merges them.
		for _, qq := range q.queries() {
			qq.group, qq.name = "live", "live/"+qq.name
			if err := q.time(qq); err != nil {
				return err
			}
		}
	}
	begin := time.Now()
	if err := q.app.DB().Flush(q.ctx); err != nil {
		return fmt.Errorf("flush: %w", err)
	}
	if err := q.app.DB().Compact(q.ctx); err != nil {
		return fmt.Errorf("compact: %w", err)
	}
	q.logf("  flushed and compacted in %s", time.Since(begin).Round(100*time.Millisecond))
	for _, qq := range q.queries() {
		if !r.want(qq.group) {
			continue
		}
		if err := q.time(qq); err != nil {
			return err
		}
	}
	return nil
}

// liveSlices is how many slices of time load writes, flushing after each
// but the last (which stays in the hot tier).
const liveSlices = 6

// load writes the fleet through the store's Write in batches of 10,000
// records, in liveSlices slices of time, flushing after each but the last
// as the hot tier does under load: the older data is in part files, the
// newest in the hot tier.
func (q *queryBench) load() error {
	const batch = 10_000
	f := q.f
	total := int64(f.ticks) * int64(f.devices) * 4
	var done atomic.Int64
	stop := q.progress.start(fmt.Sprintf("load %d devices × %d s × 4 measures", f.devices, f.ticks), func(el time.Duration) string {
		return countStatus(float64(done.Load()), float64(total), "points", el)
	})
	ctx, cancel := context.WithCancel(q.ctx)
	defer cancel()
	var (
		once  sync.Once
		first error
	)
	fail := func(err error) { once.Do(func() { first = err; cancel() }) }
	var wrote, flushed time.Duration
	for slice := range liveSlices {
		from, to := f.ticks*slice/liveSlices, f.ticks*(slice+1)/liveSlices
		begin := time.Now()
		var wg sync.WaitGroup
		for w := range q.c.writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				recs := make([]tsdb.Record, 0, batch+4)
				flush := func() bool {
					rej, err := q.app.DB().Write(ctx, q.db, q.tb, recs)
					if err != nil {
						fail(fmt.Errorf("load: write: %w", err))
						return false
					}
					if len(rej) > 0 {
						fail(fmt.Errorf("load: %d of %d records rejected, first: %s", len(rej), len(recs), rej[0].Reason))
						return false
					}
					done.Add(int64(len(recs)))
					recs = recs[:0]
					return true
				}
				for tick := from; tick < to; tick++ {
					for dev := w; dev < f.devices; dev += q.c.writers {
						recs = f.appendRecords(recs, tick, dev)
						if len(recs) >= batch && !flush() {
							return
						}
					}
				}
				if len(recs) > 0 {
					flush()
				}
			}()
		}
		wg.Wait()
		wrote += time.Since(begin)
		if first != nil {
			break
		}
		if slice < liveSlices-1 {
			begin = time.Now()
			if err := q.app.DB().Flush(q.ctx); err != nil {
				fail(fmt.Errorf("flush: %w", err))
				break
			}
			flushed += time.Since(begin)
		}
	}
	stop()
	if first != nil {
		return first
	}
	q.logf("  loaded %s points in %s (%s points/s), flushed %d times in %s", short(float64(total)), wrote.Round(100*time.Millisecond), short(float64(total)/wrote.Seconds()), liveSlices-1, flushed.Round(100*time.Millisecond))
	if q.want("load") {
		q.add("load/points", float64(total), "points", nil)
		q.add("load/write", float64(total)/wrote.Seconds(), "points/s", nil)
	}
	return nil
}

// answer is the /v1/query response, as far as the checks need it.
type answer struct {
	Columns []struct{ Name, Type string } `json:"columns"`
	Rows    [][]any                       `json:"rows"`
}

// post runs sql through POST /v1/query and returns the raw body; the time
// taken covers sending the request and reading the whole answer.
func (q *queryBench) post(sql string, body []byte) ([]byte, time.Duration, error) {
	req, err := json.Marshal(map[string]any{"sql": sql, "max_rows": 10_000_000})
	if err != nil {
		return body, 0, err
	}
	begin := time.Now()
	resp, err := q.client.Post(q.url, "application/json", bytes.NewReader(req))
	if err != nil {
		return body, 0, fmt.Errorf("query: %w", err)
	}
	buf := bytes.NewBuffer(body[:0])
	_, err = io.Copy(buf, resp.Body)
	resp.Body.Close()
	took := time.Since(begin)
	if err != nil {
		return buf.Bytes(), 0, fmt.Errorf("query: read the answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return buf.Bytes(), 0, fmt.Errorf("query %q: HTTP %d: %s", sql, resp.StatusCode, bytes.TrimSpace(buf.Bytes()))
	}
	return buf.Bytes(), took, nil
}

// benchQuery is one timed query: make builds the SQL of one iteration
// (random devices), check verifies the answer; before and after bracket
// the moment the server evaluated ago(1h).
type benchQuery struct {
	group, name string
	target      *target
	make        func() (sql string, check func(a *answer, before, after time.Time) error)
}

// time checks the query's answer a few times, then times it.
func (q *queryBench) time(bq benchQuery) error {
	var body []byte
	one := func(verify bool) (time.Duration, error) {
		sql, check := bq.make()
		before := time.Now()
		var took time.Duration
		var err error
		body, took, err = q.post(sql, body)
		if err != nil {
			return 0, err
		}
		if verify {
			var a answer
			if err := json.Unmarshal(body, &a); err != nil {
				return 0, fmt.Errorf("%s: decode the answer: %w", bq.name, err)
			}
			if err := check(&a, before, time.Now()); err != nil {
				return 0, fmt.Errorf("%s: wrong answer to %s: %w", bq.name, sql, err)
			}
		}
		return took, nil
	}
	// Checked runs first; they also warm the caches. The first one's time
	// is reported apart: it is what a dashboard's first load waits for
	// while the page cache does not yet hold the pages it reads (those of
	// the query's series that the queries before it did not read).
	for k := range 3 {
		d, err := one(true)
		if err != nil {
			return err
		}
		if k == 0 {
			q.add(bq.name+"/first", float64(d)/1e6, "ms", nil)
		}
	}
	var done atomic.Int64
	stop := q.progress.start("time "+bq.name, func(el time.Duration) string {
		return countStatus(float64(done.Load()), float64(q.c.iterations), "queries", el)
	})
	defer stop()
	ds := make([]time.Duration, 0, q.c.iterations)
	begin := time.Now()
	for len(ds) < q.c.iterations && (len(ds) < 10 || time.Since(begin) < q.c.queryTime) {
		if err := q.ctx.Err(); err != nil {
			return err
		}
		// Every tenth answer is checked again (outside the timing).
		d, err := one(len(ds)%10 == 9)
		if err != nil {
			return err
		}
		ds = append(ds, d)
		done.Add(1)
	}
	if len(ds) < q.c.iterations {
		q.logf("  %s: %d of %d iterations within --query-time %s", bq.name, len(ds), q.c.iterations, q.c.queryTime)
	}
	q.addLatencies(bq.name, ds, bq.target)
	return nil
}

func (q *queryBench) table() string { return q.db + "." + q.tb }

func (q *queryBench) queries() []benchQuery {
	f := q.f
	tbl := q.table()
	m := q.temp
	// Per-device and per-fleet per-minute sums of the temperature series,
	// for the checks.
	type bin struct {
		sum float64
		n   int
	}
	binOf := func(ns int64) int64 { return ns - ns%int64(time.Minute) }
	// series returns device d's temperature points, oldest first.
	series := func(d int) (ts []int64, vs []float64) {
		ts, vs = make([]int64, f.ticks), make([]float64, f.ticks)
		for k := range f.ticks {
			i := k*f.devices + d
			ts[k], vs[k] = f.times[i], f.vals[i*4+m]
		}
		return ts, vs
	}
	fleetBins := map[int64]*bin{}
	for i := range f.ticks * f.devices {
		b := fleetBins[binOf(f.times[i])]
		if b == nil {
			b = &bin{}
			fleetBins[binOf(f.times[i])] = b
		}
		b.sum += f.vals[i*4+m]
		b.n++
	}
	// firstAfter counts points of ts (ascending) later than cut.
	countAfter := func(ts []int64, cut int64) int {
		return len(ts) - sort.Search(len(ts), func(i int) bool { return ts[i] > cut })
	}
	hour := int64(time.Hour)

	// checkBins checks a per-minute answer (columns bin, avg) against the
	// bins of points later than the server's ago(1h): every minute but the
	// oldest is whole whichever instant in [before, after] that was.
	checkBins := func(a *answer, before, after time.Time, want func(from int64) map[int64]*bin) error {
		full := want(before.UnixNano() - hour)
		least := want(after.UnixNano() - hour)
		if len(a.Rows) < len(least) || len(a.Rows) > len(full) {
			return fmt.Errorf("%d rows, want %d to %d", len(a.Rows), len(least), len(full))
		}
		var oldest int64 = math.MaxInt64
		for k := range full {
			oldest = min(oldest, k)
		}
		prev := int64(math.MinInt64)
		for i, row := range a.Rows {
			if len(row) != 2 {
				return fmt.Errorf("row %d has %d columns, want 2", i, len(row))
			}
			t, err := parseTS(row[0])
			if err != nil {
				return fmt.Errorf("row %d: %w", i, err)
			}
			if t <= prev {
				return fmt.Errorf("row %d: bins not ascending", i)
			}
			prev = t
			b := full[t]
			if b == nil {
				return fmt.Errorf("row %d: bin %s not in the data", i, time.Unix(0, t).UTC())
			}
			v, ok := row[1].(float64)
			if !ok {
				return fmt.Errorf("row %d: average %v is not a number", i, row[1])
			}
			if t != oldest && t != binOf(after.UnixNano()-hour) && !nearlyEqual(v, b.sum/float64(b.n)) {
				return fmt.Errorf("row %d (%s): average %v, want %v", i, time.Unix(0, t).UTC(), v, b.sum/float64(b.n))
			}
		}
		return nil
	}

	return []benchQuery{
		{"q1_series_hour", "q1_series_hour", targetQ1MS, func() (string, func(*answer, time.Time, time.Time) error) {
			d := q.rng.IntN(f.devices)
			sql := fmt.Sprintf("SELECT time, measure_value::double FROM %s WHERE DeviceID = '%s' AND measure_name = 'temperature' AND time > ago(1h) ORDER BY time DESC", tbl, f.ids[d])
			return sql, func(a *answer, before, after time.Time) error {
				ts, vs := series(d)
				lo, hi := countAfter(ts, after.UnixNano()-hour), countAfter(ts, before.UnixNano()-hour)
				if len(a.Rows) < lo || len(a.Rows) > hi {
					return fmt.Errorf("%d rows, want %d to %d", len(a.Rows), lo, hi)
				}
				for i, row := range a.Rows {
					k := len(ts) - 1 - i // newest first
					t, err := parseTS(row[0])
					if err != nil {
						return fmt.Errorf("row %d: %w", i, err)
					}
					if v, ok := row[1].(float64); t != ts[k] || !ok || v != vs[k] {
						return fmt.Errorf("row %d = %v, want %s %v", i, row, time.Unix(0, ts[k]).UTC(), vs[k])
					}
				}
				return nil
			}
		}},
		{"q2_series_minutely", "q2_series_minutely", targetQ2MS, func() (string, func(*answer, time.Time, time.Time) error) {
			d := q.rng.IntN(f.devices)
			sql := fmt.Sprintf("SELECT bin(time, 1m) AS minute, avg(measure_value::double) AS avg_value FROM %s WHERE DeviceID = '%s' AND measure_name = 'temperature' AND time > ago(1h) GROUP BY bin(time, 1m) ORDER BY minute", tbl, f.ids[d])
			return sql, func(a *answer, before, after time.Time) error {
				ts, vs := series(d)
				return checkBins(a, before, after, func(from int64) map[int64]*bin {
					out := map[int64]*bin{}
					for k, t := range ts {
						if t > from {
							b := out[binOf(t)]
							if b == nil {
								b = &bin{}
								out[binOf(t)] = b
							}
							b.sum += vs[k]
							b.n++
						}
					}
					return out
				})
			}
		}},
		{"q3_fleet_minutely", "q3_fleet_minutely", targetQ3MS, func() (string, func(*answer, time.Time, time.Time) error) {
			sql := fmt.Sprintf("SELECT bin(time, 1m) AS minute, avg(measure_value::double) AS avg_value FROM %s WHERE measure_name = 'temperature' AND time > ago(1h) GROUP BY bin(time, 1m) ORDER BY minute", tbl)
			return sql, func(a *answer, before, after time.Time) error {
				return checkBins(a, before, after, func(from int64) map[int64]*bin {
					out := map[int64]*bin{}
					for t, b := range fleetBins {
						// Whole minutes after from; the partial one is
						// not compared (checkBins skips the oldest).
						if t+int64(time.Minute) > from {
							out[t] = b
						}
					}
					return out
				})
			}
		}},
		{"q4_latest_all", "q4_latest_all", targetQ4MS, func() (string, func(*answer, time.Time, time.Time) error) {
			sql := fmt.Sprintf("SELECT DeviceID, measure_name, max_by(measure_value::double, time) AS value FROM %s GROUP BY 1, 2", tbl)
			return sql, func(a *answer, _, _ time.Time) error {
				if len(a.Rows) != f.devices*4 {
					return fmt.Errorf("%d rows, want %d", len(a.Rows), f.devices*4)
				}
				last := (f.ticks - 1) * f.devices
				want := make(map[[2]string]float64, f.devices*4)
				for d, id := range f.ids {
					for mi, name := range measureNames {
						want[[2]string{id, name}] = f.vals[(last+d)*4+mi]
					}
				}
				for i, row := range a.Rows {
					if len(row) != 3 {
						return fmt.Errorf("row %d has %d columns, want 3", i, len(row))
					}
					id, _ := row[0].(string)
					name, _ := row[1].(string)
					w, ok := want[[2]string{id, name}]
					if !ok {
						return fmt.Errorf("row %d %v: unknown or repeated series", i, row)
					}
					if v, ok := row[2].(float64); !ok || v != w {
						return fmt.Errorf("row %d %v: want value %v", i, row, w)
					}
					delete(want, [2]string{id, name})
				}
				return nil
			}
		}},
		{"q5_count_per_device", "q5_count_per_device", targetQ5MS, func() (string, func(*answer, time.Time, time.Time) error) {
			sql := fmt.Sprintf("SELECT DeviceID, count(*) AS points FROM %s GROUP BY DeviceID", tbl)
			return sql, func(a *answer, _, _ time.Time) error {
				if len(a.Rows) != f.devices {
					return fmt.Errorf("%d rows, want %d", len(a.Rows), f.devices)
				}
				seen := make(map[string]bool, f.devices)
				for _, id := range f.ids {
					seen[id] = false
				}
				for i, row := range a.Rows {
					id, _ := row[0].(string)
					if done, ok := seen[id]; !ok || done {
						return fmt.Errorf("row %d %v: unknown or repeated device", i, row)
					}
					seen[id] = true
					if n, ok := row[1].(float64); !ok || int(n) != f.ticks*4 {
						return fmt.Errorf("row %d %v: want %d points", i, row, f.ticks*4)
					}
				}
				return nil
			}
		}},
	}
}

// parseTS reads a /v1/query timestamp ("2006-01-02 15:04:05.000000000", UTC).
func parseTS(v any) (int64, error) {
	s, ok := v.(string)
	if !ok {
		return 0, fmt.Errorf("time %v is not a string", v)
	}
	t, err := time.Parse("2006-01-02 15:04:05.999999999", s)
	if err != nil {
		return 0, fmt.Errorf("time %q: %w", s, err)
	}
	return t.UnixNano(), nil
}

// nearlyEqual reports whether two averages agree but for summation order.
func nearlyEqual(a, b float64) bool {
	return math.Abs(a-b) <= 1e-9*math.Max(1, math.Max(math.Abs(a), math.Abs(b)))
}
