package insights

// Streaming anomaly detection: the batch model (anomaly.go) run forward one
// point at a time (by a copy of its step, anomaly_stream_model.go), with
// state per series kept in fixed-size slots.
//
// Series and groups: a series is named by a key and a name (see Obs). The
// series of one key form a group (a device's measures) that shares one index
// entry, so that a run of a device's points costs one hash and one probe of
// the index, and its series' records lie side by side when they were met
// together.
//
// Memory: a series costs its record (the model with its cached profile
// slots, its recency and its group's links, 192 bytes), its profiles (4
// bytes per slot: 864 bytes with the default 48 daily and 168 weekly
// slots), its name's bytes and a share of its group's member list (the
// key's bytes once per group, 8 bytes and the name per series, none for
// a group of one unnamed series) and of the
// index (2 to 4 entries of 8 bytes per group): about 1,100 bytes plus the
// key's length for a group of one series with the defaults
// (TestDetectorMemory measures 1,180 to 1,290 bytes with 27-byte keys,
// slice growth included), about 230 bytes plus the key without profiles.
// MaxSeries bounds the number of series, so the Detector never holds more
// than MaxSeries times that; an old series (about the least recently seen,
// see detShard) is forgotten to make room.
//
// Snapshot format (all integers little-endian; see Snapshot):
//
//	header   magic "SLAD" | version u16 = 2 | daily slots u16 | weekly slots u16 | zero u16
//	series   tag u8 = 2 | key length uvarint | key bytes | name length uvarint | name bytes
//	         | level f64 | trend f64 | absDev f64 | slowDev f64 | fastDev f64
//	         | interval f64 | runSum f64 | resol f64 | prev f64 | slowLevel f64 | last i64
//	         | n u32 | run i32 | upHist u8 | downHist u8
//	         | daily f32 × daily slots | weekly f32 × weekly slots
//	         … one per series, least recently seen first (per shard)
//	unsplit  tag u8 = 1 | key length uvarint | key bytes | the rest as a series
//	         (a series of a version-1 snapshot not met again yet; they come first)
//	trailer  tag u8 = 0 | series count u64 | CRC-32C u32 of every byte before it
//
// Version 1 (before groups) has only unsplit records (tag 1), whose key is
// what version 2 splits into a key and a name. Restore keeps them aside
// (detUnsplit) until a point of (key, name) with key+name equal to their key
// comes: that series then starts from the restored state.

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
	"sync/atomic"
	"unsafe"
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
	p         params
	seed      maphash.Seed
	shards    []detShard
	mask      uint64
	perShard  int
	maxSeries int
	profLen   int
	scratch   sync.Pool // of *obsScratch, for ObserveBatch

	unsplit detUnsplit
	held    atomic.Int64 // series in the shards (they never shrink but in Restore)
}

// detShard is one part of the key space (shards are chosen by the key, so
// a group lives in one) with its own lock and index. Series live in
// series[0..len-1], reused on eviction.
//
// A group is reached through its leader, one of its series whose record
// also carries the group's key, member list and hash (see detSeries); the
// others point at it. The index is an open-addressing table of leaders
// with linear probing, kept at most half full: an entry is the key's
// hash's high 32 bits (the tag, which also gives the entry's home
// position) above the leader's slot + 1; 0 is empty. One hash serves the
// shard (its low bits) and the table (its high bits), and a lookup
// compares tags before it touches a series. Removal shifts the following
// entries back, so there are no tombstones.
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

