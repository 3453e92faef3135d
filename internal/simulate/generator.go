package simulate

import (
	"cmp"
	"math"
	"math/rand/v2"
	"slices"
	"time"
)

// The simulated fleet lives on a grid of ticks: tick k starts at
// Start + k*interval (interval = 1/Rate). Every device samples once per tick,
// at its own fixed phase within the tick plus up to a tenth of an interval of
// jitter, so a device's sampling times strictly increase and the fleet's
// events come out in (nearly) time order when devices are visited in phase
// order. All times are whole microseconds, the resolution of the event's
// "Time" field (milliseconds with three decimals).
//
// Faults are drawn by geometric countdowns over the global sample sequence
// rather than one coin flip per sample: "samples until the next anomaly" is
// geometric for a Bernoulli process, so the result is the same process with
// one random draw per fault instead of one per sample.

// measureModel describes one measure of a typical device.
type measureModel struct {
	level, levelSpread float64 // device level is level ± levelSpread
	amp                float64 // daily amplitude (device: 0.7..1.3 ×); relative to level when rel
	peakHour           float64 // UTC hour of the daily maximum (device: ± 1.5 h)
	sigma              float64 // noise step per sample; relative to level when rel
	scale              float64 // anomaly unit; relative to level when rel
	rel                bool
	min, max           float64 // physical clamp
	decimals           int
}

var models = [numMeasures]measureModel{
	Temperature: {level: 20, levelSpread: 4, amp: 4, peakHour: 15, sigma: 0.05, scale: 2, min: -50, max: 100, decimals: 1},
	Humidity:    {level: 50, levelSpread: 15, amp: 8, peakHour: 4, sigma: 0.15, scale: 5, min: 0, max: 100, decimals: 2},
	Voltage:     {level: 230, levelSpread: 3, amp: 2, peakHour: 3, sigma: 0.15, scale: 4, min: 0, max: 1000, decimals: 1},
	Watt:        {level: 600, levelSpread: 400, amp: 0.4, peakHour: 19, sigma: 0.01, scale: 0.5, rel: true, min: 0, max: 1e6, decimals: 2},
}

// pow10 scales a value with d decimals to an integer.
var pow10 = [...]float64{1, 10, 100}

const (
	usPerDay = 86_400_000_000
	rho      = 0.97 // AR(1) coefficient of the noise: consecutive values stay close
)

type device struct {
	index  int32 // Options-independent device number
	id     string
	field  []byte // `,"DeviceID":"<id>"`
	phase  int64  // µs within a tick
	level  [numMeasures]float64
	amp    [numMeasures]float64
	cosPhi [numMeasures]float64 // seasonality sin(ωt+φ) = sin ωt·cos φ + cos ωt·sin φ
	sinPhi [numMeasures]float64
	sigma  [numMeasures]float64
	scale  [numMeasures]float64
	dev    [numMeasures]float64 // AR(1) noise state

	shift    [numMeasures]float64 // active level shift
	shiftEnd [numMeasures]int64   // µs, 0 = none

	skewUntil    int64 // µs of sampling time; 0 = clock right
	offlineUntil int64 // µs; 0 = online
	buf          []sample
}

// sample is one event before encoding.
type sample struct {
	t, delivery int64 // µs
	v           [numMeasures]int64
	expected    int64 // anomaly: the value without it, scaled like v
	shiftEnd    int64 // level shift: end µs
	flushStart  int64 // first late event of a flush: when the device went offline
	flushN      int32 // … and how many events it buffered
	device      int32 // position in Generator.devices
	kind        uint8 // 0 none, else kindSpike…
	measure     uint8
	skew, late  bool
	burst       bool
}

const (
	kNone uint8 = iota
	kSpike
	kDip
	kShift
)

var kindNames = [...]string{kSpike: KindSpike, kDip: KindDip, kShift: KindLevelShift}

