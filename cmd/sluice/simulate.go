package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/sluice-dev/sluice/internal/simulate"
)

func runSimulate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("sluice simulate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	url := fs.String("url", "http://127.0.0.1:7410", "server to send to over HTTP")
	mqttAddr := fs.String("mqtt", "", "send over MQTT to this broker address (host:port) instead of HTTP")
	topic := fs.String("topic", "devices/%s/telemetry", "MQTT topic pattern; %s is the device id")
	streamName := fs.String("stream", "events", "stream to send to (HTTP)")
	var opts simulate.Options
	fs.IntVar(&opts.Devices, "devices", 10, "number of devices")
	fs.Float64Var(&opts.Rate, "rate", 1, "events per second per device")
	fs.DurationVar(&opts.Duration, "duration", 0, "span of simulated time to send (0 = until interrupted)")
	fs.Int64Var(&opts.MaxEvents, "events", 0, "stop after this many events (0 = no limit)")
	fs.Int64Var(&opts.Seed, "seed", 1, "seed; the same seed and --start reproduce a run")
	start := fs.String("start", "", "simulated time of the first sample, RFC 3339 (default now)")
	fs.Float64Var(&opts.AnomalyProb, "anomaly-prob", 0, "probability per event of an anomaly (spike, dip, level shift)")
	fs.Float64Var(&opts.SkewProb, "skew-prob", 0, "probability per device-second of a clock running ahead")
	fs.DurationVar(&opts.SkewOffset, "skew-offset", time.Hour, "how far ahead a skewed clock runs")
	fs.Float64Var(&opts.OfflineProb, "offline-prob", 0, "probability per device-second of going offline (data arrives late in bulk)")
	fs.Float64Var(&opts.BurstProb, "burst-prob", 0, "probability per device-second of a burst")
	fs.BoolVar(&opts.RealTime, "realtime", true, "pace with the wall clock (false: as fast as the server takes events)")
	fs.IntVar(&opts.Batch, "batch", 500, "events per HTTP request")
	fs.IntVar(&opts.Workers, "workers", 1, "concurrent requests")
	labelsFile := fs.String("labels", "", "write the injected anomalies and skewed events to this file as JSON Lines")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return errUsage
		}
		return err
	}
	if *start != "" {
		t, err := time.Parse(time.RFC3339Nano, *start)
		if err != nil {
			return fmt.Errorf("--start: %w", err)
		}
		opts.Start = t
	}
	var labels io.Writer
	if *labelsFile != "" {
		f, err := os.Create(*labelsFile)
		if err != nil {
			return err
		}
		defer f.Close()
		labels = f
	}
	var sink simulate.Sink
	if *mqttAddr != "" {
		s, err := simulate.NewMQTTSink(ctx, *mqttAddr, *topic, 1)
		if err != nil {
			return err
		}
		defer s.Close()
		sink = s
	} else {
		sink = simulate.NewHTTPSink(*url, *streamName, opts.Batch, &http.Client{Timeout: 30 * time.Second})
	}
	_, err := simulate.Run(ctx, opts, sink, stderr, labels)
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}
