package insights

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"runtime"
	"sync"
	"testing"

	"github.com/sluice-dev/sluice/internal/cputime"
)

func mustDetector(t testing.TB, opts DetectorOptions) *Detector {
	t.Helper()
	d, err := NewDetector(opts)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestDetectorSpikeAndShift(t *testing.T) {
	d := mustDetector(t, DetectorOptions{})
	s := noisy(21, 3000, sec, 10, 0.2)
	s.Values[1000] += 4 // 20 σ spike
	for i := 2000; i < len(s.Values); i++ {
		s.Values[i] -= 3 // level shift down
	}
	var got []int
	for i := range s.Times {
		p := d.Observe("dev-1/temperature", s.Times[i], s.Values[i])
		if p.Time != s.Times[i] || p.Value != s.Values[i] {
			t.Fatalf("point %d: %+v", i, p)
		}
		if p.IsAnomaly {
			got = append(got, i)
		}
	}
	if len(got) < 2 || got[0] != 1000 || got[1] != 2000 {
		t.Fatalf("flagged %v, want 1000 then 2000..", got)
	}
	for _, i := range got[1:] {
		if i < 2000 || i >= 2000+confirmPoints+3 {
			t.Errorf("flag at %d", i)
		}
	}
	st := d.Stats()
	if st.Series != 1 || st.Observed != 3000 || st.Anomalies != uint64(len(got)) || st.Evicted != 0 {
		t.Errorf("stats %+v", st)
	}
}

func TestDetectorWarmupAndLate(t *testing.T) {
	d := mustDetector(t, DetectorOptions{MaxSeries: 10})
	p := d.Observe("k", 100*sec, 5)
	if p.Expected != 5 || p.IsAnomaly {
		t.Errorf("first point %+v", p)
	}
	for i := 1; i < warmPoints; i++ {
		if p := d.Observe("k", (100+int64(i))*sec, 5+float64(i%2)*100); p.IsAnomaly {
			t.Errorf("flag during warm-up at %d: %+v", i, p)
		}
	}
	// A late point is scored but changes nothing.
	var before bytes.Buffer
	if err := d.Snapshot(&before); err != nil {
		t.Fatal(err)
	}
	d.Observe("k", 50*sec, 1e9)
	var after bytes.Buffer
	if err := d.Snapshot(&after); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before.Bytes(), after.Bytes()) {
		t.Error("a late point changed the state")
	}
}

// TestDetectorRedeliveredLatest: a point at exactly a series' latest time
// (a redelivery) is scored but learnt nothing from, whatever its value, in
// the middle of a level shift's run too.
func TestDetectorRedeliveredLatest(t *testing.T) {
	for _, tc := range []struct {
		name  string
		shift int // points from the end that are shifted (a run in progress)
		value float64
	}{
		{"same value", 0, 0},
		{"other value", 0, 1e6},
		{"in a shift's run", 2, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := mustDetector(t, DetectorOptions{})
			s := noisy(5, 200, sec, 10, 0.2)
			for i := len(s.Values) - tc.shift; i < len(s.Values); i++ {
				s.Values[i] += 5
			}
			for i := range s.Times {
				d.Observe("k", s.Times[i], s.Values[i])
			}
			var before, after bytes.Buffer
			if err := d.Snapshot(&before); err != nil {
				t.Fatal(err)
			}
			last := len(s.Times) - 1
			v := s.Values[last]
			if tc.value != 0 {
				v = tc.value
			}
			p := d.Observe("k", s.Times[last], v)
			if p.Time != s.Times[last] || p.Value != v || math.IsNaN(p.Score) {
				t.Errorf("redelivered point scored %+v", p)
			}
			if err := d.Snapshot(&after); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(before.Bytes(), after.Bytes()) {
				t.Error("re-observing the latest point changed the state")
			}
		})
	}
}

