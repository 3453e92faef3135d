// Package apptest starts a real sluice server (internal/app) inside a test
// and shuts it down when the test ends. The end-to-end suites under test/
// share it so that they start servers the same way.
package apptest

import (
	"context"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/sluice-dev/sluice/internal/app"
	"github.com/sluice-dev/sluice/internal/config"
)

// Logger returns the logger for code under test: silent, unless
// SLUICE_TEST_LOG is set, then debug text on stderr.
func Logger() *slog.Logger {
	if os.Getenv("SLUICE_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// Start creates and starts a server with cfg, failing t if it cannot, and
// shuts the server down when t ends.
func Start(t testing.TB, cfg config.Config) *app.App {
	t.Helper()
	return StartWith(t, cfg, Logger())
}

// StartWith is Start with a logger of the caller's choosing.
func StartWith(t testing.TB, cfg config.Config, logger *slog.Logger) *app.App {
	t.Helper()
	a, err := app.New(cfg, logger)
	if err != nil {
		t.Fatalf("app.New: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := a.Start(ctx); err != nil {
		t.Fatalf("app.Start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		if err := a.Shutdown(ctx); err != nil {
			t.Logf("app.Shutdown: %v", err)
		}
	})
	return a
}
