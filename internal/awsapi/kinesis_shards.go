package awsapi

import (
	"crypto/md5"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math/big"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Shards, sequence numbers and shard iterators (aws-compat.md §6.3).

// hashKey is a 128-bit Kinesis hash key, big-endian halves.
type hashKey struct{ hi, lo uint64 }

func (h hashKey) less(o hashKey) bool { return h.hi < o.hi || h.hi == o.hi && h.lo < o.lo }

func (h hashKey) big() *big.Int {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], h.hi)
	binary.BigEndian.PutUint64(b[8:], h.lo)
	return new(big.Int).SetBytes(b[:])
}

func (h hashKey) String() string { return h.big().String() }

func hashKeyOf(b *big.Int) hashKey {
	var buf [16]byte
	b.FillBytes(buf[:])
	return hashKey{binary.BigEndian.Uint64(buf[:8]), binary.BigEndian.Uint64(buf[8:])}
}

// partitionHash is MD5(key) read as a big-endian 128-bit integer, as
// Kinesis maps partition keys to shards.
func partitionHash(key string) hashKey {
	sum := md5.Sum([]byte(key))
	return hashKey{binary.BigEndian.Uint64(sum[:8]), binary.BigEndian.Uint64(sum[8:])}
}

var maxHashKey = new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 128), big.NewInt(1))

// parseExplicitHashKey parses a decimal ExplicitHashKey in [0, 2^128-1].
func parseExplicitHashKey(s string) (hashKey, error) {
	if len(s) == 0 || len(s) > 39 {
		return hashKey{}, errors.New("ExplicitHashKey must be a decimal number between 0 and 2^128-1")
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return hashKey{}, errors.New("ExplicitHashKey must be a decimal number between 0 and 2^128-1")
		}
	}
	b, ok := new(big.Int).SetString(s, 10)
	if !ok || b.Cmp(maxHashKey) > 0 {
		return hashKey{}, errors.New("ExplicitHashKey must be a decimal number between 0 and 2^128-1")
	}
	return hashKeyOf(b), nil
}

// shardLayout is the even split of the hash key space into n shards:
// shard i starts at floor(i·2^128/n).
type shardLayout struct {
	starts []hashKey
}

// layoutCache keeps shard layouts by shard count; values are immutable.
type layoutCache struct{ m sync.Map }

func (lc *layoutCache) get(n int) *shardLayout {
	if l, ok := lc.m.Load(n); ok {
		return l.(*shardLayout)
	}
	l := &shardLayout{starts: make([]hashKey, n)}
	space := new(big.Int).Lsh(big.NewInt(1), 128)
	for i := range n {
		v := new(big.Int).Mul(space, big.NewInt(int64(i)))
		v.Div(v, big.NewInt(int64(n)))
		l.starts[i] = hashKeyOf(v)
	}
	actual, _ := lc.m.LoadOrStore(n, l)
	return actual.(*shardLayout)
}

// shardOf returns the shard whose range holds h.
func (l *shardLayout) shardOf(h hashKey) int {
	// The first start greater than h, minus one.
	i := sort.Search(len(l.starts), func(i int) bool { return h.less(l.starts[i]) })
	return i - 1
}

// rangeOf returns shard i's [start, end] as decimal strings.
func (l *shardLayout) rangeOf(i int) (string, string) {
	start := l.starts[i].String()
	var end *big.Int
	if i+1 < len(l.starts) {
		end = new(big.Int).Sub(l.starts[i+1].big(), big.NewInt(1))
	} else {
		end = maxHashKey
	}
	return start, end.String()
}

// recordShard is the shard of a stored record: its explicit hash key if it
// has one, else MD5 of its partition key.
func (l *shardLayout) recordShard(key, explicit string) int {
	if explicit != "" {
		if h, err := parseExplicitHashKey(explicit); err == nil {
			return l.shardOf(h)
		}
	}
	return l.shardOf(partitionHash(key))
}

func shardID(i int) string { return fmt.Sprintf("shardId-%012d", i) }

// parseShardID accepts "shardId-000000000003" (and a bare number, as some
// tools send).
func parseShardID(s string) (int, bool) {
	s = strings.TrimPrefix(s, "shardId-")
	if s == "" || len(s) > 12 {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, false
	}
	return n, true
}