func TestDetectorEviction(t *testing.T) {
	d := mustDetector(t, DetectorOptions{MaxSeries: 3})
	for i, k := range []string{"a", "b", "c", "a", "d"} { // "b" is least recent when "d" comes
		for j := range 20 {
			d.Observe(k, int64(i*100+j)*sec, 1)
		}
	}
	st := d.Stats()
	if st.Series != 3 || st.Evicted != 1 {
		t.Fatalf("stats %+v, want 3 series and 1 eviction", st)
	}
	if p := d.Observe("a", 1000*sec, 7); p.Expected == 7 {
		t.Error(`"a" was forgotten`)
	}
	if p := d.Observe("b", 1000*sec, 7); p.Expected != 7 {
		t.Error(`"b" was kept, want it evicted (a fresh series expects its first value)`)
	}
}

// TestDetectorIndexChurn: many more series than the cap, in shards large
// enough for sampled eviction. Every kept series is found at its slot, the
// table holds exactly the kept series, and series seen all along (the hot
// ones) are never forgotten.
func TestDetectorIndexChurn(t *testing.T) {
	for _, limit := range []int{50, 300, 5000} {
		t.Run(fmt.Sprintf("max=%d", limit), func(t *testing.T) {
			d := mustDetector(t, DetectorOptions{MaxSeries: limit, DailySlots: -1, WeeklySlots: -1})
			hot := []string{"hot-a", "hot-b", "hot-c"}
			for i := range 20 * limit {
				step := t0 + int64(i)*sec
				d.Observe(fmt.Sprintf("cold-%d", i), step, 1)
				for _, k := range hot {
					if p := d.Observe(k, step, 5); i > 0 && p.Expected != 5 {
						t.Fatalf("step %d: hot series %s was forgotten (%+v)", i, k, p)
					}
				}
			}
			st := d.Stats()
			if st.Series > limit || st.Series < limit-len(d.shards) || st.Evicted == 0 {
				t.Errorf("stats %+v with max %d", st, limit)
			}
			for si := range d.shards {
				checkShard(t, &d.shards[si])
			}
		})
	}
}

// checkShard checks a shard's index and groups: the table holds exactly
// the groups' leaders, at most half full; every series is found under its
// key and name, and its group's members point at their leader.
func checkShard(t *testing.T, sh *detShard) {
	t.Helper()
	used, leaders := 0, 0
	for _, e := range sh.table {
		if e != 0 {
			used++
		}
	}
	for i := range sh.series {
		s := &sh.series[i]
		if s.lead == int32(i) {
			leaders++
		}
		key, name := sh.nameOf(int32(i))
		if got := sh.series[s.lead].lead; got != s.lead {
			t.Fatalf("series %d: leader %d leads %d", i, s.lead, got)
		}
		found := int32(-1)
		sh.eachMember(s.lead, func(slot int32, n string) {
			if n == name && found < 0 {
				found = slot
			}
			if sh.series[slot].lead != s.lead {
				t.Fatalf("member %d of %q: leader %d, want %d", slot, key, sh.series[slot].lead, s.lead)
			}
		})
		if found != int32(i) {
			t.Fatalf("%q/%q found at %d, lives at %d", key, name, found, i)
		}
		if l := sh.findGroup(sh.series[s.lead].hash, key); l != s.lead {
			t.Fatalf("group %q found at %d, led by %d", key, l, s.lead)
		}
	}
	if used != leaders || 2*used > len(sh.table) {
		t.Errorf("%d table entries for %d groups (%d series) in %d places", used, leaders, len(sh.series), len(sh.table))
	}
}

// feed observes n points of series keyed by k from step i0 and returns them.
func feed(d *Detector, keys []string, i0, n int) []Point {
	var out []Point
	for i := i0; i < i0+n; i++ {
		for j, k := range keys {
			v := 10 + float64(j) + math.Sin(float64(i)/50) + 0.1*math.Sin(float64(i*i%97))
			if i%500 == 7 {
				v += 5
			}
			out = append(out, d.Observe(k, t0+int64(i)*60*sec, v))
		}
	}
	return out
}

