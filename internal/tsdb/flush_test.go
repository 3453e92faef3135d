package tsdb

import (
	"context"
	"fmt"
	"math"
	"sort"
	"testing"
	"time"

	"github.com/sluice-dev/sluice/internal/columnar"
)

// TestPartitionBatchesByScale: the flush builds one batch per partition and
// decimal scale directly; they must be exactly what splitByScale makes of
// one sorted batch per partition (the way flush worked before), on a
// memtable with measures of different scales, a non-decimal one (π), a
// BIGINT one (NULL in the DOUBLE column), series that span partitions and
// series present in only one of them.
func TestPartitionBatchesByScale(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 11, 27, 12, 30, 0, 0, time.UTC)
	db, err := Open(t.TempDir(), Options{MaintenanceInterval: -1, Now: func() time.Time { return now }}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.EnsureTable(ctx, "iot", "tel", TableOptions{Retention: Retention{Memory: 48 * time.Hour}}); err != nil {
		t.Fatal(err)
	}
	base := now.Add(-3 * time.Hour).Truncate(time.Hour)
	var recs []Record
	for d := range 5 {
		dims := []Dimension{{Name: "DeviceID", Value: fmt.Sprintf("dev-%d", d)}}
		if d%2 == 0 {
			dims = append(dims, Dimension{Name: "site", Value: fmt.Sprintf("s%d", d%3)})
		}
		for k := range 300 {
			if d == 4 && k < 200 {
				continue // only in the last partition
			}
			at := base.Add(time.Duration(k) * 37 * time.Second).UnixNano() // three partitions
			recs = append(recs,
				Record{Dimensions: dims, MeasureName: "temp", Time: at, Value: Double(math.Round(float64(200+k%9+d)) / 10)},
				Record{Dimensions: dims, MeasureName: "hum", Time: at, Value: Double(float64(4500+k%13) / 100)},
				Record{Dimensions: dims, MeasureName: "volt", Time: at, Value: Double(float64(230 + k%3))},
				Record{Dimensions: dims, MeasureName: "count", Time: at, Value: Bigint(int64(k))},
			)
			if d == 1 {
				v := 1.5
				if k == 150 {
					v = math.Pi // no decimal scale for "odd" in its partition
				}
				recs = append(recs, Record{Dimensions: dims, MeasureName: "odd", Time: at, Value: Double(v)})
			}
		}
	}
	if rej, err := db.Write(ctx, "iot", "tel", recs); err != nil || len(rej) > 0 {
		t.Fatalf("write: %v %+v", err, rej)
	}
	tb, err := db.table("iot", "tel")
	if err != nil {
		t.Fatal(err)
	}
	tb.mu.RLock()
	m := tb.active
	tb.mu.RUnlock()
	got := db.partitionBatches(tb, m, math.MinInt64)
	var want []partitionBatch
	for _, pb := range partitionBatchesOld(db, tb, m, math.MinInt64) {
		for _, sub := range splitByScale(pb.batch) {
			want = append(want, partitionBatch{partition: pb.partition, batch: sub, dims: pb.dims})
		}
	}
	if len(got) != len(want) {
		t.Fatalf("%d batches, want %d", len(got), len(want))
	}
	scales := 0
	for i := range got {
		if i > 0 && got[i].partition == got[i-1].partition {
			scales++
		}
		if got[i].partition != want[i].partition || fmt.Sprint(got[i].dims) != fmt.Sprint(want[i].dims) {
			t.Fatalf("batch %d: partition %d dims %v, want %d %v", i, got[i].partition, got[i].dims, want[i].partition, want[i].dims)
		}
		if diff := batchDiff(got[i].batch, want[i].batch); diff != "" {
			t.Fatalf("batch %d (partition %d): %s", i, got[i].partition, diff)
		}
	}
	if scales == 0 {
		t.Fatal("no partition was split by scale: the test data does not exercise the split")
	}
}

// batchDiff describes the first difference between two batches, "" if none.
func batchDiff(a, b *columnar.Batch) string {
	if fmt.Sprint(a.Names) != fmt.Sprint(b.Names) {
		return fmt.Sprintf("columns %v, want %v", a.Names, b.Names)
	}
	if a.Len() != b.Len() {
		return fmt.Sprintf("%d rows, want %d", a.Len(), b.Len())
	}
	for ci, name := range a.Names {
		for r := range a.Len() {
			x, y := fmt.Sprint(a.Cols[ci].Value(r)), fmt.Sprint(b.Cols[ci].Value(r))
			if x != y {
				return fmt.Sprintf("row %d column %s: %s, want %s", r, name, x, y)
			}
		}
	}
	return ""
}

// partitionBatchesOld is the flush's batching before it split by scale
// itself: one sorted batch per partition (kept as the reference).
func partitionBatchesOld(db *DB, t *table, m *memtable, oldest int64) []partitionBatch {
	t.mu.RLock()
	dimSet := map[string]bool{}
	fieldSet := map[string]columnar.Type{}
	list := make([]*memSeries, 0, len(m.series))
	for _, ms := range m.series {
		list = append(list, ms)
		for _, d := range ms.s.dims {
			dimSet[d.Name] = true
		}
		for _, f := range ms.fields {
			fieldSet[f.name] = f.col.Type
		}
	}
	t.mu.RUnlock()
	dims := make([]string, 0, len(dimSet))
	for d := range dimSet {
		dims = append(dims, d)
	}
	sort.Strings(dims)
	sort.Slice(list, func(i, j int) bool { return compareSeries(list[i].s, list[j].s, dims) < 0 })
	byPart := map[int64]*batchBuilder{}
	var order []int64
	for _, ms := range list {
		i := 0
		for i < len(ms.times) {
			if ms.times[i] < oldest {
				i++
				continue
			}
			p := db.partitionOf(ms.times[i])
			j := i + 1
			for j < len(ms.times) && ms.times[j] < p+int64(db.opts.PartitionDuration) {
				j++
			}
			bb := byPart[p]
			if bb == nil {
				bb = newBatchBuilder(dims, fieldSet, true)
				byPart[p] = bb
				order = append(order, p)
			}
			bb.appendMem(ms.s, ms.times, ms.versions, ms.fields, i, j)
			i = j
		}
	}
	sort.Slice(order, func(i, j int) bool { return order[i] < order[j] })
	out := make([]partitionBatch, 0, len(order))
	for _, p := range order {
		out = append(out, partitionBatch{partition: p, batch: byPart[p].b, dims: dims})
	}
	return out
}
