package insights

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
)

// refDetector is the Detector as it was before groups, reduced to its
// semantics: one model and profile per whole series key, exact LRU
// eviction beyond max (what the Detector does in one shard of at most 64
// series), and the version-1 snapshot it wrote.
type refDetector struct {
	p                           params
	max, profLen                int
	series                      map[string]*refSeries
	tick                        uint64
	observed, anomalies, evicts uint64
}

type refSeries struct {
	m    model
	prof []float32
	seen uint64
}

func newRef(t testing.TB, opts DetectorOptions) *refDetector {
	d := mustDetector(t, opts) // for the validated parameters
	return &refDetector{p: d.p, max: d.maxSeries, profLen: d.profLen, series: map[string]*refSeries{}}
}

func (r *refDetector) profiles(s *refSeries) (daily, weekly []float32) {
	if r.p.dailySlots > 0 {
		daily = s.prof[:r.p.dailySlots]
	}
	if r.p.weeklySlots > 0 {
		weekly = s.prof[r.p.dailySlots:]
	}
	return daily, weekly
}

func (r *refDetector) observe(key string, t int64, v float64) Point {
	s := r.series[key]
	if s == nil {
		if len(r.series) >= r.max {
			var old string
			var seen uint64 = math.MaxUint64
			for k, o := range r.series {
				if o.seen < seen {
					old, seen = k, o.seen
				}
			}
			delete(r.series, old)
			r.evicts++
		}
		s = &refSeries{prof: make([]float32, r.profLen)}
		r.series[key] = s
	}
	r.tick++
	s.seen = r.tick
	daily, weekly := r.profiles(s)
	pt := s.m.observe(&r.p, daily, weekly, t, v)
	r.observed++
	if pt.IsAnomaly {
		r.anomalies++
	}
	return pt
}

func (r *refDetector) stats() DetectorStats {
	return DetectorStats{Series: len(r.series), Observed: r.observed, Anomalies: r.anomalies, Evicted: r.evicts}
}

// snapshotV1 writes the reference's state as the Detector of version 1
// did (its appendSnapSeries and Snapshot, copied).
func (r *refDetector) snapshotV1() []byte {
	le := binary.LittleEndian
	b := append([]byte(snapMagic), 1, 0)
	b = le.AppendUint16(b, uint16(r.p.dailySlots))
	b = le.AppendUint16(b, uint16(r.p.weeklySlots))
	b = le.AppendUint16(b, 0)
	keys := make([]string, 0, len(r.series))
	for k := range r.series {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int { return int(r.series[a].seen) - int(r.series[b].seen) })
	for _, key := range keys {
		s := r.series[key]
		daily, weekly := r.profiles(s)
		s.m.flush(daily, weekly)
		m := &s.m
		b = append(b, 1)
		b = binary.AppendUvarint(b, uint64(len(key)))
		b = append(b, key...)
		for _, f := range [...]float64{m.level, m.trend, m.absDev, m.slowDev, m.fastDev, m.interval, m.runSum, m.resol, m.prev, m.slowLevel} {
			b = le.AppendUint64(b, math.Float64bits(f))
		}
		b = le.AppendUint64(b, uint64(m.last))
		b = le.AppendUint32(b, m.n)
		b = le.AppendUint32(b, uint32(m.run))
		b = append(b, m.upHist, m.downHist)
		for _, f := range s.prof {
			b = le.AppendUint32(b, math.Float32bits(f))
		}
	}
	b = append(b, 0)
	b = le.AppendUint64(b, uint64(len(keys)))
	return le.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

// groupedBatch returns a batch of telemetry-like points: events of random
// devices, each event's measures side by side (sometimes only some of them,
// sometimes in another order; measure 0 unnamed), now and then a late
// point or a NaN.
func groupedBatch(rng *rand.Rand, pts []Obs, devices, measures int, last []int64) []Obs {
	n := 1 + rng.IntN(800)
	for range n {
		dev := rng.IntN(devices)
		if rng.IntN(50) != 0 { // else an old point, which does not teach
			last[dev] += sec * int64(1+rng.IntN(5))
		}
		order := rng.Perm(measures)
		if rng.IntN(10) != 0 {
			slices.Sort(order)
		}
		key := fmt.Sprintf("\x03dev-%05d", dev)
		for _, m := range order {
			if rng.IntN(20) == 0 {
				continue
			}
			v := 20 + float64(m) + rng.NormFloat64()
			switch rng.IntN(300) {
			case 0:
				v += 30
			case 1:
				v = math.NaN()
			}
			name := fmt.Sprintf("/m%d", m)
			if m == 0 {
				name = "" // a device's unnamed series: its group starts solo
			}
			pts = append(pts, Obs{Key: key, Name: name, T: t0 + last[dev], V: v})
		}
	}
	return pts
}

// TestObserveBatchGroupsMatchReference: ObserveBatch with points named by
// device key and measure name gives bit for bit the Points and counters of
// the detector before groups fed the same points under whole keys, with
// one shard and 64, with exact LRU eviction and without.
func TestObserveBatchGroupsMatchReference(t *testing.T) {
	for _, tc := range []struct {
		name               string
		maxSeries          int
		devices, measures  int
		observeOnePerPoint bool
	}{
		{"one_shard", 1000, 150, 4, false},
		{"one_shard_evicting", 40, 30, 3, false},
		{"shards", 100000, 2000, 4, false},
		{"shards_observe", 100000, 300, 4, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := DetectorOptions{MaxSeries: tc.maxSeries}
			d, ref := mustDetector(t, opts), newRef(t, opts)
			rng := rand.New(rand.NewPCG(3, 4))
			last := make([]int64, tc.devices)
			var pts []Obs
			var want, got []Point
			for round := range 60 {
				pts = groupedBatch(rng, pts[:0], tc.devices, tc.measures, last)
				want = want[:0]
				for _, p := range pts {
					want = append(want, ref.observe(p.Key+p.Name, p.T, p.V))
				}
				if tc.observeOnePerPoint {
					got = got[:0]
					for _, p := range pts {
						got = append(got, d.Observe(p.Key+p.Name, p.T, p.V))
					}
				} else {
					got = d.ObserveBatch(got[:0], pts)
				}
				comparePoints(t, round, pts, got, want)
			}
			if a, b := d.Stats(), ref.stats(); a != b {
				t.Errorf("stats: %+v, reference %+v", a, b)
			}
			for si := range d.shards {
				checkShard(t, &d.shards[si])
			}
		})
	}
}