// Event describes the event Next just appended.
type Event struct {
	Device   int    // index, 0..Devices-1
	DeviceID string // as in the event
	// Time is when the device sampled, by the true clock; EventTime is what
	// the event says (Time + SkewOffset when Skewed); Delivery is when the
	// device sends it in simulated time (after Time when Late).
	Time, EventTime, Delivery time.Time
	Values                    [numMeasures]float64 // as encoded, in Measures() order
	Skewed, Late, Burst       bool
	// Labels of this event; they alias the generator's memory and are valid
	// until the next call to Next.
	Labels []Label
}

// Generator is a deterministic source of device events. It is not safe for
// concurrent use.
type Generator struct {
	opts     Options
	interval int64 // µs
	startUS  int64
	ticks    int64 // number of ticks to run; -1 = unlimited
	skewUS   int64

	pcg *rand.PCG
	rng *rand.Rand

	devices []device // in phase order
	ids     []string // by device index

	tick int64
	pos  int // in devices

	queue []sample
	qpos  int

	// countdowns in samples until the next fault of each kind
	nextAnomaly, nextSkew, nextOffline, nextBurst int64
	pSkew, pOffline, pBurst                       float64 // per sample
	emitted                                       int64
	done                                          bool

	labels []Label

	angleTick      int64 // tick whose day angle is cached, -1 = none
	sinDay, cosDay float64
}

// NewGenerator returns a generator for opts (zero fields take defaults).
func NewGenerator(opts Options) (*Generator, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	g := &Generator{opts: o, startUS: o.Start.UnixMicro(), skewUS: o.SkewOffset.Microseconds(), ticks: -1, angleTick: -1}
	g.interval = max(1, int64(math.Round(1e6/o.Rate)))
	if o.Duration > 0 {
		d := o.Duration.Microseconds()
		g.ticks = (d + g.interval - 1) / g.interval
	}
	g.pcg = rand.NewPCG(uint64(o.Seed), 0x5eed_0f_5_1_c_e)
	g.rng = rand.New(g.pcg)
	secs := float64(g.interval) / 1e6
	perSample := func(p float64) float64 { // per device-second → per sample
		if p >= 1 {
			return 1
		}
		return -math.Expm1(secs * math.Log1p(-p))
	}
	g.pSkew, g.pOffline, g.pBurst = perSample(o.SkewProb), perSample(o.OfflineProb), perSample(o.BurstProb)
	g.nextAnomaly = g.geometric(o.AnomalyProb)
	g.nextSkew = g.geometric(g.pSkew)
	g.nextOffline = g.geometric(g.pOffline)
	g.nextBurst = g.geometric(g.pBurst)

	// Devices are stored in phase order, the order a tick visits them, so
	// a large fleet is walked sequentially in memory.
	fleet := make([]device, o.Devices)
	perm := make([]int32, o.Devices)
	for i := range fleet {
		g.initDevice(&fleet[i], i)
		perm[i] = int32(i)
	}
	slices.SortFunc(perm, func(a, b int32) int { // ties by index: deterministic
		if pa, pb := fleet[a].phase, fleet[b].phase; pa != pb {
			return cmp.Compare(pa, pb)
		}
		return cmp.Compare(a, b)
	})
	g.devices = make([]device, o.Devices)
	for i, j := range perm {
		g.devices[i] = fleet[j]
	}
	g.ids = make([]string, o.Devices)
	for _, d := range g.devices {
		g.ids[d.index] = d.id
	}
	g.labels = make([]Label, 0, 4)
	return g, nil
}

// splitmix64 is the device-attribute hash: device i's id and character
// depend only on Seed and i, not on Devices or Rate.
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// DeviceID returns the id of device i for a seed: 8-4-4-4-12 lower-case hex.
func DeviceID(seed int64, i int) string {
	h := splitmix64(uint64(seed)*0x9e3779b97f4a7c15 + uint64(i))
	l := splitmix64(h ^ 0xd1b54a32d192ed03)
	const hexd = "0123456789abcdef"
	var b [36]byte
	n := 0
	for j := 0; j < 32; j++ {
		if j == 8 || j == 12 || j == 16 || j == 20 {
			b[n] = '-'
			n++
		}
		var nib uint64
		if j < 16 {
			nib = h >> (60 - 4*j)
		} else {
			nib = l >> (60 - 4*(j-16))
		}
		b[n] = hexd[nib&15]
		n++
	}
	return string(b[:])
}

