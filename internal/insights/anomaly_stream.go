package insights

// Streaming anomaly detection: the batch model (anomaly.go) run forward one
// point at a time, with state per series kept in fixed-size slots.
//
// Memory: a series costs its record (the model with its cached profile
// slots, the key's header, hash and recency, padded to 192 bytes), its profiles (4
// bytes per slot: 864 bytes with the default 48 daily and 168 weekly
// slots), its key's bytes and 2 to 4 index entries of 8 bytes: about 1,100
// bytes plus the key's length with the defaults (TestDetectorMemory
// measures 1,180 to 1,290 bytes with 27-byte keys, slice growth included), about
// 230 bytes plus the key without profiles. MaxSeries bounds the number of
// series, so the Detector never holds more than MaxSeries times that; an
// old series (about the least recently seen, see detShard) is forgotten to
// make room.
//
// Snapshot format (all integers little-endian; see Snapshot):
//
//	header   magic "SLAD" | version u16 = 1 | daily slots u16 | weekly slots u16 | zero u16
//	series   tag u8 = 1 | key length uvarint | key bytes
//	         | level f64 | trend f64 | absDev f64 | slowDev f64 | fastDev f64
//	         | interval f64 | runSum f64 | resol f64 | prev f64 | slowLevel f64 | last i64
//	         | n u32 | run i32 | upHist u8 | downHist u8
//	         | daily f32 × daily slots | weekly f32 × weekly slots
//	         … one per series, least recently seen first
//	trailer  tag u8 = 0 | series count u64 | CRC-32C u32 of every byte before it

import (
	"bufio"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"hash/maphash"
	"io"
	"math"
	"slices"
	"strings"
	"sync"
)

// DefaultMaxSeries is the default cap on the series a Detector keeps.
const DefaultMaxSeries = 100_000

// DetectorOptions configure a Detector. The zero value is valid.
type DetectorOptions struct {
	// Sensitivity is the z threshold, as in AnomalyOptions (0 = default).
	Sensitivity float64
	// MaxSeries caps the series kept (0 = DefaultMaxSeries); beyond it
	// the least recently seen series is forgotten (approximately: the cap
	// is kept per shard of the key space, and a shard of more than 64
	// series forgets the least recently seen of a sample of 32).
	MaxSeries int
	// DailySlots is the number of slots in a day's profile (0 = 48, i.e.
	// half-hours; negative = no daily profile). It must be at least 2 and
	// divide a day in whole nanoseconds.
	DailySlots int
	// WeeklySlots is the number of slots in a week's profile (0 = 168,
	// i.e. hours of the week; negative = no weekly profile; at least 2).
	WeeklySlots int
}

// DetectorStats are a Detector's counters.
type DetectorStats struct {
	Series    int    // series held now
	Observed  uint64 // points scored
	Anomalies uint64 // points flagged
	Evicted   uint64 // series forgotten to respect MaxSeries
}

// Detector scores points one at a time, per series, as they are written.
// It is safe for concurrent use. Points of one series should come in time
// order: a point not newer than the series' latest (an older one, or a
// redelivery of the latest) is scored against the current baseline but
// does not update it.
type Detector struct {
	// set in NewDetector, read-only after
	p        params
	seed     maphash.Seed
	shards   []detShard
	mask     uint64
	perShard int
	profLen  int
	scratch  sync.Pool // of *obsScratch, for ObserveBatch
}

// detShard is one part of the key space with its own lock and index.
// Series live in series[0..len-1], reused on eviction.
//
// The index is an open-addressing table with linear probing, kept at most
// half full: an entry is the key's hash's high 32 bits (the tag, which also
// gives the entry's home position) above the series' slot + 1; 0 is empty.
// One hash serves the shard (its low bits) and the table (its high bits),
// and a lookup compares tags before it touches a series. Removal shifts
// the following entries back, so there are no tombstones.
//
// Recency is a per-shard tick stored in the series on every point, which
// costs one store where a linked list would touch the neighbours; eviction
// looks for the oldest tick among the whole shard when it is small and
// among evictSample slots otherwise (approximately the least recently
// seen, as Redis does it).
type detShard struct {
	mu sync.Mutex
	// guarded by mu
	table     []uint64
	series    []detSeries
	prof      []float32 // profLen per series
	tick      uint64
	observed  uint64
	anomalies uint64
	evicted   uint64
	touch     float64  // written by ObserveBatch only so that its look-ahead reads count
	_         [64]byte // keep neighbouring shards' locks off one cache line
}

