package tsdb

import (
	"context"
	"slices"
	"testing"
	"time"
)

// TestTieredCompaction: the background compaction merges small parts with
// each other and leaves a large part alone until the small ones add up to
// its size; late points into an old partition do not rewrite it until no
// more have come for quietAfter.
func TestTieredCompaction(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 11, 26, 12, 30, 0, 0, time.UTC)
	db, err := Open(t.TempDir(), Options{MaintenanceInterval: -1, Now: func() time.Time { return now }}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.EnsureTable(ctx, "iot", "tel", TableOptions{}); err != nil {
		t.Fatal(err)
	}
	hourAgo := now.Add(-time.Hour).Truncate(time.Hour) // a past partition
	write := func(from, n int) {
		t.Helper()
		recs := make([]Record, n)
		for i := range recs {
			recs[i] = Record{
				Dimensions:  []Dimension{{Name: "DeviceID", Value: "d"}},
				MeasureName: "temp",
				Time:        hourAgo.Add(time.Duration(from+i) * time.Second).UnixNano(),
				Value:       Double(20.5),
			}
		}
		if rej, err := db.Write(ctx, "iot", "tel", recs); err != nil || len(rej) > 0 {
			t.Fatalf("write: %v %+v", err, rej)
		}
		if err := db.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}
	files := func() []string {
		t.Helper()
		tb, err := db.table("iot", "tel")
		if err != nil {
			t.Fatal(err)
		}
		tb.mu.RLock()
		defer tb.mu.RUnlock()
		var out []string
		for _, ps := range tb.partitions {
			for _, p := range ps {
				out = append(out, p.entry.File)
			}
		}
		slices.Sort(out)
		return out
	}
	maintain := func() {
		t.Helper()
		if err := db.maintainOnce(ctx); err != nil {
			t.Fatal(err)
		}
	}

	write(0, 1000)
	big := files()
	if len(big) != 1 {
		t.Fatalf("after the first flush: parts %v, want 1", big)
	}
	write(1000, 1) // a late point
	maintain()
	if got := files(); len(got) != 2 || !slices.Contains(got, big[0]) {
		t.Fatalf("one late point: parts %v, want the large part and the new one", got)
	}
	write(1001, 1)
	maintain() // the two small parts merge; the large one stays
	if got := files(); len(got) != 2 || !slices.Contains(got, big[0]) {
		t.Fatalf("two late points: parts %v, want the large part %s and one merged part", got, big[0])
	}
	if rows := scanAll(t, db); len(rows) != 1002 {
		t.Fatalf("%d rows, want 1002", len(rows))
	}
	write(2000, 999) // about the large part's size: the two merge
	maintain()
	if got := files(); len(got) != 2 || slices.Contains(got, big[0]) {
		t.Fatalf("after a flush as large: parts %v, want the small merged part and a new merged one", got)
	}
	if rows := scanAll(t, db); len(rows) != 2001 {
		t.Fatalf("%d rows, want 2001", len(rows))
	}
	now = now.Add(quietAfter + time.Second) // no late data for a while
	maintain()
	if got := files(); len(got) != 1 {
		t.Fatalf("once the partition is quiet: parts %v, want 1", got)
	}
	if rows := scanAll(t, db); len(rows) != 2001 {
		t.Fatalf("%d rows, want 2001", len(rows))
	}
}

func TestPickTieredRuns(t *testing.T) {
	tests := []struct {
		rows     []int64 // ascending
		minParts int
		i, n     int // the run merged
	}{
		{[]int64{10}, 2, 0, 0},
		{[]int64{1, 1000}, 2, 0, 0},
		{[]int64{1, 1, 1000}, 2, 0, 2},
		{[]int64{2, 999, 1000}, 2, 1, 2},
		{[]int64{1, 1, 1}, 4, 0, 0},
		{[]int64{1, 1, 1, 1}, 4, 0, 4},
		{[]int64{1, 1, 1, 1, 8}, 4, 0, 5},
		{[]int64{1, 1, 1, 1, 12}, 4, 0, 4},
		{[]int64{1, 10, 11, 12, 13, 100}, 4, 1, 4},
		{[]int64{1, 3, 9, 27}, 2, 0, 0},
	}
	for _, tt := range tests {
		i, n := tierRun(tt.rows, tt.minParts)
		if n == 0 {
			i = 0
		}
		if i != tt.i || n != tt.n {
			t.Errorf("tierRun(%v, %d) = %d, %d; want %d, %d", tt.rows, tt.minParts, i, n, tt.i, tt.n)
		}
	}
}

// TestTieredWriteAmplification replays an hour of equal flushes into one
// partition (900: one every 4 s, as at 1 M points/s with the default
// HeadMaxPoints) through pickTiered's rule and bounds the rows written per
// row flushed and the parts held. Merging everything at 8 parts, the rule
// before, wrote each row 65 times.
func TestTieredWriteAmplification(t *testing.T) {
	for _, minParts := range []int{2, 4} {
		var parts []int64
		var written int64
		most := 0
		const flushes = 900
		for range flushes {
			parts = append(parts, 1)
			written++
			for {
				slices.Sort(parts)
				i, n := tierRun(parts, minParts)
				if n == 0 {
					break
				}
				var sum int64
				for _, r := range parts[i : i+n] {
					sum += r
				}
				written += sum
				parts = append(slices.Delete(parts, i, i+n), sum)
			}
			most = max(most, len(parts))
		}
		amp := float64(written) / flushes
		t.Logf("at least %d parts a merge: %.1f rows written per row flushed, at most %d parts", minParts, amp, most)
		if amp > 8 || most > 10 {
			t.Errorf("at least %d parts a merge: %.1f rows written per row flushed (want ≤ 8), at most %d parts (want ≤ 10)", minParts, amp, most)
		}
	}
}