func comparePoints(t *testing.T, round int, pts []Obs, got, want []Point) {
	t.Helper()
	same := func(a, b Point) bool {
		return a.Time == b.Time && a.IsAnomaly == b.IsAnomaly &&
			sameBits(a.Value, b.Value) && sameBits(a.Expected, b.Expected) && sameBits(a.Lower, b.Lower) &&
			sameBits(a.Upper, b.Upper) && sameBits(a.Score, b.Score)
	}
	if len(got) != len(want) {
		t.Fatalf("round %d: %d points, want %d", round, len(got), len(want))
	}
	for i := range want {
		if !same(got[i], want[i]) {
			t.Fatalf("round %d point %d (%+v): got %+v, want %+v", round, i, pts[i], got[i], want[i])
		}
	}
}

func sameBits(a, b float64) bool { return math.Float64bits(a) == math.Float64bits(b) }

// TestDetectorRestoreVersion1: a version-1 snapshot (whole keys) restores;
// each series is taken up by the first point of a (key, name) that spells
// its key, and goes on exactly as the old detector would; a snapshot taken
// before all are met keeps the others for the next restore.
func TestDetectorRestoreVersion1(t *testing.T) {
	for _, opts := range []DetectorOptions{{}, {DailySlots: -1, WeeklySlots: -1}, {MaxSeries: 64}} {
		t.Run(fmt.Sprintf("max=%d/daily=%d", opts.MaxSeries, opts.DailySlots), func(t *testing.T) {
			const devices, measures = 12, 4
			ref := newRef(t, opts)
			rng := rand.New(rand.NewPCG(5, 6))
			last := make([]int64, devices)
			var pts []Obs
			for range 30 {
				pts = groupedBatch(rng, pts[:0], devices, measures, last)
				for _, p := range pts {
					ref.observe(p.Key+p.Name, p.T, p.V)
				}
			}
			v1 := ref.snapshotV1()
			d := mustDetector(t, opts)
			if err := d.Restore(bytes.NewReader(v1)); err != nil {
				t.Fatal(err)
			}
			if a, b := d.Stats().Series, len(ref.series); a != b {
				t.Fatalf("restored %d series, want %d", a, b)
			}
			var got, want []Point
			for round := range 30 {
				pts = groupedBatch(rng, pts[:0], devices/2, measures, last) // half the devices only
				want = want[:0]
				for _, p := range pts {
					want = append(want, ref.observe(p.Key+p.Name, p.T, p.V))
				}
				got = d.ObserveBatch(got[:0], pts)
				comparePoints(t, round, pts, got, want)
				if round == 10 {
					// Through a snapshot of version 2 with unsplit series in it.
					var buf bytes.Buffer
					if err := d.Snapshot(&buf); err != nil {
						t.Fatal(err)
					}
					d = mustDetector(t, opts)
					if err := d.Restore(&buf); err != nil {
						t.Fatal(err)
					}
				}
			}
			if a, b := d.Stats().Series, len(ref.series); a != b {
				t.Errorf("%d series, reference %d", a, b)
			}
			// The other half's series come from the snapshot too.
			for round := range 10 {
				pts = groupedBatch(rng, pts[:0], devices, measures, last)
				want = want[:0]
				for _, p := range pts {
					want = append(want, ref.observe(p.Key+p.Name, p.T, p.V))
				}
				got = d.ObserveBatch(got[:0], pts)
				comparePoints(t, 100+round, pts, got, want)
			}
			if d.unsplit.n.Load() != 0 {
				t.Errorf("%d unsplit series left", d.unsplit.n.Load())
			}
		})
	}
}