// detSeries is one series' state, its key and what the index and the
// eviction need, together so that a point touches one place.
type detSeries struct {
	m    model
	key  string
	hash uint64 // maphash of key with the Detector's seed
	seen uint64 // the shard's tick at the series' latest point
	// 192 bytes: a record spans exactly three cache lines (the slice's
	// array is 64-byte aligned once it is large).
	_ [8]byte
}

// evictSample is how many series eviction compares in a large shard.
const evictSample = 32

// NewDetector returns a Detector for opts.
func NewDetector(opts DetectorOptions) (*Detector, error) {
	thr := opts.Sensitivity
	if thr == 0 {
		thr = DefaultSensitivity
	}
	if !(thr > 0) || math.IsInf(thr, 0) {
		return nil, fmt.Errorf("insights: new detector: sensitivity %v: want a positive number", opts.Sensitivity)
	}
	maxSeries := opts.MaxSeries
	if maxSeries == 0 {
		maxSeries = DefaultMaxSeries
	}
	if maxSeries < 1 || maxSeries > math.MaxInt32 {
		return nil, fmt.Errorf("insights: new detector: max series %d out of range 1..%d", opts.MaxSeries, math.MaxInt32)
	}
	slots := func(n, def int, period int64, name string) (int, error) {
		switch {
		case n == 0:
			n = def
		case n < 0:
			return 0, nil
		}
		// One slot would be a constant the level already carries (and a
		// segment of one slot with itself).
		if n < 2 || n > 65535 || period%int64(n) != 0 {
			return 0, fmt.Errorf("insights: new detector: %d %s slots: want 2 to 65535 dividing the period in whole nanoseconds", n, name)
		}
		return n, nil
	}
	ds, err := slots(opts.DailySlots, defaultDailySlots, nsPerDay, "daily")
	if err != nil {
		return nil, err
	}
	ws, err := slots(opts.WeeklySlots, defaultWeeklySlots, nsPerWeek, "weekly")
	if err != nil {
		return nil, err
	}
	nShards := 1
	if maxSeries >= 4096 {
		nShards = 64
	}
	d := &Detector{
		p:        newParams(thr, ds, ws),
		seed:     maphash.MakeSeed(),
		shards:   make([]detShard, nShards),
		mask:     uint64(nShards - 1),
		perShard: maxSeries / nShards,
		profLen:  ds + ws,
	}
	for i := range d.shards {
		d.shards[i].reset()
	}
	return d, nil
}

func (sh *detShard) reset() {
	sh.table, sh.series, sh.prof, sh.tick = nil, nil, nil, 0
}

// Observe scores the point (t in Unix nanoseconds, v) of the series named
// seriesKey, learns from it, and returns its Point. A new series starts
// with an empty model and flags nothing during its first points (see the
// file comment of anomaly.go). It does not allocate except when it meets a
// new series.
func (d *Detector) Observe(seriesKey string, t int64, v float64) Point {
	h := maphash.String(d.seed, seriesKey)
	sh := &d.shards[h&d.mask]
	sh.mu.Lock()
	i := sh.find(h, seriesKey)
	if i < 0 {
		i = sh.add(strings.Clone(seriesKey), h, d.perShard, d.profLen)
	}
	s := &sh.series[i]
	sh.tick++
	s.seen = sh.tick
	daily, weekly := d.profiles(sh, i)
	pt := s.m.observe(&d.p, daily, weekly, t, v)
	sh.observed++
	if pt.IsAnomaly {
		sh.anomalies++
	}
	sh.mu.Unlock()
	return pt
}

// Obs is one point for ObserveBatch: its series key, time (Unix
// nanoseconds) and value.
type Obs struct {
	Key string
	T   int64
	V   float64
}