// detSeries is one series' state with what the index and the eviction
// need, together so that a point touches one place.
type detSeries struct {
	m    model
	seen uint64 // the shard's tick at the series' latest point
	// Leader only: members is the group's key (its first klen bytes), then
	// per member its slot and its name's length (u32 each) and the name, in
	// the order they joined, or nothing for a group of the leader alone
	// named "" (a solo group: Observe's, as small as the key); hash is the
	// key's maphash with the Detector's seed.
	members string
	hash    uint64
	klen    uint32
	lead    int32 // the group's leader (the series' own slot for the leader)
	// 192 bytes: a record spans exactly three cache lines (the slice's
	// array is 64-byte aligned once it is large).
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
		p:         newParams(thr, ds, ws),
		seed:      maphash.MakeSeed(),
		shards:    make([]detShard, nShards),
		mask:      uint64(nShards - 1),
		perShard:  maxSeries / nShards,
		maxSeries: maxSeries,
		profLen:   ds + ws,
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
// seriesKey (with no name: see Obs), learns from it, and returns its
// Point. A new series starts with an empty model and flags nothing during
// its first points (see the file comment of anomaly.go). It does not
// allocate except when it meets a new series.
func (d *Detector) Observe(seriesKey string, t int64, v float64) Point {
	h := maphash.String(d.seed, seriesKey)
	sh := &d.shards[h&d.mask]
	sh.mu.Lock()
	k := int32(-1)
	if l := sh.findGroup(h, seriesKey); l >= 0 {
		k, _ = sh.member(l, "", 0)
	}
	if k < 0 {
		k = d.add(sh, seriesKey, "", h)
	}
	s := &sh.series[k]
	sh.tick++
	s.seen = sh.tick
	var pt Point
	s.m.stepStream(&pt, &d.p, d.profLen > 0, sh.prof, int(k)*d.profLen, t, v)
	sh.observed++
	if pt.IsAnomaly {
		sh.anomalies++
	}
	sh.mu.Unlock()
	return pt
}

// Obs is one point for ObserveBatch: its series, time (Unix nanoseconds)
// and value.
//
// A series is named by Key and Name together: the series of one Key form
// a group (a device's measures, one Name each), looked up once for a run
// of consecutive points with the same Key, so a caller that puts a
// device's points side by side pays one lookup per device. Observe's
// seriesKey is a Key with the Name "". (Key, Name) and (Key+Name, "") are
// different series, except that a series restored from an unsplit
// snapshot record (see the file comment) is taken up by the first.
type Obs struct {
	Key  string
	Name string
	T    int64
	V    float64
}

// ObserveBatch scores pts as Observe would one after the other and
// appends their Points to dst in the order of pts. It is several times
// faster per point than Observe on many series: it looks a group up once
// per run of its points, takes each shard's lock once for all the batch's
// points of that shard, and looks up a chunk of runs before it updates
// any, so that their cache misses (a series is a few cache lines in a
// table of megabytes) overlap instead of taking turns behind each lock.
// Points of one series are handled in their order in pts; the Detector
// does not keep pts or their keys and names.
func (d *Detector) ObserveBatch(dst []Point, pts []Obs) []Point {
	base := len(dst)
	dst = slices.Grow(dst, len(pts))[:base+len(pts)]
	out := dst[base:]
	sc, _ := d.scratch.Get().(*obsScratch)
	if sc == nil {
		sc = &obsScratch{}
	}
	defer d.scratch.Put(sc)
	// Cut pts into runs of one key and hash each run's key, then order the
	// runs by shard, keeping their order within a shard (a counting sort).
	sc.runs, sc.hash = sc.runs[:0], sc.hash[:0]
	sc.start = slices.Grow(sc.start[:0], len(d.shards)+1)[:len(d.shards)+1]
	clear(sc.start)
	for i := 0; i < len(pts); {
		key := pts[i].Key
		j := i + 1
		// A run is the points with the same view of the caller's bytes:
		// a key spelt again elsewhere starts a run of its own, which costs
		// a lookup but no compare here.
		for j < len(pts) && len(pts[j].Key) == len(key) && unsafe.StringData(pts[j].Key) == unsafe.StringData(key) {
			j++
		}
		h := maphash.String(d.seed, key)
		sc.runs = append(sc.runs, int32(i))
		sc.hash = append(sc.hash, h)
		sc.start[h&d.mask+1]++
		i = j
	}
	nRuns := len(sc.runs)
	sc.runs = append(sc.runs, int32(len(pts))) // the last run's end
	for s := 1; s < len(sc.start); s++ {
		sc.start[s] += sc.start[s-1]
	}
	next := append(sc.next[:0], sc.start[:len(d.shards)]...)
	sc.next = next
	sc.order = slices.Grow(sc.order[:0], nRuns)[:nRuns]
	for r := range nRuns {
		s := sc.hash[r] & d.mask
		sc.order[next[s]] = int32(r)
		next[s]++
	}
	for s := range d.shards {
		if run := sc.order[sc.start[s]:sc.start[s+1]]; len(run) > 0 {
			d.observeRuns(&d.shards[s], run, sc, pts, out)
		}
	}
	return dst
}

// obsScratch is ObserveBatch's scratch space, pooled per Detector.
type obsScratch struct {
	runs  []int32  // per run: its first index in pts; one more at the end
	hash  []uint64 // per run: its key's hash
	order []int32  // runs by shard
	start []int32  // per shard: its first index in order; one more at the end
	next  []int32
}

// lookAhead is how many runs ObserveBatch looks up before it updates
// them: enough misses in flight to hide most of the memory latency.
const lookAhead = 16

// observeRuns handles the runs order (indices into sc.runs, all of shard
// sh) under one hold of its lock.
func (d *Detector) observeRuns(sh *detShard, order []int32, sc *obsScratch, pts []Obs, out []Point) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	var lead [lookAhead]int32
	seasonal := d.profLen > 0
	for len(order) > 0 {
		part := order[:min(lookAhead, len(order))]
		order = order[len(part):]
		// Look up every run's group first; the lookups do not depend on
		// each other, so the processor overlaps their misses. Reading the
		// three cache lines of each member's record starts those misses
		// too.
		var touch float64
		for j, r := range part {
			l := sh.findGroup(sc.hash[r], pts[sc.runs[r]].Key)
			lead[j] = l
			if l >= 0 {
				ms := sh.series[l].members[sh.series[l].klen:]
				if len(ms) == 0 {
					s := &sh.series[l]
					touch += s.m.level + s.m.prev // the key compare read the third line
				}
				for o := 0; o < len(ms); {
					k, n := memberAt(ms, o)
					s := &sh.series[k]
					touch += s.m.level + s.m.prev + float64(s.seen)
					o += memberHead + n
				}
			}
		}
		sh.touch = touch // a use, so the reads are not left out
		// Then update them in order. Adding a series (which may evict
		// another, reusing its slot and changing its group) invalidates
		// the leaders found after it, so from then on each run is looked
		// up again.
		changed := false
		for j, r := range part {
			h := sc.hash[r]
			first, end := sc.runs[r], sc.runs[r+1]
			key := pts[first].Key
			l := lead[j]
			if changed {
				l = sh.findGroup(h, key)
			}
			// The group's members, and where the next point's is likely:
			// after the last one found (a device's measures come in the
			// same order event after event).
			var ms string
			if l >= 0 {
				ms = sh.series[l].members[sh.series[l].klen:]
			}
			mo := 0
			for i := first; i < end; i++ {
				p := &pts[i]
				k := int32(-1)
				if len(ms) == 0 {
					if l >= 0 && p.Name == "" {
						k = l
					}
				} else if mo+memberHead <= len(ms) {
					if slot, n := memberAt(ms, mo); ms[mo+memberHead:mo+memberHead+n] == p.Name {
						k, mo = slot, mo+memberHead+n
					}
				}
				if k < 0 && l >= 0 {
					k, mo = sh.member(l, p.Name, mo)
				}
				if k < 0 {
					k = d.add(sh, key, p.Name, h)
					changed = true
					l = sh.series[k].lead
					ms = sh.series[l].members[sh.series[l].klen:]
					mo = len(ms)
				}
				s := &sh.series[k]
				sh.tick++
				s.seen = sh.tick
				pt := &out[i]
				s.m.stepStream(pt, &d.p, seasonal, sh.prof, int(k)*d.profLen, p.T, p.V)
				if pt.IsAnomaly {
					sh.anomalies++
				}
			}
			sh.observed += uint64(end - first)
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

// add makes a series for (key, name) in sh (key's hash h): the state of
// an unsplit restored series key+name when there is one, else empty.
func (d *Detector) add(sh *detShard, key, name string, h uint64) int32 {
	grew := len(sh.series) < d.perShard
	k := sh.add(key, name, h, d.perShard, d.profLen)
	if grew {
		d.held.Add(1)
	}
	if d.unsplit.n.Load() == 0 {
		return k
	}
	pr := sh.prof[int(k)*d.profLen : (int(k)+1)*d.profLen]
	if !d.unsplit.take(key+name, &sh.series[k].m, pr) && grew &&
		d.held.Load()+d.unsplit.n.Load() > int64(d.maxSeries) {
		// A new series: the unsplit ones waiting count against MaxSeries
		// too, and the oldest goes when the two together exceed it.
		d.unsplit.dropOldest()
	}
	return k
}

// findGroup returns the leader of the group of key (hash h), or -1.
func (sh *detShard) findGroup(h uint64, key string) int32 {
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
			i := int32(uint32(e)) - 1
			if s := &sh.series[i]; s.members[:s.klen] == key {
				return i
			}
		}
	}
}

// member returns the slot of the series named name in the group led by l
// (or -1), looking from the member at offset off of the member list on,
// round to it, and the offset after the member found.
func (sh *detShard) member(l int32, name string, off int) (int32, int) {
	ms := sh.series[l].members[sh.series[l].klen:]
	if len(ms) == 0 { // the leader alone, unnamed
		if name == "" {
			return l, 0
		}
		return -1, 0
	}
	if off >= len(ms) {
		off = 0
	}
	o := off
	for {
		slot, n := memberAt(ms, o)
		e := o + memberHead + n
		if ms[o+memberHead:e] == name {
			return slot, e
		}
		o = e
		if o == len(ms) {
			o = 0
		}
		if o == off {
			return -1, off
		}
	}
}

// memberHead is the size of a member entry's head: its slot (u32) and its
// name's length (u32), little-endian; the name follows.
const memberHead = 8

// memberAt decodes the head of the member entry at ms[o:].
func memberAt(ms string, o int) (slot int32, n int) {
	h := ms[o : o+memberHead]
	slot = int32(uint32(h[0]) | uint32(h[1])<<8 | uint32(h[2])<<16 | uint32(h[3])<<24)
	n = int(uint32(h[4]) | uint32(h[5])<<8 | uint32(h[6])<<16 | uint32(h[7])<<24)
	return slot, n
}

// appendMember appends the member entry of slot i named name to b.
func appendMember(b []byte, i int32, name string) []byte {
	b = binary.LittleEndian.AppendUint32(b, uint32(i))
	b = binary.LittleEndian.AppendUint32(b, uint32(len(name)))
	return append(b, name...)
}

// eachMember calls fn with every member of the group led by l.
func (sh *detShard) eachMember(l int32, fn func(slot int32, name string)) {
	ms := sh.series[l].members[sh.series[l].klen:]
	if len(ms) == 0 {
		fn(l, "")
		return
	}
	for o := 0; o < len(ms); {
		slot, n := memberAt(ms, o)
		fn(slot, ms[o+memberHead:o+memberHead+n])
		o += memberHead + n
	}
}

// nameOf returns the key and the name of the series in slot i.
func (sh *detShard) nameOf(i int32) (key, name string) {
	l := sh.series[i].lead
	sh.eachMember(l, func(slot int32, n string) {
		if slot == i {
			name = n
		}
	})
	return sh.series[l].members[:sh.series[l].klen], name
}

// insert puts the entry for leader i of hash h in the table (which has
// room).
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

// remove deletes the entry of leader i (hash h), shifting back the entries
// after it that may move closer to their home, so that no probe meets a
// hole.
func (sh *detShard) remove(h uint64, i int32) {
	tm := uint64(len(sh.table) - 1)
	want := uint64(uint32(i + 1))
	pos := (h >> 32) & tm
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

// leave takes series i out of its group. A leader hands the group to the
// first other member; the last member takes the group out of the index.
func (sh *detShard) leave(i int32) {
	l := sh.series[i].lead
	ld := &sh.series[l]
	key := ld.members[:ld.klen]
	b := append(make([]byte, 0, len(ld.members)), key...)
	next := int32(-1)
	sh.eachMember(l, func(slot int32, name string) {
		if slot != i {
			b = appendMember(b, slot, name)
			if next < 0 {
				next = slot
			}
		}
	})
	switch {
	case next < 0:
		sh.remove(ld.hash, l)
	case l == i:
		h := ld.hash
		sh.remove(h, l)
		nl := &sh.series[next]
		nl.members, nl.hash, nl.klen = string(b), h, ld.klen
		sh.eachMember(next, func(slot int32, _ string) { sh.series[slot].lead = next })
		sh.insert(h, next)
	default:
		ld.members = string(b)
	}
	s := &sh.series[i]
	s.members, s.hash, s.klen, s.lead = "", 0, 0, -1
}

// add makes a slot for the series (key, name), key of hash h, evicting an
// old series when the shard is full, and puts it in its group.
func (sh *detShard) add(key, name string, h uint64, capacity, profLen int) int32 {
	var i int32
	if len(sh.series) < capacity {
		if 2*(len(sh.series)+1) > len(sh.table) {
			sh.grow()
		}
		i = int32(len(sh.series))
		sh.series = append(sh.series, detSeries{})
		sh.prof = append(sh.prof, make([]float32, profLen)...)
	} else {
		i = sh.victim(h ^ nameHash(name))
		sh.leave(i)
		sh.evicted++
		clear(sh.prof[int(i)*profLen : (int(i)+1)*profLen])
	}
	sh.series[i] = detSeries{lead: i}
	if l := sh.findGroup(h, key); l >= 0 {
		ld := &sh.series[l]
		b := []byte(ld.members)
		if len(b) == int(ld.klen) { // a solo group gets its list
			b = appendMember(b, l, "")
		}
		ld.members = string(appendMember(b, i, name))
		sh.series[i].lead = l
		return i
	}
	s := &sh.series[i]
	if name == "" {
		s.members = strings.Clone(key) // solo: no list
	} else {
		s.members = string(appendMember([]byte(key), i, name))
	}
	s.hash, s.klen = h, uint32(len(key))
	sh.insert(h, i)
	return i
}

// nameHash is FNV-1a of name, which varies eviction's sample between the
// series of one group.
func nameHash(name string) uint64 {
	x := uint64(14695981039346656037)
	for i := 0; i < len(name); i++ {
		x = (x ^ uint64(name[i])) * 1099511628211
	}
	return x
}

// victim returns the least recently seen series of the shard, or of a
// sample of it drawn with seed.
func (sh *detShard) victim(seed uint64) int32 {
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
	x := seed
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
	s.Series += int(d.unsplit.n.Load())
	return s
}

// detUnsplit holds the series of unsplit snapshot records (version 1's
// whole keys) until a (key, name) whose key+name is theirs takes them up.
// Its lock is taken under a shard's, never the other way round.
type detUnsplit struct {
	mu sync.Mutex
	n  atomic.Int64 // live records, read without mu to skip the rest when 0
	// guarded by mu
	idx  map[string]int32 // key → record
	recs []unsplitRec     // least recently seen first
	prof []float32        // profLen per record
	head int              // records before head are gone
}

type unsplitRec struct {
	key  string
	m    model
	live bool
}

// take moves the state of the unsplit series key to m and prof (profLen
// long) and forgets it; false when there is none.
func (u *detUnsplit) take(key string, m *model, prof []float32) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	i, ok := u.idx[key]
	if !ok {
		return false
	}
	r := &u.recs[i]
	*m = r.m
	copy(prof, u.prof[int(i)*len(prof):])
	delete(u.idx, key)
	r.live, r.key = false, ""
	u.n.Add(-1)
	return true
}

// dropOldest forgets the least recently seen unsplit series.
func (u *detUnsplit) dropOldest() {
	u.mu.Lock()
	defer u.mu.Unlock()
	for u.head < len(u.recs) && !u.recs[u.head].live {
		u.head++
	}
	if u.head == len(u.recs) {
		return
	}
	r := &u.recs[u.head]
	delete(u.idx, r.key)
	r.live, r.key = false, ""
	u.head++
	u.n.Add(-1)
}

// ---- snapshot ----

const (
	snapMagic = "SLAD"
	// snapVersion is the version Snapshot writes; Restore reads it and
	// version 1 (unsplit records only).
	snapVersion = 2
	// tags of a snapshot's records
	tagEnd     = 0
	tagUnsplit = 1
	tagSeries  = 2
	// snapFixed is the size of a series record after its key (and name).
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
	// The unsplit series first: they were seen before any other.
	u := &d.unsplit
	u.mu.Lock()
	for i := u.head; i < len(u.recs); i++ {
		if r := &u.recs[i]; r.live {
			pr := u.prof[i*d.profLen : (i+1)*d.profLen]
			buf = appendSnapSeries(buf, r.key, nil, &r.m, pr[:d.p.dailySlots], pr[d.p.dailySlots:])
			count++
		}
	}
	u.mu.Unlock()
	if _, err := bw.Write(buf); err != nil {
		return fmt.Errorf("insights: write detector snapshot: %w", err)
	}
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
			key, name := sh.nameOf(i)
			buf = appendSnapSeries(buf, key, &name, &s.m, daily, weekly)
			count++
		}
		sh.mu.Unlock()
		if _, err := bw.Write(buf); err != nil {
			return fmt.Errorf("insights: write detector snapshot: %w", err)
		}
	}
	tr := append(buf[:0], tagEnd)
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