func TestDetectorSnapshotRoundTrip(t *testing.T) {
	keys := []string{"a/temperature", "b/humidity", "c/voltage", "d/watt", ""}
	for _, opts := range []DetectorOptions{{}, {DailySlots: -1, WeeklySlots: -1}, {MaxSeries: 5000, DailySlots: 96}} {
		t.Run(fmt.Sprintf("daily=%d/weekly=%d", opts.DailySlots, opts.WeeklySlots), func(t *testing.T) {
			a := mustDetector(t, opts)
			feed(a, keys, 0, 3000) // two days of minute data
			var buf bytes.Buffer
			if err := a.Snapshot(&buf); err != nil {
				t.Fatal(err)
			}
			b := mustDetector(t, opts)
			feed(b, []string{"other"}, 0, 10) // replaced by Restore
			if err := b.Restore(bytes.NewReader(buf.Bytes())); err != nil {
				t.Fatal(err)
			}
			if st := b.Stats(); st.Series != len(keys) {
				t.Errorf("restored %d series, want %d", st.Series, len(keys))
			}
			pa, pb := feed(a, keys, 3000, 500), feed(b, keys, 3000, 500)
			if !reflect.DeepEqual(pa, pb) {
				t.Error("scores after Restore differ from the original's")
			}
			// A second snapshot of both is byte-identical.
			var sa, sb bytes.Buffer
			a.Snapshot(&sa)
			b.Snapshot(&sb)
			if !bytes.Equal(sa.Bytes(), sb.Bytes()) && len(a.shards) == 1 {
				t.Error("snapshots differ")
			}
		})
	}
}

func TestDetectorRestoreErrors(t *testing.T) {
	a := mustDetector(t, DetectorOptions{})
	feed(a, []string{"x", "y"}, 0, 100)
	var buf bytes.Buffer
	if err := a.Snapshot(&buf); err != nil {
		t.Fatal(err)
	}
	good := buf.Bytes()
	flip := func(i int) []byte {
		b := bytes.Clone(good)
		b[i] ^= 0x40
		return b
	}
	for name, data := range map[string][]byte{
		"empty":       nil,
		"magic":       flip(0),
		"version":     flip(4),
		"slots":       flip(6),
		"key":         flip(14),
		"state":       flip(30),
		"checksum":    flip(len(good) - 1),
		"truncated":   good[:len(good)-5],
		"header only": good[:12],
	} {
		d := mustDetector(t, DetectorOptions{})
		feed(d, []string{"keep"}, 0, 20)
		if err := d.Restore(bytes.NewReader(data)); err == nil {
			t.Errorf("%s: no error", name)
		}
		if st := d.Stats(); st.Series != 1 {
			t.Errorf("%s: a failed Restore changed the detector (%d series)", name, st.Series)
		}
	}
	other := mustDetector(t, DetectorOptions{DailySlots: 24})
	if err := other.Restore(bytes.NewReader(good)); err == nil {
		t.Error("restore into other profile sizes: no error")
	}
}

func FuzzRestore(f *testing.F) {
	a, _ := NewDetector(DetectorOptions{MaxSeries: 100, DailySlots: 4, WeeklySlots: 7})
	feed(a, []string{"x", "y"}, 0, 50)
	var buf bytes.Buffer
	a.Snapshot(&buf)
	f.Add(buf.Bytes())
	f.Add([]byte("SLAD\x01\x00\x04\x00\x07\x00\x00\x00\x00"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		d, _ := NewDetector(DetectorOptions{MaxSeries: 100, DailySlots: 4, WeeklySlots: 7})
		if err := d.Restore(bytes.NewReader(data)); err != nil {
			return
		}
		// What was restored must be usable and re-snapshot cleanly.
		d.Observe("x", t0, 1)
		d.Observe("z", t0, 1)
		var out bytes.Buffer
		if err := d.Snapshot(&out); err != nil {
			t.Fatal(err)
		}
		if err := d.Restore(&out); err != nil {
			t.Fatalf("re-restore: %v", err)
		}
	})
}

func TestNewDetectorErrors(t *testing.T) {
	for _, o := range []DetectorOptions{
		{Sensitivity: -1}, {MaxSeries: -1}, {DailySlots: 7}, {WeeklySlots: 100000},
	} {
		if _, err := NewDetector(o); err == nil {
			t.Errorf("%+v: no error", o)
		}
	}
}

func TestDetectorConcurrent(t *testing.T) {
	d := mustDetector(t, DetectorOptions{MaxSeries: 5000})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 2000 {
				d.Observe(fmt.Sprintf("s%d", (i*7+w)%300), t0+int64(i)*sec, float64(i%10))
				if i%500 == 0 {
					d.Snapshot(&bytes.Buffer{})
				}
			}
		}()
	}
	wg.Wait()
	if st := d.Stats(); st.Observed != 8000 || st.Series != 300 {
		t.Errorf("stats %+v", st)
	}
}