// ObserveBatch scores pts as Observe would one after the other and
// appends their Points to dst in the order of pts. It is several times
// faster per point than Observe on many series: it takes each shard's lock
// once for all the batch's points of that shard, and looks up a chunk of
// points before it updates any, so that their cache misses (a series is
// a few cache lines in a table of megabytes) overlap instead of taking
// turns behind each lock. Points of one series are handled in their order
// in pts; the Detector does not keep pts or their keys.
func (d *Detector) ObserveBatch(dst []Point, pts []Obs) []Point {
	base := len(dst)
	dst = slices.Grow(dst, len(pts))[:base+len(pts)]
	out := dst[base:]
	sc, _ := d.scratch.Get().(*obsScratch)
	if sc == nil {
		sc = &obsScratch{}
	}
	defer d.scratch.Put(sc)
	// Hash every key, then order the points by shard, keeping their order
	// within a shard (a counting sort).
	sc.hash = slices.Grow(sc.hash[:0], len(pts))[:len(pts)]
	sc.order = slices.Grow(sc.order[:0], len(pts))[:len(pts)]
	sc.start = slices.Grow(sc.start[:0], len(d.shards)+1)[:len(d.shards)+1]
	clear(sc.start)
	for i := range pts {
		h := maphash.String(d.seed, pts[i].Key)
		sc.hash[i] = h
		sc.start[h&d.mask+1]++
	}
	for s := 1; s < len(sc.start); s++ {
		sc.start[s] += sc.start[s-1]
	}
	next := append(sc.next[:0], sc.start[:len(d.shards)]...)
	sc.next = next
	for i := range pts {
		s := sc.hash[i] & d.mask
		sc.order[next[s]] = int32(i)
		next[s]++
	}
	for s := range d.shards {
		if run := sc.order[sc.start[s]:sc.start[s+1]]; len(run) > 0 {
			d.observeRun(&d.shards[s], run, sc.hash, pts, out)
		}
	}
	return dst
}

// obsScratch is ObserveBatch's scratch space, pooled per Detector.
type obsScratch struct {
	hash  []uint64
	order []int32
	start []int32 // per shard: its first index in order; one more at the end
	next  []int32
}

// lookAhead is how many points ObserveBatch looks up before it updates
// them: enough misses in flight to hide most of the memory latency.
const lookAhead = 16

// observeRun handles the points run (indices into pts, all of shard sh)
// under one hold of its lock.
func (d *Detector) observeRun(sh *detShard, run []int32, hash []uint64, pts []Obs, out []Point) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	var slot [lookAhead]int32
	for len(run) > 0 {
		part := run[:min(lookAhead, len(run))]
		run = run[len(part):]
		// Look up every point of the part first; the lookups do not
		// depend on each other, so the processor overlaps their misses.
		// Reading the series' first two cache lines (the key compare
		// read the third) starts those misses too.
		var touch float64
		for j, i := range part {
			k := sh.find(hash[i], pts[i].Key)
			slot[j] = k
			if k >= 0 {
				touch += sh.series[k].m.level + sh.series[k].m.prev
			}
		}
		sh.touch = touch // a use, so the reads are not left out
		// Then update them in order. Adding a series (which may evict
		// another, reusing its slot) invalidates the slots found after
		// it, so from then on each point is looked up again.
		changed := false
		for j, i := range part {
			p := &pts[i]
			k := slot[j]
			if changed {
				k = sh.find(hash[i], p.Key)
			}
			if k < 0 {
				k = sh.add(strings.Clone(p.Key), hash[i], d.perShard, d.profLen)
				changed = true
			}
			s := &sh.series[k]
			sh.tick++
			s.seen = sh.tick
			daily, weekly := d.profiles(sh, k)
			pt := &out[i]
			s.m.observeInto(pt, &d.p, daily, weekly, p.T, p.V)
			sh.observed++
			if pt.IsAnomaly {
				sh.anomalies++
			}
		}
	}
}

func (d *Detector) profiles(sh *detShard, i int32) (daily, weekly []float32) {
	if d.profLen == 0 {
		return nil, nil
	}
	pr := sh.prof[int(i)*d.profLen : (int(i)+1)*d.profLen : (int(i)+1)*d.profLen]
	if d.p.dailySlots > 0 {
		daily = pr[:d.p.dailySlots]
	}
	if d.p.weeklySlots > 0 {
		weekly = pr[d.p.dailySlots:]
	}
	return daily, weekly
}

// find returns the slot of the series with hash h and key, or -1.
func (sh *detShard) find(h uint64, key string) int32 {
	if len(sh.table) == 0 {
		return -1
	}
	tm := uint64(len(sh.table) - 1)
	tag := h >> 32
	for pos := tag & tm; ; pos = (pos + 1) & tm {
		e := sh.table[pos]
		if e == 0 {
			return -1
		}
		if e>>32 == tag {
			if i := int32(uint32(e)) - 1; sh.series[i].key == key {
				return i
			}
		}
	}
}