// TestDetectorUnsplitCap: unsplit series waiting count against MaxSeries:
// new series push the least recently seen of them out.
func TestDetectorUnsplitCap(t *testing.T) {
	opts := DetectorOptions{MaxSeries: 20, DailySlots: -1, WeeklySlots: -1}
	ref := newRef(t, opts)
	for i := range 20 {
		ref.observe(fmt.Sprintf("old-%02d", i), t0, 5)
	}
	d := mustDetector(t, opts)
	if err := d.Restore(bytes.NewReader(ref.snapshotV1())); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		d.ObserveBatch(nil, []Obs{{Key: "new-", Name: fmt.Sprint(i), T: t0, V: 1}})
	}
	if st := d.Stats(); st.Series != 20 {
		t.Errorf("stats %+v, want 20 series", st)
	}
	// The five least recent went; the next is still there.
	if _, ok := d.unsplit.idx["old-04"]; ok {
		t.Error("old-04 kept")
	}
	if p := d.ObserveBatch(nil, []Obs{{Key: "old-", Name: "05", T: t0 + sec, V: 1}}); p[0].Expected != 5 || d.unsplit.n.Load() != 14 {
		t.Errorf("old-05 not taken up: %+v, %d unsplit left", p[0], d.unsplit.n.Load())
	}
	if !reflect.DeepEqual(d.Stats(), DetectorStats{Series: 20, Observed: 6}) {
		t.Errorf("stats %+v", d.Stats())
	}
}

// TestStreamStepMatchesModel: the Detector's model step gives bit for bit
// the Points, state and profiles of model.observeInto on the same streams:
// regular and jittery intervals, gaps, late points, NaN and ±Inf values,
// spikes, level shifts, noise bursts, times before 1970, every profile
// configuration.
func TestStreamStepMatchesModel(t *testing.T) {
	for _, slots := range [][2]int{{48, 168}, {-1, -1}, {96, -1}, {-1, 168}, {4, 7}} {
		for seed := range uint64(4) {
			t.Run(fmt.Sprintf("daily=%d/weekly=%d/seed=%d", slots[0], slots[1], seed), func(t *testing.T) {
				d := mustDetector(t, DetectorOptions{DailySlots: slots[0], WeeklySlots: slots[1]})
				p := &d.p
				rng := rand.New(rand.NewPCG(seed, 7))
				var ma, mb model
				profA := make([]float32, d.profLen)
				profB := make([]float32, 3+d.profLen+5) // at an offset in a larger array
				const off = 3
				var daily, weekly []float32
				if p.dailySlots > 0 {
					daily = profA[:p.dailySlots]
				}
				if p.weeklySlots > 0 {
					weekly = profA[p.dailySlots:]
				}
				tm := t0 + int64(rng.IntN(1000))*sec
				if seed == 3 {
					tm = -40 * nsPerDay // before 1970
				}
				step := []int64{sec, 60 * sec, 300 * sec}[seed%3]
				level := 10.0
				var pa, pb Point
				for i := range 30000 {
					switch x := rng.IntN(1000); {
					case x < 5: // a gap
						tm += step * int64(2+rng.IntN(500))
					case x < 25: // late: the same time or older
						tm -= step * int64(rng.IntN(3))
					default:
						tm += step + int64(rng.NormFloat64()*float64(step)/20)
					}
					if i%5000 == 4999 {
						level += 3 // a shift
					}
					noise := 0.2
					if i%7000 > 6900 {
						noise = 3 // a burst
					}
					v := level + 2*math.Sin(float64(tm)/float64(nsPerDay)*2*math.Pi) + noise*rng.NormFloat64()
					switch rng.IntN(2000) {
					case 0:
						v = math.NaN()
					case 1:
						v = math.Inf(1 - 2*rng.IntN(2))
					case 2:
						v += 40
					}
					ma.observeInto(&pa, p, daily, weekly, tm, v)
					mb.stepStream(&pb, p, d.profLen > 0, profB, off, tm, v)
					if !(pa.Time == pb.Time && pa.IsAnomaly == pb.IsAnomaly && sameBits(pa.Value, pb.Value) &&
						sameBits(pa.Expected, pb.Expected) && sameBits(pa.Lower, pb.Lower) && sameBits(pa.Upper, pb.Upper) && sameBits(pa.Score, pb.Score)) {
						t.Fatalf("point %d (t %d, v %v): step %+v, model %+v", i, tm, v, pb, pa)
					}
					if ma != mb {
						t.Fatalf("point %d: state %+v, model %+v", i, mb, ma)
					}
				}
				ma.flush(daily, weekly)
				if p.dailySlots > 0 {
					mb.day.flush(profB[off : off+p.dailySlots])
				}
				if p.weeklySlots > 0 {
					mb.week.flush(profB[off+p.dailySlots : off+d.profLen])
				}
				if !slices.Equal(profA, profB[off:off+d.profLen]) {
					t.Error("profiles differ")
				}
			})
		}
	}
}
