package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
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
	fmt.Fprintf(stdout, `sluice demo: %d simulated devices send %g event/s each over HTTP.

  HTTP API      %s
  MQTT          %s  (topic devices/<id>/telemetry)
  metrics       %s/metrics
  data          %s

Try (in another terminal):

  # send an event
  curl -s -X POST %s/v1/streams/events/records -d '{"DeviceID":"my-device","temperature_measure":21.5}'

  # the latest reading of every device's temperature
  curl -s '%s/v1/databases/iot/tables/telemetry/rows?measure=temperature&latest=true&limit=5'

  # events the processor could not map (dead letters) and corrected device clocks
  curl -s '%s/v1/databases/sluice/tables/dead_letters/rows?limit=5'
  curl -s '%s/v1/databases/sluice/tables/clock_corrections/rows?limit=5'

SQL (/v1/query, 'sluice query', PostgreSQL wire) is not built yet: the queries above read tables directly.
Ctrl-C stops the demo.

`, *devices, *rate, base, orOff(a.MQTTAddr()), base, cfg.DataDir, base, base, base, base)

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
