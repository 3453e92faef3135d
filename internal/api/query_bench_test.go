package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/sluice-dev/sluice/internal/api"
	"github.com/sluice-dev/sluice/internal/cputime"
	sluicesql "github.com/sluice-dev/sluice/internal/sql"
	"github.com/sluice-dev/sluice/internal/tsdb"
)

// BenchmarkQuery: one op is one POST /v1/query over loopback HTTP, answer
// read whole, on the query suite's data shape (devices × 4 measures × one
// point per second for an hour, flushed and compacted to parts), for a
// random device each op as `sluice bench query` does. cache=off decodes
// every page (Q1's usual case with 1,000 devices, whose pages do not fit
// the page cache); cache=on serves them from it after the first ops.
// cpu-ns/op is the process's CPU time (server, client, GC) per op.
//
//	go test ./internal/api -run '^$' -bench 'BenchmarkQuery$' -count 5
func BenchmarkQuery(b *testing.B) {
	const devices, ticks = 50, 3600
	queries := []struct{ name, sql string }{
		{"q1_series_hour", "SELECT time, measure_value::double FROM iot.telemetry WHERE DeviceID = '%s' AND measure_name = 'temperature' AND time > ago(1h) ORDER BY time DESC"},
		{"q2_series_minutely", "SELECT bin(time, 1m) AS minute, avg(measure_value::double) AS avg_value FROM iot.telemetry WHERE DeviceID = '%s' AND measure_name = 'temperature' AND time > ago(1h) GROUP BY bin(time, 1m) ORDER BY minute"},
	}
	for _, cache := range []string{"off", "on"} {
		opts := tsdb.Options{MaintenanceInterval: -1, NoSync: true, PageCacheBytes: -1}
		if cache == "on" {
			opts.PageCacheBytes = 0
		}
		db, err := tsdb.Open(b.TempDir(), opts, nil, nil)
		if err != nil {
			b.Fatal(err)
		}
		ctx := context.Background()
		if err := db.EnsureTable(ctx, "iot", "telemetry", tsdb.TableOptions{Retention: tsdb.Retention{Memory: 1000 * time.Hour}}); err != nil {
			b.Fatal(err)
		}
		// The data starts on a minute; the engine's clock puts ago(1h)
		// 30.5 s into it, so that its first minute straddles the bound
		// (read from rows) in every op, as in a live run.
		start := time.Now().Add(-2 * time.Hour).Truncate(time.Minute)
		now := start.Add(time.Hour + 30500*time.Millisecond)
		ids := make([]string, devices)
		for d := range ids {
			ids[d] = fmt.Sprintf("%08x-0000-4000-8000-%012x", d*2654435761%(1<<32), d)
		}
		var recs []tsdb.Record
		for k := range ticks {
			for d, id := range ids {
				dims := []tsdb.Dimension{{Name: "DeviceID", Value: id}}
				tm := start.Add(time.Duration(k) * time.Second).UnixNano()
				for m, name := range []string{"temperature", "humidity", "voltage", "watt"} {
					v := math.Round((20+10*float64(m)+3*math.Sin(float64(k)/600+float64(d)))*10) / 10
					recs = append(recs, tsdb.Record{Dimensions: dims, MeasureName: name, Time: tm, Value: tsdb.Double(v)})
				}
			}
			if len(recs) >= 10_000 || k == ticks-1 {
				if rej, err := db.Write(ctx, "iot", "telemetry", recs); err != nil || len(rej) > 0 {
					b.Fatalf("write: %v %v", err, rej)
				}
				recs = recs[:0]
			}
		}
		if err := db.Flush(ctx); err != nil {
			b.Fatal(err)
		}
		if err := db.Compact(ctx); err != nil {
			b.Fatal(err)
		}
		srv := api.New(db, nil)
		srv.SetQuerier(sluicesql.New(db, sluicesql.Options{Now: func() time.Time { return now }}))
		mux := http.NewServeMux()
		srv.Register(mux)
		hs := httptest.NewServer(mux)
		client := hs.Client()
		for _, q := range queries {
			b.Run(fmt.Sprintf("query=%s/cache=%s", q.name, cache), func(b *testing.B) {
				var body bytes.Buffer
				b.ReportAllocs()
				cpu0 := cputime.Now()
				for i := range b.N {
					req, _ := json.Marshal(map[string]any{"sql": fmt.Sprintf(q.sql, ids[i*7%devices]), "max_rows": 10_000_000})
					resp, err := client.Post(hs.URL+"/v1/query", "application/json", bytes.NewReader(req))
					if err != nil {
						b.Fatal(err)
					}
					body.Reset()
					_, err = io.Copy(&body, resp.Body)
					resp.Body.Close()
					if err != nil || resp.StatusCode != http.StatusOK {
						b.Fatalf("HTTP %d %v: %s", resp.StatusCode, err, body.Bytes())
					}
				}
				if cpu := cputime.Now() - cpu0; cpu > 0 {
					// Server and client CPU together: steadier than
					// ns/op on a machine others share.
					b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
				}
			})
		}
		hs.Close()
		db.Close()
	}
}