// TestDetectorMemory measures the heap per series with the default
// profiles, the figure the package comment gives.
func TestDetectorMemory(t *testing.T) {
	if testing.Short() {
		t.Skip()
	}
	const n = 20000
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("device-%08d/temperature", i) // 27 bytes
	}
	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	d := mustDetector(t, DetectorOptions{MaxSeries: n})
	for _, k := range keys {
		d.Observe(k, t0, 1)
	}
	runtime.GC()
	runtime.ReadMemStats(&m1)
	per := float64(m1.HeapAlloc-m0.HeapAlloc) / n
	t.Logf("heap per series: %.0f bytes (27-byte keys, default profiles)", per)
	if per > 1600 {
		t.Errorf("%.0f bytes per series, documented about 1,100 + key", per)
	}
	runtime.KeepAlive(d)
}

// go test ./internal/insights -run '^$' -bench 'Observe|Detect' -benchmem
func BenchmarkObserve(b *testing.B) {
	for _, n := range []int{1000, 100000} {
		b.Run(fmt.Sprintf("series=%d", n), func(b *testing.B) {
			d := mustDetector(b, DetectorOptions{MaxSeries: n})
			keys := make([]string, n)
			for i := range keys {
				keys[i] = fmt.Sprintf("device-%08d/temperature", i)
				for j := range 20 {
					d.Observe(keys[i], t0+int64(j)*sec, 20)
				}
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				k := i % n
				d.Observe(keys[k], t0+int64(20+i/n)*sec, 20+float64(i&7)*0.01)
			}
		})
	}
	b.Run("series=1000/parallel", func(b *testing.B) {
		d := mustDetector(b, DetectorOptions{MaxSeries: 1000})
		keys := make([]string, 1000)
		for i := range keys {
			keys[i] = fmt.Sprintf("device-%08d/temperature", i)
		}
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				d.Observe(keys[i%1000], t0+int64(i/1000)*sec, 20+float64(i&7)*0.01)
				i++
			}
		})
	})
}

// BenchmarkDetect: batch detection over one day of one-second data per
// series, points/s over all cores.
func BenchmarkDetect(b *testing.B) {
	const points = 86400
	base := make([]Series, 8)
	for i := range base {
		base[i] = noisy(uint64(i), points, sec, 20, 0.3)
	}
	b.Run("series=1/points=86400", func(b *testing.B) {
		dst := make([]Point, 0, points)
		b.ReportAllocs()
		for b.Loop() {
			dst, _ = AppendAnomalies(dst[:0], base[0], AnomalyOptions{})
		}
		b.ReportMetric(float64(points)*float64(b.N)/b.Elapsed().Seconds(), "points/s")
	})
	b.Run("series=64/points=86400/parallel", func(b *testing.B) {
		series := make([]Series, 64)
		for i := range series {
			series[i] = base[i%len(base)]
		}
		b.ReportAllocs()
		for b.Loop() {
			err := ForEachAnomalies(context.Background(), series, AnomalyOptions{}, func(int, []Point) error { return nil })
			if err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(points*len(series))*float64(b.N)/b.Elapsed().Seconds(), "points/s")
	})
}