func (g *Generator) initDevice(d *device, i int) {
	d.index = int32(i)
	d.id = DeviceID(g.opts.Seed, i)
	d.field = append(append(append([]byte(nil), `,"DeviceID":"`...), d.id...), '"')
	state := splitmix64(uint64(g.opts.Seed) ^ uint64(i)*0xa0761d6478bd642f ^ 0xe7037ed1a0b428db)
	u := func() float64 { // uniform [0,1)
		state = splitmix64(state)
		return float64(state>>11) / (1 << 53)
	}
	d.phase = int64(u() * float64(g.interval))
	for m, md := range models {
		level := md.level + md.levelSpread*(2*u()-1)
		amp, sigma, scale := md.amp, md.sigma, md.scale
		if md.rel {
			amp, sigma, scale = amp*level, sigma*level, scale*level
		}
		d.level[m] = level
		d.amp[m] = amp * (0.7 + 0.6*u())
		d.sigma[m] = sigma
		d.scale[m] = scale
		peak := md.peakHour + 3*(u()-0.5)
		phi := math.Pi/2 - 2*math.Pi*peak/24
		d.sinPhi[m], d.cosPhi[m] = math.Sincos(phi)
	}
}

// geometric draws the number of samples before the next success of a
// Bernoulli(p) process.
func (g *Generator) geometric(p float64) int64 {
	switch {
	case p <= 0:
		return math.MaxInt64
	case p >= 1:
		return 0
	}
	n := math.Floor(math.Log(1-g.rng.Float64()) / math.Log1p(-p))
	if n > 1e18 {
		return math.MaxInt64
	}
	return int64(n)
}

// hit counts one sample down on a fault countdown.
func (g *Generator) hit(next *int64, p float64) bool {
	if *next > 0 {
		*next--
		return false
	}
	*next = g.geometric(p)
	return true
}

// exp draws an exponential duration with the given mean, in µs, clamped.
func (g *Generator) exp(mean time.Duration, lo, hi int64) int64 {
	v := int64(g.rng.ExpFloat64() * float64(mean.Microseconds()))
	return min(max(v, lo), hi)
}

// Options returns the options in effect (defaults filled, Start resolved).
func (g *Generator) Options() Options { return g.opts }

// Start returns the simulated time of the first tick.
func (g *Generator) Start() time.Time { return time.UnixMicro(g.startUS).UTC() }

// DeviceIDs returns the ids of the fleet, by device index.
func (g *Generator) DeviceIDs() []string {
	return slices.Clone(g.ids)
}

// Emitted returns the number of events Next has produced.
func (g *Generator) Emitted() int64 { return g.emitted }