// insert puts the entry for slot i of hash h in the table (which has room).
func (sh *detShard) insert(h uint64, i int32) {
	tm := uint64(len(sh.table) - 1)
	tag := h >> 32
	pos := tag & tm
	for sh.table[pos] != 0 {
		pos = (pos + 1) & tm
	}
	sh.table[pos] = tag<<32 | uint64(uint32(i+1))
}

// grow doubles the table, placing the entries by their tags.
func (sh *detShard) grow() {
	old := sh.table
	sh.table = make([]uint64, max(16, 2*len(old)))
	tm := uint64(len(sh.table) - 1)
	for _, e := range old {
		if e == 0 {
			continue
		}
		pos := (e >> 32) & tm
		for sh.table[pos] != 0 {
			pos = (pos + 1) & tm
		}
		sh.table[pos] = e
	}
}

// remove deletes slot i's entry, shifting back the entries after it that
// may move closer to their home, so that no probe meets a hole.
func (sh *detShard) remove(i int32) {
	tm := uint64(len(sh.table) - 1)
	want := uint64(uint32(i + 1))
	pos := (sh.series[i].hash >> 32) & tm
	for sh.table[pos]&math.MaxUint32 != want {
		pos = (pos + 1) & tm
	}
	for {
		sh.table[pos] = 0
		j := pos
		for {
			j = (j + 1) & tm
			e := sh.table[j]
			if e == 0 {
				return
			}
			// e may fill the hole unless its home lies cyclically in
			// (pos, j].
			home := (e >> 32) & tm
			if (j > pos && (home <= pos || home > j)) || (j < pos && home <= pos && home > j) {
				sh.table[pos] = e
				pos = j
				break
			}
		}
	}
}

// add makes a slot for key (hash h), evicting an old series when the
// shard is full.
func (sh *detShard) add(key string, h uint64, capacity, profLen int) int32 {
	var i int32
	if len(sh.series) < capacity {
		if 2*(len(sh.series)+1) > len(sh.table) {
			sh.grow()
		}
		i = int32(len(sh.series))
		sh.series = append(sh.series, detSeries{})
		sh.prof = append(sh.prof, make([]float32, profLen)...)
	} else {
		i = sh.victim(h)
		sh.remove(i)
		sh.evicted++
		clear(sh.prof[int(i)*profLen : (int(i)+1)*profLen])
	}
	sh.series[i] = detSeries{key: key, hash: h}
	sh.insert(h, i)
	return i
}

// victim returns the least recently seen series of the shard, or of a
// sample of it drawn with the new key's hash as the seed.
func (sh *detShard) victim(h uint64) int32 {
	n := len(sh.series)
	best := int32(0)
	if n <= 2*evictSample {
		for i := 1; i < n; i++ {
			if sh.series[i].seen < sh.series[best].seen {
				best = int32(i)
			}
		}
		return best
	}
	x := h
	best = -1
	for range evictSample {
		x = x*6364136223846793005 + 1442695040888963407 // PCG's LCG step
		j := int32((x >> 33) % uint64(n))
		if best < 0 || sh.series[j].seen < sh.series[best].seen {
			best = j
		}
	}
	return best
}

// Stats returns the Detector's counters.
func (d *Detector) Stats() DetectorStats {
	var s DetectorStats
	for i := range d.shards {
		sh := &d.shards[i]
		sh.mu.Lock()
		s.Series += len(sh.series)
		s.Observed += sh.observed
		s.Anomalies += sh.anomalies
		s.Evicted += sh.evicted
		sh.mu.Unlock()
	}
	return s
}

// ---- snapshot ----