// TestObserveBatchMatchesObserve: ObserveBatch gives exactly the Points,
// counters and evictions of Observe called point by point, with one shard
// and with 64, with and without evictions, series repeating within a
// batch, out-of-order points and new series mid-batch.
func TestObserveBatchMatchesObserve(t *testing.T) {
	for _, tc := range []struct {
		name      string
		maxSeries int
		keys      int
	}{
		{"one_shard", 1000, 300},
		{"one_shard_evicting", 100, 300},
		{"shards", 8192, 2000},
		{"shards_evicting", 4096, 9000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			one := mustDetector(t, DetectorOptions{MaxSeries: tc.maxSeries})
			many := mustDetector(t, DetectorOptions{MaxSeries: tc.maxSeries})
			many.seed = one.seed // the same shards and eviction samples
			rng := rand.New(rand.NewPCG(1, 2))
			last := make([]int64, tc.keys)
			var pts []Obs
			var want, got []Point
			for round := range 40 {
				pts = pts[:0]
				n := 1 + rng.IntN(3000)
				for range n {
					k := rng.IntN(tc.keys)
					if rng.IntN(50) != 0 { // else an old point, which does not teach
						last[k] += sec * int64(1+rng.IntN(5))
					}
					v := 20 + rng.NormFloat64()
					if rng.IntN(200) == 0 {
						v += 30
					}
					pts = append(pts, Obs{Key: fmt.Sprintf("device-%05d/temperature", k), T: t0 + last[k], V: v})
				}
				want = want[:0]
				for _, p := range pts {
					want = append(want, one.Observe(p.Key, p.T, p.V))
				}
				got = many.ObserveBatch(got[:0], pts)
				if !reflect.DeepEqual(got, want) {
					for i := range want {
						if i >= len(got) || !reflect.DeepEqual(got[i], want[i]) {
							t.Fatalf("round %d point %d (%+v): got %+v, want %+v", round, i, pts[i], got[min(i, len(got)-1)], want[i])
						}
					}
					t.Fatalf("round %d: got %d points, want %d", round, len(got), len(want))
				}
			}
			if a, b := one.Stats(), many.Stats(); a != b {
				t.Errorf("stats: ObserveBatch %+v, Observe %+v", b, a)
			}
			var sa, sb bytes.Buffer
			if err := one.Snapshot(&sa); err != nil {
				t.Fatal(err)
			}
			if err := many.Snapshot(&sb); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(sa.Bytes(), sb.Bytes()) {
				t.Error("snapshots differ")
			}
		})
	}
}

// BenchmarkObserveBatch: ObserveBatch over batches of 10,000 points of
// many series, against Observe point by point, per point. measures=1
// names each series by a whole key; measures=4 names 4 series per device
// by the device's key and a measure name, a device's points side by side
// (as the pipeline's scorer does).
//
//	go test ./internal/insights -run '^$' -bench 'ObserveBatch' -benchmem -count 5
func BenchmarkObserveBatch(b *testing.B) {
	for _, tc := range []struct{ series, measures int }{{1000, 1}, {40000, 1}, {40000, 4}} {
		for _, batch := range []bool{false, true} {
			if tc.measures > 1 && !batch {
				continue
			}
			name := fmt.Sprintf("series=%d/batch=%v", tc.series, batch)
			if tc.measures > 1 {
				name = fmt.Sprintf("series=%d/measures=%d/batch=%v", tc.series, tc.measures, batch)
			}
			b.Run(name, func(b *testing.B) {
				n := tc.series
				d := mustDetector(b, DetectorOptions{})
				pts := make([]Obs, 10000)
				measures := [...]string{"/temperature", "/humidity", "/pressure", "/power"}
				for i := range pts {
					if tc.measures == 1 {
						pts[i].Key = fmt.Sprintf("device-%08d/temperature", i%n)
						continue
					}
					s := i % n
					pts[i].Key = fmt.Sprintf("device-%08d", s/tc.measures)
					if i > 0 && pts[i-1].Key == pts[i].Key {
						pts[i].Key = pts[i-1].Key // one view per device, as the scorer's
					}
					pts[i].Name = measures[s%tc.measures]
				}
				step := 0
				next := func() {
					for i := range pts {
						pts[i].T = t0 + int64(step+i/n)*sec
						pts[i].V = 20 + float64(i&7)*0.01
					}
					step += (len(pts) + n - 1) / n
				}
				for range 20 * n / len(pts) { // warm every series up
					next()
					d.ObserveBatch(nil, pts)
				}
				var out []Point
				b.ReportAllocs()
				b.ResetTimer()
				cpu0 := cputime.Now()
				for b.Loop() {
					next()
					if batch {
						out = d.ObserveBatch(out[:0], pts)
					} else {
						out = out[:0]
						for _, p := range pts {
							out = append(out, d.Observe(p.Key, p.T, p.V))
						}
					}
				}
				cpu := cputime.Now() - cpu0
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(pts)), "ns/point")
				if cpu > 0 {
					b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N*len(pts)), "cpu-ns/point")
				}
			})
		}
	}
}
