package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/sluice-dev/sluice/internal/app"
	"github.com/sluice-dev/sluice/internal/config"
	"github.com/sluice-dev/sluice/internal/simulate"
)

func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("sluice demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	devices := fs.Int("devices", 100, "number of simulated devices")
	rate := fs.Float64("rate", 1, "events per second per device")
	seed := fs.Int64("seed", 1, "simulator seed")
	cfg, err := loadConfig(fs, args)
	if err != nil {
		return err
	}
	if cfg.LakeBufferInterval == config.Default().LakeBufferInterval {
		// Firehose's 300 s would keep the lake empty for the first five
		// minutes of a demo.
		cfg.LakeBufferInterval = 10 * time.Second
	}
	a, err := startApp(ctx, cfg, stderr)
	if err != nil {
		return err
	}
	lakeNote := "(the lake is off: --lake=false)"
	if cfg.Lake {
		if err := demoLakeTables(ctx, a, cfg, *devices, *seed); err != nil {
			stopApp(a, stdout)
			return err
		}
		lakeNote = fmt.Sprintf("(raw events reach the lake every %s)", cfg.LakeBufferInterval)
	}
	base := "http://" + a.HTTPAddr()
	pg := a.PGAddr()
	fmt.Fprintf(stdout, `sluice demo: %d simulated devices send %g event/s each over HTTP.

  HTTP API      %s
  MQTT          %s  (topic devices/<id>/telemetry)
  PostgreSQL    %s  (Grafana's PostgreSQL data source, psql)
  metrics       %s/metrics
  data          %s

Try (in another terminal):

  # send an event
  curl -s -X POST %s/v1/streams/events/records -d '{"DeviceID":"my-device","temperature_measure":21.5}'

  # average temperature per device over the last 15 minutes
  go run ./cmd/sluice query --url %s "SELECT DeviceID, round(avg(measure_value::double), 2) AS avg_temp, count(*) AS points FROM iot.telemetry WHERE measure_name = 'temperature' AND time > ago(15m) GROUP BY 1 ORDER BY 2 DESC LIMIT 5"

  # one-minute bins of power for the whole fleet, over HTTP
  curl -s -X POST %s/v1/query -d '{"sql": "SELECT bin(time, 1m) AS minute, round(sum(measure_value::double), 1) AS watts FROM iot.telemetry WHERE measure_name = '\''watt'\'' GROUP BY 1 ORDER BY 1 DESC LIMIT 5"}'

  # events that could not be mapped, and device clocks that were corrected, with psql
  psql "host=%s port=%s user=sluice sslmode=disable" -c "SELECT reason, count(*) FROM sluice.dead_letters GROUP BY 1" -c "SELECT DeviceID, offset_seconds, time FROM sluice.clock_corrections ORDER BY time DESC LIMIT 5"

  # the seed's Athena query over the raw-event data lake joined with the devices' locations %s
  psql "host=%s port=%s user=sluice sslmode=disable" -c 'SELECT Count(*) as "operating_devices_count", -- 1
  ST_AsText(ST_Point("smart_devices_location"."latitude", "smart_devices_location"."longitude")) as "location" -- 2
  FROM "devices_data"."smart_devices_events"
  INNER JOIN "master_data"."smart_devices_location"
  ON "smart_devices_location"."device_id" = "smart_devices_events"."deviceid"
  GROUP BY 2 -- second projected column
  ;'

  # anomalies of one device's temperature against its learned baseline, and a picture with a forecast
  go run ./cmd/sluice query --url %s "SELECT time, value, expected, score FROM anomalies(table => 'iot.telemetry', measure => 'temperature', DeviceID => '%s') WHERE is_anomaly"
  curl -s -o temperature.svg '%s/v1/plot?table=iot.telemetry&measure=temperature&dim.DeviceID=%s&horizon=120'

Ctrl-C stops the demo.

`, *devices, *rate, base, orOff(a.MQTTAddr()), orOff(pg), base, cfg.DataDir, base, base, base, pgHost(pg), pgPort(pg),
		lakeNote, pgHost(pg), pgPort(pg), base, simulate.DeviceID(*seed, 0), base, simulate.DeviceID(*seed, 0))

	opts := simulate.DemoOptions()
	opts.Devices, opts.Rate, opts.Seed = *devices, *rate, *seed
	sink := simulate.NewHTTPSink(base, cfg.Stream, opts.Batch, &http.Client{Timeout: 30 * time.Second})
	simCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := simulate.Run(simCtx, opts, sink, stdout, nil)
		done <- err
	}()
	<-ctx.Done()
	cancel()
	if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintf(stderr, "simulator: %v\n", err)
	}
	return stopApp(a, stdout)
}

func pgHost(addr string) string {
	h, _, err := net.SplitHostPort(addr)
	if err != nil {
		return "127.0.0.1"
	}
	return h
}

func pgPort(addr string) string {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "5433"
	}
	return p
}

// demoLakeTables makes the seed's Athena query work out of the box: the
// raw events the lake writer delivers become "devices_data".
// "smart_devices_events" (what the seed's Glue crawler would find), and the
// simulated devices' sites become the reference table "master_data".
// "smart_devices_location", a CSV file in the lake.
func demoLakeTables(ctx context.Context, a *app.App, cfg config.Config, devices int, seed int64) error {
	root := cfg.LakeDir
	if root == "" {
		root = filepath.Join(cfg.DataDir, "lake")
	}
	dir := filepath.Join(root, "master_data", "smart_devices_location")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	var buf bytes.Buffer
	if err := simulate.WriteLocationsCSV(&buf, simulate.Locations(seed, devices)); err != nil {
		return err
	}
	tmp := filepath.Join(dir, ".locations.csv.tmp")
	if err := os.WriteFile(tmp, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("demo: write device locations: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, "locations.csv")); err != nil {
		return fmt.Errorf("demo: write device locations: %w", err)
	}
	for _, ddl := range []string{
		`CREATE DATABASE IF NOT EXISTS devices_data`,
		`CREATE DATABASE IF NOT EXISTS master_data`,
		`CREATE EXTERNAL TABLE IF NOT EXISTS devices_data.smart_devices_events (
			deviceid string, time double,
			temperature_measure double, humidity_measure double, voltage_measure double, watt_measure double)
		PARTITIONED BY (year string, month string, day string, hour string)
		ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe'
		LOCATION 'events/'`,
		`CREATE EXTERNAL TABLE IF NOT EXISTS master_data.smart_devices_location (
			device_id string, latitude double, longitude double, city string)
		ROW FORMAT SERDE 'org.apache.hadoop.hive.serde2.OpenCSVSerde'
		LOCATION 'master_data/smart_devices_location/'
		TBLPROPERTIES ('skip.header.line.count' = '1')`,
	} {
		if _, err := a.Engine().Query(ctx, ddl, nil); err != nil {
			return fmt.Errorf("demo: create the lake tables: %w", err)
		}
	}
	return nil
}