const (
	snapMagic   = "SLAD"
	snapVersion = 1
	// snapFixed is the size of a series record after its key.
	snapFixed = 10*8 + 8 + 4 + 4 + 2
	// maxSnapKey bounds a key's length in a snapshot (a corrupt length
	// must not ask for gigabytes).
	maxSnapKey = 1 << 16
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Snapshot writes the state of every series to w in a compact binary
// format with a version and a checksum (see the file comment), so that a
// restarted process can Restore it. Observe may run concurrently: each
// shard is copied under its lock, so the snapshot is consistent per series
// (and per shard), not across shards.
func (d *Detector) Snapshot(w io.Writer) error {
	crc := crc32.New(castagnoli)
	bw := bufio.NewWriterSize(io.MultiWriter(w, crc), 64<<10)
	hdr := make([]byte, 0, 12)
	hdr = append(hdr, snapMagic...)
	hdr = binary.LittleEndian.AppendUint16(hdr, snapVersion)
	hdr = binary.LittleEndian.AppendUint16(hdr, uint16(d.p.dailySlots))
	hdr = binary.LittleEndian.AppendUint16(hdr, uint16(d.p.weeklySlots))
	hdr = binary.LittleEndian.AppendUint16(hdr, 0)
	if _, err := bw.Write(hdr); err != nil {
		return fmt.Errorf("insights: write detector snapshot: %w", err)
	}
	var count uint64
	var buf []byte
	var order []int32
	for si := range d.shards {
		sh := &d.shards[si]
		buf = buf[:0]
		sh.mu.Lock()
		order = order[:0]
		for i := range sh.series {
			order = append(order, int32(i))
		}
		slices.SortFunc(order, func(a, b int32) int { return cmp.Compare(sh.series[a].seen, sh.series[b].seen) })
		for _, i := range order {
			daily, weekly := d.profiles(sh, i)
			s := &sh.series[i]
			s.m.flush(daily, weekly)
			buf = appendSnapSeries(buf, s.key, &s.m, daily, weekly)
			count++
		}
		sh.mu.Unlock()
		if _, err := bw.Write(buf); err != nil {
			return fmt.Errorf("insights: write detector snapshot: %w", err)
		}
	}
	tr := append(buf[:0], 0)
	tr = binary.LittleEndian.AppendUint64(tr, count)
	if _, err := bw.Write(tr); err != nil {
		return fmt.Errorf("insights: write detector snapshot: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("insights: write detector snapshot: %w", err)
	}
	// The checksum covers everything before it, so it goes to w alone.
	if _, err := w.Write(binary.LittleEndian.AppendUint32(nil, crc.Sum32())); err != nil {
		return fmt.Errorf("insights: write detector snapshot: %w", err)
	}
	return nil
}

func appendSnapSeries(b []byte, key string, m *model, daily, weekly []float32) []byte {
	le := binary.LittleEndian
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
	for _, f := range daily {
		b = le.AppendUint32(b, math.Float32bits(f))
	}
	for _, f := range weekly {
		b = le.AppendUint32(b, math.Float32bits(f))
	}
	return b
}

// Restore replaces the Detector's series with those of a snapshot that
// Snapshot wrote (from a Detector with the same profile sizes). It reads r
// to the snapshot's end and checks the version and the checksum before
// changing anything: on any error the Detector is left as it was. Counters
// (Stats) are kept. A snapshot with more series than MaxSeries keeps
// (about, as eviction does) the most recently seen.
func (d *Detector) Restore(r io.Reader) error {
	fresh, err := d.readSnapshot(r)
	if err != nil {
		return fmt.Errorf("insights: restore detector snapshot: %w", err)
	}
	for i := range d.shards {
		sh, f := &d.shards[i], &fresh[i]
		sh.mu.Lock()
		sh.table, sh.series, sh.prof, sh.tick = f.table, f.series, f.prof, f.tick
		sh.mu.Unlock()
	}
	return nil
}

var errSnapCorrupt = errors.New("corrupt snapshot")

// snapReader reads a snapshot while checksumming what it has read.
type snapReader struct {
	r   *bufio.Reader
	crc uint32
	buf []byte
}

func (sr *snapReader) read(n int) ([]byte, error) {
	if cap(sr.buf) < n {
		sr.buf = make([]byte, n)
	}
	b := sr.buf[:n]
	if _, err := io.ReadFull(sr.r, b); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("%w: truncated", errSnapCorrupt)
		}
		return nil, err
	}
	sr.crc = crc32.Update(sr.crc, castagnoli, b)
	return b, nil
}

func (sr *snapReader) uvarint() (uint64, error) {
	var x uint64
	for shift := uint(0); shift < 64; shift += 7 {
		b, err := sr.read(1)
		if err != nil {
			return 0, err
		}
		x |= uint64(b[0]&0x7f) << shift
		if b[0] < 0x80 {
			return x, nil
		}
	}
	return 0, fmt.Errorf("%w: bad varint", errSnapCorrupt)
}

