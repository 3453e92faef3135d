package differential

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sluice-dev/sluice/internal/app"
	"github.com/sluice-dev/sluice/internal/apptest"
	"github.com/sluice-dev/sluice/internal/config"
	"github.com/sluice-dev/sluice/internal/tsdb"
)

// The data set, the same in both servers:
//
//   - iot.telemetry (single-measure records, sluice's default table shape):
//     devices dev-0..dev-4 × measures temperature, humidity, voltage, watt ×
//     180 points 10 s apart (30 minutes), DOUBLE values in steps of 0.25
//     with many ties (for rank/DISTINCT) and negative watts.
//   - iot.events (multi-measure records named "event"): 5 devices × 60
//     points 30 s apart with dimensions DeviceID and, for two devices in
//     three, firmware; measures code BIGINT, level DOUBLE, msg VARCHAR and
//     ok BOOLEAN, each left out of some records so its column has NULLs.
//   - iot.devices (one multi-measure record "loc" per device at the base
//     time): dimensions DeviceID and region, measures lat, lon DOUBLE and
//     floor BIGINT. dev-4 has no row here and dev-9 no telemetry, so joins
//     have unmatched rows on both sides.
const (
	nDevices = 5
	nPoints  = 180
	step     = 10 * time.Second
	nEvents  = 60
	evStep   = 30 * time.Second
)

var measures = []string{"temperature", "humidity", "voltage", "watt"}

func device(d int) string { return fmt.Sprintf("dev-%d", d) }

func value(d, m, k int) float64 {
	v := float64((d*131+k*17+m*29)%97) / 4
	switch measures[m] {
	case "temperature":
		return 15 + v/2
	case "humidity":
		return 30 + v
	case "voltage":
		return 220 + v/10
	}
	return v*3 - 20 // watt: some negative
}

type telemetryRow struct {
	time    time.Time
	device  string
	measure string
	value   float64
}

type eventRow struct {
	time     time.Time
	device   string
	firmware *string
	code     *int64
	level    *float64
	msg      *string
	ok       *bool
}

type deviceRow struct {
	time     time.Time
	device   string
	region   string
	lat, lon float64
	floor    int64
}

type dataset struct {
	base      time.Time
	telemetry []telemetryRow
	events    []eventRow
	devices   []deviceRow
}

func makeData(base time.Time) dataset {
	ds := dataset{base: base}
	for d := range nDevices {
		for k := range nPoints {
			for m, name := range measures {
				ds.telemetry = append(ds.telemetry, telemetryRow{base.Add(time.Duration(k) * step), device(d), name, value(d, m, k)})
			}
		}
	}
	msgs := []string{"Boot OK", "overheat", "Link down", "link up", "reset_by_user", "ok%done"}
	for d := range nDevices {
		for k := range nEvents {
			e := eventRow{time: base.Add(time.Duration(k)*evStep + time.Duration(d)*time.Second), device: device(d)}
			if (d+k)%3 != 0 {
				fw := fmt.Sprintf("v1.%d", (d+k)%3)
				e.firmware = &fw
			}
			if k%4 != 1 {
				c := int64((d*7 + k*5) % 13)
				e.code = &c
			}
			if k%5 != 2 {
				l := float64((d*11+k*3)%23)/2 - 3
				e.level = &l
			}
			if k%3 != 0 {
				s := msgs[(d+k)%len(msgs)]
				e.msg = &s
			}
			if k%7 != 3 {
				b := (d+k)%2 == 0
				e.ok = &b
			}
			// A record needs at least one measure.
			if e.code == nil && e.level == nil && e.msg == nil && e.ok == nil {
				c := int64(99)
				e.code = &c
			}
			ds.events = append(ds.events, e)
		}
	}
	regions := []string{"north", "south", "north", "east"}
	for i, d := range []int{0, 1, 2, 3, 9} {
		ds.devices = append(ds.devices, deviceRow{base, device(d), regions[i%len(regions)], 45 + float64(d)/8, 7 - float64(d)/4, int64(d % 3)})
	}
	return ds
}