// step samples the next device in order; false when the run is over.
func (g *Generator) step() bool {
	if g.done || (g.ticks >= 0 && g.tick >= g.ticks) {
		g.done = true
		return false
	}
	di := int32(g.pos)
	d := &g.devices[di]
	tickStart := g.startUS + g.tick*g.interval
	jitter := int64(g.pcg.Uint64() % uint64(g.interval/10+1))
	s := tickStart + d.phase + jitter
	if g.pos++; g.pos == len(g.devices) {
		g.pos = 0
		g.tick++
	}
	if g.qpos == len(g.queue) {
		g.queue, g.qpos = g.queue[:0], 0
	}

	// Clock and connectivity episodes.
	if d.skewUntil != 0 && s >= d.skewUntil {
		d.skewUntil = 0
	}
	if g.hit(&g.nextSkew, g.pSkew) && d.skewUntil == 0 {
		d.skewUntil = s + g.exp(g.opts.SkewDuration, g.interval, 100*g.opts.SkewDuration.Microseconds()+g.interval)
	}
	comingBack := d.offlineUntil != 0 && s >= d.offlineUntil
	if comingBack {
		d.offlineUntil = 0
	}
	if g.hit(&g.nextOffline, g.pOffline) && d.offlineUntil == 0 && !comingBack {
		d.offlineUntil = s + g.exp(g.opts.OfflineDuration, g.interval, (MaxBuffered-1)*g.interval)
	}
	offline := d.offlineUntil != 0

	// A burst: n samples taken every interval/(2n) up to s, sent together.
	n := int64(1)
	if g.hit(&g.nextBurst, g.pBurst) && !offline {
		n = 2 + g.rng.Int64N(int64(g.opts.BurstSize-1))
		n = min(n, max(1, g.interval/(2*n)))
	}
	delta := g.interval / (2 * n)

	if comingBack && len(d.buf) > 0 {
		first := len(g.queue)
		for _, b := range d.buf {
			b.late, b.delivery = true, s
			g.queue = append(g.queue, b)
		}
		g.queue[first].flushN = int32(len(d.buf))
		g.queue[first].flushStart = d.buf[0].t
		d.buf = d.buf[:0]
	}
	for j := n - 1; j >= 0; j-- {
		var smp *sample
		if offline {
			d.buf = append(d.buf, sample{})
			smp = &d.buf[len(d.buf)-1]
		} else {
			g.queue = append(g.queue, sample{})
			smp = &g.queue[len(g.queue)-1]
		}
		g.sample(smp, d, di, s-j*delta, tickStart)
		smp.delivery, smp.burst = s, n > 1
	}
	return true
}

// seasonAngle returns sin and cos of the time of day at t as an angle.
// Within one tick of at most maxSharedTick it is shared by all devices: the
// angle moves less than 1e-3 rad in that time.
func (g *Generator) seasonAngle(t, tickStart int64) (float64, float64) {
	const maxSharedTick = 10_000_000 // µs
	if g.interval > maxSharedTick {
		return dayAngle(t)
	}
	if tickStart != g.angleTick {
		g.angleTick = tickStart
		g.sinDay, g.cosDay = dayAngle(tickStart)
	}
	return g.sinDay, g.cosDay
}

func dayAngle(t int64) (float64, float64) {
	return math.Sincos(float64((t%usPerDay+usPerDay)%usPerDay) / usPerDay * 2 * math.Pi)
}

// sample computes device d's measures at time t (µs) into smp.
func (g *Generator) sample(smp *sample, d *device, di int32, t, tickStart int64) {
	*smp = sample{t: t, device: di, skew: d.skewUntil != 0}
	am, ak := -1, kNone
	if g.hit(&g.nextAnomaly, g.opts.AnomalyProb) {
		am, ak = g.rng.IntN(numMeasures), kSpike+uint8(g.rng.IntN(3))
		if ak == kShift && d.shiftEnd[am] != 0 {
			ak = kSpike // one shift at a time per measure keeps labels exact
		}
	}
	sa, ca := g.seasonAngle(t, tickStart)
	noise := g.pcg.Uint64()
	for m := range numMeasures {
		md := &models[m]
		nz := float64(int16(noise>>(16*m))) / 32768 // uniform [-1, 1)
		d.dev[m] = rho*d.dev[m] + d.sigma[m]*nz
		if d.shiftEnd[m] != 0 && t >= d.shiftEnd[m] {
			d.shift[m], d.shiftEnd[m] = 0, 0
		}
		if m == am && ak == kShift {
			mag := d.scale[m] * (3 + 3*g.rng.Float64())
			if g.rng.IntN(2) == 0 {
				mag = -min(mag, 0.7*d.level[m]) // down, but not through zero
			}
			d.shift[m] = mag
			d.shiftEnd[m] = t + g.exp(g.opts.ShiftDuration, 2*g.interval, 10*g.opts.ShiftDuration.Microseconds()+2*g.interval)
			smp.shiftEnd = d.shiftEnd[m]
		}
		base := d.level[m] + d.amp[m]*(sa*d.cosPhi[m]+ca*d.sinPhi[m]) + d.dev[m]
		v := base + d.shift[m]
		expected := v // what the point would be without the anomaly
		switch {
		case m != am:
		case ak == kSpike:
			v += d.scale[m] * (5 + 5*g.rng.Float64())
		case ak == kDip:
			v -= d.scale[m] * (5 + 5*g.rng.Float64())
		case ak == kShift:
			expected = base
		}
		p := pow10[md.decimals]
		smp.v[m] = int64(math.Round(min(max(v, md.min), md.max) * p))
		if m == am {
			smp.expected = int64(math.Round(min(max(expected, md.min), md.max) * p))
		}
	}
	if am >= 0 {
		smp.kind, smp.measure = ak, uint8(am)
	}
}