func (d *Detector) readSnapshot(r io.Reader) ([]detShard, error) {
	le := binary.LittleEndian
	sr := &snapReader{r: bufio.NewReaderSize(r, 64<<10)}
	h, err := sr.read(12)
	if err != nil {
		return nil, err
	}
	if string(h[:4]) != snapMagic {
		return nil, fmt.Errorf("%w: not a detector snapshot", errSnapCorrupt)
	}
	if v := le.Uint16(h[4:]); v != snapVersion {
		return nil, fmt.Errorf("snapshot version %d, this build reads %d", v, snapVersion)
	}
	ds, ws := int(le.Uint16(h[6:])), int(le.Uint16(h[8:]))
	if ds != d.p.dailySlots || ws != d.p.weeklySlots {
		return nil, fmt.Errorf("snapshot has %d daily and %d weekly slots, the detector %d and %d", ds, ws, d.p.dailySlots, d.p.weeklySlots)
	}
	fresh := make([]detShard, len(d.shards))
	for i := range fresh {
		fresh[i].reset()
	}
	seen := map[string]bool{}
	var count uint64
	for {
		tag, err := sr.read(1)
		if err != nil {
			return nil, err
		}
		if tag[0] == 0 {
			break
		}
		if tag[0] != 1 {
			return nil, fmt.Errorf("%w: record tag %d", errSnapCorrupt, tag[0])
		}
		kl, err := sr.uvarint()
		if err != nil {
			return nil, err
		}
		if kl > maxSnapKey {
			return nil, fmt.Errorf("%w: key of %d bytes", errSnapCorrupt, kl)
		}
		kb, err := sr.read(int(kl))
		if err != nil {
			return nil, err
		}
		key := string(kb)
		if seen[key] {
			return nil, fmt.Errorf("%w: series %q twice", errSnapCorrupt, key)
		}
		seen[key] = true
		b, err := sr.read(snapFixed + 4*d.profLen)
		if err != nil {
			return nil, err
		}
		var m model
		fs := [...]*float64{&m.level, &m.trend, &m.absDev, &m.slowDev, &m.fastDev, &m.interval, &m.runSum, &m.resol, &m.prev, &m.slowLevel}
		for j, f := range fs {
			*f = math.Float64frombits(le.Uint64(b[8*j:]))
			if math.IsNaN(*f) || math.IsInf(*f, 0) {
				return nil, fmt.Errorf("%w: series %q: non-finite state", errSnapCorrupt, key)
			}
		}
		if m.absDev < 0 || m.slowDev < 0 || m.fastDev < 0 || m.interval < 0 || m.resol < 0 {
			return nil, fmt.Errorf("%w: series %q: negative scale", errSnapCorrupt, key)
		}
		m.last = int64(le.Uint64(b[80:]))
		m.n = le.Uint32(b[88:])
		m.run = int32(le.Uint32(b[92:]))
		m.upHist, m.downHist = b[96], b[97]
		if m.run > confirmPoints || m.run < -confirmPoints {
			return nil, fmt.Errorf("%w: series %q: run %d", errSnapCorrupt, key, m.run)
		}
		h := maphash.String(d.seed, key)
		sh := &fresh[h&d.mask]
		i := sh.add(key, h, d.perShard, d.profLen)
		sh.tick++
		sh.series[i].m, sh.series[i].seen = m, sh.tick
		pr := sh.prof[int(i)*d.profLen : (int(i)+1)*d.profLen]
		for j := range pr {
			f := math.Float32frombits(le.Uint32(b[snapFixed+4*j:]))
			if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
				return nil, fmt.Errorf("%w: series %q: non-finite profile", errSnapCorrupt, key)
			}
			pr[j] = f
		}
		count++
	}
	tb, err := sr.read(8)
	if err != nil {
		return nil, err
	}
	if n := le.Uint64(tb); n != count {
		return nil, fmt.Errorf("%w: trailer counts %d series, read %d", errSnapCorrupt, n, count)
	}
	want := sr.crc
	cb := make([]byte, 4)
	if _, err := io.ReadFull(sr.r, cb); err != nil {
		return nil, fmt.Errorf("%w: truncated checksum", errSnapCorrupt)
	}
	if got := le.Uint32(cb); got != want {
		return nil, fmt.Errorf("%w: checksum %08x, computed %08x", errSnapCorrupt, got, want)
	}
	for i := range fresh {
		fresh[i].evicted = 0
	}
	return fresh, nil
}
