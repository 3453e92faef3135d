// Command sluice is a self-hosted pipeline for device telemetry: ingest,
// a durable stream, preprocessing, a time-series store and SQL, in one
// binary. Run `sluice help` for the commands.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

type command struct {
	name, summary string
	run           func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

func commands() []command {
	return []command{
		{"demo", "run the whole system on embedded defaults with simulated devices feeding it", runDemo},
		{"server", "run the whole system (stream, store, ingest over HTTP and MQTT, processor)", runServer},
		{"simulate", "send simulated device events to a running server over HTTP or MQTT", runSimulate},
		{"query", "run SQL against a server and print the result", runQuery},
		{"lake", "infer a lake table's schema from its files and print (or --create) the CREATE EXTERNAL TABLE", runLake},
		{"bench", "run a benchmark suite (pipeline, storage) and print a results table", runBench},
		{"insights", "find anomalies in or forecast a timestamp,value CSV series; writes CSV", runInsights},
		{"plot", "draw a CSV series with its anomalies and forecast as SVG or PNG", runPlot},
		{"version", "print the version", func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
			fmt.Fprintf(stdout, "sluice %s\n", version)
			return nil
		}},
	}
}

func usage(w io.Writer) {
	fmt.Fprintf(w, "sluice %s: a pipeline for device telemetry\n\nUsage: sluice COMMAND [flags]\n\nCommands:\n", version)
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-9s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, "\nRun 'sluice COMMAND -h' for a command's flags. Configuration: docs/configuration.md.\n")
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stdout)
		return 0
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	for _, c := range commands() {
		if c.name == args[0] {
			if err := c.run(ctx, args[1:], stdout, stderr); err != nil {
				if err == errUsage {
					return 2
				}
				fmt.Fprintf(stderr, "sluice %s: %v\n", c.name, err)
				return 1
			}
			return 0
		}
	}
	fmt.Fprintf(stderr, "sluice: unknown command %q\n\n", args[0])
	usage(stderr)
	return 2
}