// A sequence number is the decimal "4" + stream sequence (20 digits) +
// record index in the message (7 digits) + shard (5 digits): fixed length,
// so numeric order is string order, increasing within a shard, and it
// names where the record is.
const (
	seqLen      = 1 + 20 + 7 + 5
	maxRecIndex = 9_999_999
	maxShards   = 99_999
)

// position is a place in a stream: message seq, record index in it.
type position struct {
	seq uint64
	idx int
}

func (p position) less(o position) bool { return p.seq < o.seq || p.seq == o.seq && p.idx < o.idx }

func formatSeq(p position, shard int) string {
	b := make([]byte, 0, seqLen)
	b = append(b, '4')
	b = appendPadded(b, p.seq, 20)
	b = appendPadded(b, uint64(p.idx), 7)
	b = appendPadded(b, uint64(shard), 5)
	return string(b)
}

func appendPadded(b []byte, v uint64, width int) []byte {
	var tmp [20]byte
	s := strconv.AppendUint(tmp[:0], v, 10)
	for i := len(s); i < width; i++ {
		b = append(b, '0')
	}
	return append(b, s...)
}

func parseSeq(s string) (position, int, error) {
	if len(s) != seqLen || s[0] != '4' {
		return position{}, 0, errors.New("not a sequence number of this stream")
	}
	for i := 1; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return position{}, 0, errors.New("not a sequence number of this stream")
		}
	}
	seq, err1 := strconv.ParseUint(s[1:21], 10, 64)
	idx, err2 := strconv.Atoi(s[21:28])
	shard, err3 := strconv.Atoi(s[28:])
	if err1 != nil || err2 != nil || err3 != nil {
		return position{}, 0, errors.New("not a sequence number of this stream")
	}
	return position{seq, idx}, shard, nil
}

// iteratorTTL is how long a shard iterator is good for (Kinesis: 5 min).
const iteratorTTL = 5 * time.Minute

// iterator is a decoded shard iterator: where the next GetRecords reads.
type iterator struct {
	stream string
	shard  int
	pos    position
	issued time.Time
}

// An iterator is base64url(version=1, shard, seq, idx, issued ms (all
// uvarint), stream name, CRC-32 of the preceding bytes). It carries no
// secret: GetRecords checks the caller's right to the stream it names.
func encodeIterator(it iterator) string {
	b := make([]byte, 0, 48+len(it.stream))
	b = append(b, 1)
	b = binary.AppendUvarint(b, uint64(it.shard))
	b = binary.AppendUvarint(b, it.pos.seq)
	b = binary.AppendUvarint(b, uint64(it.pos.idx))
	b = binary.AppendUvarint(b, uint64(it.issued.UnixMilli()))
	b = append(b, it.stream...)
	b = binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(b))
	return base64.RawURLEncoding.EncodeToString(b)
}

var errBadIterator = errors.New("invalid ShardIterator")

func decodeIterator(s string) (iterator, error) {
	if len(s) == 0 || len(s) > 512 {
		return iterator{}, errBadIterator
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) < 6 || b[0] != 1 {
		return iterator{}, errBadIterator
	}
	body, sum := b[:len(b)-4], binary.BigEndian.Uint32(b[len(b)-4:])
	if crc32.ChecksumIEEE(body) != sum {
		return iterator{}, errBadIterator
	}
	p := body[1:]
	var vals [4]uint64
	for i := range vals {
		v, k := binary.Uvarint(p)
		if k <= 0 {
			return iterator{}, errBadIterator
		}
		vals[i] = v
		p = p[k:]
	}
	if vals[0] > maxShards || vals[2] > maxRecIndex || vals[3] > 1<<53 || len(p) == 0 || validStreamName(string(p)) != nil {
		return iterator{}, errBadIterator
	}
	return iterator{stream: string(p), shard: int(vals[0]), pos: position{vals[1], int(vals[2])},
		issued: time.UnixMilli(int64(vals[3]))}, nil
}

// validStreamName checks a Kinesis stream name that is also a sluice
// stream name (no dots: they separate subject tokens).
func validStreamName(name string) error {
	if len(name) < 1 || len(name) > 128 {
		return fmt.Errorf("stream name %q must be 1 to 128 characters long", name)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			if c == '.' {
				return fmt.Errorf("stream name %q: sluice stream names cannot contain '.'", name)
			}
			return fmt.Errorf("stream name %q has %q; allowed are letters, digits, '_' and '-'", name, c)
		}
	}
	return nil
}
