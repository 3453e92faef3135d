package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

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
	a, err := startApp(ctx, cfg, stderr)
	if err != nil {
		return err
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

Ctrl-C stops the demo.

`, *devices, *rate, base, orOff(a.MQTTAddr()), orOff(pg), base, cfg.DataDir, base, base, base, pgHost(pg), pgPort(pg))

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