// Next appends the next event's JSON to dst and describes it. It returns
// false when the run is over (Duration or MaxEvents reached); with neither
// set it never does. Next does not allocate in steady state.
func (g *Generator) Next(dst []byte) ([]byte, Event, bool) {
	if g.opts.MaxEvents > 0 && g.emitted >= g.opts.MaxEvents {
		return dst, Event{}, false
	}
	for g.qpos == len(g.queue) {
		if !g.step() {
			return dst, Event{}, false
		}
	}
	s := &g.queue[g.qpos]
	g.qpos++
	g.emitted++
	d := &g.devices[s.device]
	et := s.t
	if s.skew {
		et += g.skewUS
	}
	dst = append(dst, `{"Time":`...)
	dst = appendMillis(dst, et)
	dst = append(dst, d.field...)
	for m := range numMeasures {
		dst = append(dst, measureKeys[m]...)
		dst = appendFixed(dst, s.v[m], models[m].decimals)
	}
	dst = append(dst, '}')

	ev := Event{
		Device:    int(d.index),
		DeviceID:  d.id,
		Time:      time.UnixMicro(s.t).UTC(),
		EventTime: time.UnixMicro(et).UTC(),
		Delivery:  time.UnixMicro(s.delivery).UTC(),
		Skewed:    s.skew,
		Late:      s.late,
		Burst:     s.burst,
	}
	for m := range numMeasures {
		ev.Values[m] = float64(s.v[m]) / pow10[models[m].decimals]
	}
	g.labels = g.labels[:0]
	if s.kind != kNone {
		p := pow10[models[s.measure].decimals]
		l := Label{Kind: kindNames[s.kind], DeviceID: d.id, Measure: Measures()[s.measure], Time: ev.Time,
			Value: ev.Values[s.measure], Expected: float64(s.expected) / p}
		if s.kind == kShift {
			l.End = time.UnixMicro(s.shiftEnd).UTC()
		}
		g.labels = append(g.labels, l)
	}
	if s.skew {
		g.labels = append(g.labels, Label{Kind: KindSkew, DeviceID: d.id, Time: ev.Time, Skewed: ev.EventTime})
	}
	if s.flushN > 0 {
		g.labels = append(g.labels, Label{Kind: KindOffline, DeviceID: d.id, Time: time.UnixMicro(s.flushStart).UTC(),
			End: ev.Delivery, Count: int(s.flushN)})
	}
	ev.Labels = g.labels
	return dst, ev, true
}

// Take returns the next n events (fewer if the run ends first), each in
// its own slice, and the labels they carry: the deterministic list a test
// sends and then looks for in storage.
func (g *Generator) Take(n int) (events [][]byte, labels []Label) {
	events = make([][]byte, 0, n)
	for range n {
		b, ev, ok := g.Next(nil)
		if !ok {
			break
		}
		events = append(events, b)
		labels = append(labels, ev.Labels...)
	}
	return events, labels
}

var measureKeys = [numMeasures]string{
	`,"temperature_measure":`, `,"humidity_measure":`, `,"voltage_measure":`, `,"watt_measure":`,
}