// startSluice starts a sluice with the data set written straight into its
// store and returns a wire-protocol connection to it.
func startSluice(t *testing.T, ds dataset) (*app.App, *pgx.Conn) {
	t.Helper()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.PGAddr = "127.0.0.1:0"
	cfg.MQTTAddr = ""
	a := apptest.Start(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	write := func(table string, recs []tsdb.Record) {
		if err := a.DB().EnsureTable(ctx, "iot", table, tsdb.TableOptions{Retention: tsdb.Retention{Memory: cfg.MemoryRetention, Magnetic: cfg.MagneticRetention}}); err != nil {
			t.Fatalf("creating iot.%s: %v", table, err)
		}
		if rej, err := a.DB().Write(ctx, "iot", table, recs); err != nil || len(rej) > 0 {
			t.Fatalf("writing iot.%s: %v, rejected %v", table, err, rej)
		}
	}
	var recs []tsdb.Record
	for _, r := range ds.telemetry {
		recs = append(recs, tsdb.Record{Dimensions: []tsdb.Dimension{{Name: "DeviceID", Value: r.device}}, MeasureName: r.measure, Time: r.time.UnixNano(), Value: tsdb.Double(r.value)})
	}
	write("telemetry", recs)
	recs = nil
	for _, e := range ds.events {
		dims := []tsdb.Dimension{{Name: "DeviceID", Value: e.device}}
		if e.firmware != nil {
			dims = append(dims, tsdb.Dimension{Name: "firmware", Value: *e.firmware})
		}
		var mv []tsdb.MeasureValue
		if e.code != nil {
			mv = append(mv, tsdb.MeasureValue{Name: "code", Value: tsdb.Bigint(*e.code)})
		}
		if e.level != nil {
			mv = append(mv, tsdb.MeasureValue{Name: "level", Value: tsdb.Double(*e.level)})
		}
		if e.msg != nil {
			mv = append(mv, tsdb.MeasureValue{Name: "msg", Value: tsdb.Varchar(*e.msg)})
		}
		if e.ok != nil {
			mv = append(mv, tsdb.MeasureValue{Name: "ok", Value: tsdb.Boolean(*e.ok)})
		}
		recs = append(recs, tsdb.Record{Dimensions: dims, MeasureName: "event", Time: e.time.UnixNano(), Multi: mv})
	}
	write("events", recs)
	recs = nil
	for _, d := range ds.devices {
		recs = append(recs, tsdb.Record{
			Dimensions:  []tsdb.Dimension{{Name: "DeviceID", Value: d.device}, {Name: "region", Value: d.region}},
			MeasureName: "loc", Time: d.time.UnixNano(),
			Multi: []tsdb.MeasureValue{{Name: "lat", Value: tsdb.Double(d.lat)}, {Name: "lon", Value: tsdb.Double(d.lon)}, {Name: "floor", Value: tsdb.Bigint(d.floor)}},
		})
	}
	write("devices", recs)

	host, port, _ := strings.Cut(a.PGAddr(), ":")
	conn, err := pgx.Connect(ctx, fmt.Sprintf("user=sluice host=%s port=%s dbname=iot sslmode=disable", host, port))
	if err != nil {
		t.Fatalf("connecting to sluice: %v", err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return a, conn
}

// loadPostgres creates the same tables in PostgreSQL (schema iot, so that
// the same qualified names work) and copies the data set in.
func loadPostgres(t *testing.T, conn *pgx.Conn, ds dataset) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, s := range []string{
		`CREATE SCHEMA iot`,
		`CREATE TABLE iot.telemetry ("DeviceID" text, measure_name text, time timestamp, "measure_value::double" double precision)`,
		`CREATE TABLE iot.events ("DeviceID" text, firmware text, measure_name text, time timestamp, code bigint, level double precision, msg text, ok boolean)`,
		`CREATE TABLE iot.devices ("DeviceID" text, region text, measure_name text, time timestamp, lat double precision, lon double precision, floor bigint)`,
	} {
		if _, err := conn.Exec(ctx, s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	copyIn := func(table string, cols []string, rows [][]any) {
		if _, err := conn.CopyFrom(ctx, pgx.Identifier{"iot", table}, cols, pgx.CopyFromRows(rows)); err != nil {
			t.Fatalf("copying into iot.%s: %v", table, err)
		}
	}
	var rows [][]any
	for _, r := range ds.telemetry {
		rows = append(rows, []any{r.device, r.measure, r.time, r.value})
	}
	copyIn("telemetry", []string{"DeviceID", "measure_name", "time", "measure_value::double"}, rows)
	rows = nil
	for _, e := range ds.events {
		rows = append(rows, []any{e.device, e.firmware, "event", e.time, e.code, e.level, e.msg, e.ok})
	}
	copyIn("events", []string{"DeviceID", "firmware", "measure_name", "time", "code", "level", "msg", "ok"}, rows)
	rows = nil
	for _, d := range ds.devices {
		rows = append(rows, []any{d.device, d.region, "loc", d.time, d.lat, d.lon, d.floor})
	}
	copyIn("devices", []string{"DeviceID", "region", "measure_name", "time", "lat", "lon", "floor"}, rows)
	if _, err := conn.Exec(ctx, `ANALYZE`); err != nil {
		t.Fatal(err)
	}
}
