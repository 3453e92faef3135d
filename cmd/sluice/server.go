package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/sluice-dev/sluice/internal/app"
	"github.com/sluice-dev/sluice/internal/config"
)

// errUsage reports that flag parsing already printed what was wrong.
var errUsage = errors.New("usage")

// loadConfig parses server flags, SLUICE_* variables and --config.
func loadConfig(fs *flag.FlagSet, args []string) (config.Config, error) {
	cfg := config.Default()
	cfg.RegisterFlags(fs)
	c, err := config.Load(fs, args, os.Environ())
	if errors.Is(err, flag.ErrHelp) {
		return c, errUsage
	}
	return c, err
}

func runServer(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("sluice server", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg, err := loadConfig(fs, args)
	if err != nil {
		return err
	}
	a, err := startApp(ctx, cfg, stderr)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "sluice server: HTTP on http://%s, MQTT on %s, data in %s (Ctrl-C to stop)\n", a.HTTPAddr(), orOff(a.MQTTAddr()), cfg.DataDir)
	<-ctx.Done()
	return stopApp(a, stdout)
}

func startApp(ctx context.Context, cfg config.Config, stderr io.Writer) (*app.App, error) {
	a, err := app.New(cfg, cfg.Logger(stderr))
	if err != nil {
		return nil, err
	}
	if err := a.Start(ctx); err != nil {
		return nil, err
	}
	return a, nil
}

func stopApp(a *app.App, stdout io.Writer) error {
	fmt.Fprintln(stdout, "\nstopping: finishing in-flight requests, writing what the processor holds, closing the store...")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return a.Shutdown(ctx)
}

func orOff(s string) string {
	if s == "" {
		return "(off)"
	}
	return s
}