// appendSnapSeries appends a series record: unsplit (tag 1) when name is
// nil.
func appendSnapSeries(b []byte, key string, name *string, m *model, daily, weekly []float32) []byte {
	le := binary.LittleEndian
	if name == nil {
		b = append(b, tagUnsplit)
	} else {
		b = append(b, tagSeries)
	}
	b = binary.AppendUvarint(b, uint64(len(key)))
	b = append(b, key...)
	if name != nil {
		b = binary.AppendUvarint(b, uint64(len(*name)))
		b = append(b, *name...)
	}
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
// Snapshot wrote (from a Detector with the same profile sizes), of this
// version or version 1. It reads r to the snapshot's end and checks the
// version and the checksum before changing anything: on any error the
// Detector is left as it was. Counters (Stats) are kept. A snapshot with
// more series than MaxSeries keeps (about, as eviction does) the most
// recently seen. The series of unsplit records (all of a version-1
// snapshot) wait aside, counted in Stats and MaxSeries, until a point of
// theirs comes as (key, name) with key+name their key.
func (d *Detector) Restore(r io.Reader) error {
	fresh, un, err := d.readSnapshot(r)
	if err != nil {
		return fmt.Errorf("insights: restore detector snapshot: %w", err)
	}
	held := 0
	for i := range d.shards {
		sh, f := &d.shards[i], &fresh[i]
		sh.mu.Lock()
		sh.table, sh.series, sh.prof, sh.tick = f.table, f.series, f.prof, f.tick
		held += len(f.series)
		sh.mu.Unlock()
	}
	u := &d.unsplit
	u.mu.Lock()
	u.idx, u.recs, u.prof, u.head = un.idx, un.recs, un.prof, un.head
	u.n.Store(un.n.Load())
	d.held.Store(int64(held))
	u.mu.Unlock()
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

// str reads a length-prefixed string.
func (sr *snapReader) str() (string, error) {
	n, err := sr.uvarint()
	if err != nil {
		return "", err
	}
	if n > maxSnapKey {
		return "", fmt.Errorf("%w: key of %d bytes", errSnapCorrupt, n)
	}
	b, err := sr.read(int(n))
	if err != nil {
		return "", err
	}
	return string(b), nil
}

func (d *Detector) readSnapshot(r io.Reader) ([]detShard, *detUnsplit, error) {
	le := binary.LittleEndian
	sr := &snapReader{r: bufio.NewReaderSize(r, 64<<10)}
	h, err := sr.read(12)
	if err != nil {
		return nil, nil, err
	}
	if string(h[:4]) != snapMagic {
		return nil, nil, fmt.Errorf("%w: not a detector snapshot", errSnapCorrupt)
	}
	version := le.Uint16(h[4:])
	if version != 1 && version != snapVersion {
		return nil, nil, fmt.Errorf("snapshot version %d, this build reads 1 and %d", version, snapVersion)
	}
	ds, ws := int(le.Uint16(h[6:])), int(le.Uint16(h[8:]))
	if ds != d.p.dailySlots || ws != d.p.weeklySlots {
		return nil, nil, fmt.Errorf("snapshot has %d daily and %d weekly slots, the detector %d and %d", ds, ws, d.p.dailySlots, d.p.weeklySlots)
	}
	fresh := make([]detShard, len(d.shards))
	for i := range fresh {
		fresh[i].reset()
	}
	un := &detUnsplit{idx: map[string]int32{}}
	seen := map[[2]string]bool{}
	var count uint64
	for {
		tag, err := sr.read(1)
		if err != nil {
			return nil, nil, err
		}
		if tag[0] == tagEnd {
			break
		}
		if tag[0] != tagUnsplit && (tag[0] != tagSeries || version < 2) {
			return nil, nil, fmt.Errorf("%w: record tag %d", errSnapCorrupt, tag[0])
		}
		split := tag[0] == tagSeries
		key, err := sr.str()
		if err != nil {
			return nil, nil, err
		}
		var name string
		if split {
			if name, err = sr.str(); err != nil {
				return nil, nil, err
			}
		}
		if id := [2]string{key, name}; seen[id] || (!split && un.idx[key] != 0) {
			return nil, nil, fmt.Errorf("%w: series %q/%q twice", errSnapCorrupt, key, name)
		} else if split {
			seen[id] = true
		}
		b, err := sr.read(snapFixed + 4*d.profLen)
		if err != nil {
			return nil, nil, err
		}
		var m model
		fs := [...]*float64{&m.level, &m.trend, &m.absDev, &m.slowDev, &m.fastDev, &m.interval, &m.runSum, &m.resol, &m.prev, &m.slowLevel}
		for j, f := range fs {
			*f = math.Float64frombits(le.Uint64(b[8*j:]))
			if math.IsNaN(*f) || math.IsInf(*f, 0) {
				return nil, nil, fmt.Errorf("%w: series %q: non-finite state", errSnapCorrupt, key)
			}
		}
		if m.absDev < 0 || m.slowDev < 0 || m.fastDev < 0 || m.interval < 0 || m.resol < 0 {
			return nil, nil, fmt.Errorf("%w: series %q: negative scale", errSnapCorrupt, key)
		}
		m.last = int64(le.Uint64(b[80:]))
		m.n = le.Uint32(b[88:])
		m.run = int32(le.Uint32(b[92:]))
		m.upHist, m.downHist = b[96], b[97]
		if m.run > confirmPoints || m.run < -confirmPoints {
			return nil, nil, fmt.Errorf("%w: series %q: run %d", errSnapCorrupt, key, m.run)
		}
		var pr []float32
		if split {
			h := maphash.String(d.seed, key)
			sh := &fresh[h&d.mask]
			i := sh.add(key, name, h, d.perShard, d.profLen)
			sh.tick++
			sh.series[i].m, sh.series[i].seen = m, sh.tick
			pr = sh.prof[int(i)*d.profLen : (int(i)+1)*d.profLen]
		} else {
			un.idx[key] = int32(len(un.recs)) + 1 // + 1 until the end, so that 0 means absent
			un.recs = append(un.recs, unsplitRec{key: key, m: m, live: true})
			un.prof = append(un.prof, make([]float32, d.profLen)...)
			pr = un.prof[len(un.prof)-d.profLen:]
		}
		for j := range pr {
			f := math.Float32frombits(le.Uint32(b[snapFixed+4*j:]))
			if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
				return nil, nil, fmt.Errorf("%w: series %q: non-finite profile", errSnapCorrupt, key)
			}
			pr[j] = f
		}
		count++
	}
	tb, err := sr.read(8)
	if err != nil {
		return nil, nil, err
	}
	if n := le.Uint64(tb); n != count {
		return nil, nil, fmt.Errorf("%w: trailer counts %d series, read %d", errSnapCorrupt, n, count)
	}
	want := sr.crc
	cb := make([]byte, 4)
	if _, err := io.ReadFull(sr.r, cb); err != nil {
		return nil, nil, fmt.Errorf("%w: truncated checksum", errSnapCorrupt)
	}
	if got := le.Uint32(cb); got != want {
		return nil, nil, fmt.Errorf("%w: checksum %08x, computed %08x", errSnapCorrupt, got, want)
	}
	for i := range fresh {
		fresh[i].evicted = 0
	}
	for k, i := range un.idx {
		un.idx[k] = i - 1
	}
	un.n.Store(int64(len(un.recs)))
	// Beyond MaxSeries, the least recently seen unsplit series go (they
	// come first, each shard's least recent first).
	held := 0
	for i := range fresh {
		held += len(fresh[i].series)
	}
	for held+int(un.n.Load()) > d.maxSeries && un.n.Load() > 0 {
		un.dropOldest()
	}
	return fresh, un, nil
}
