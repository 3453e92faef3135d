package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/sluice-dev/sluice/internal/app"
	"github.com/sluice-dev/sluice/internal/apptest"
)

// TestSecondServerOnSameDataDir starts a second server on a data dir that a
// running server holds, as an operator does by mistake (a service plus a
// manual run). It must refuse to start. Without a lock (fixed in commit
// 5b3675e, after this test showed it) the second server ran a second
// embedded NATS server on the same JetStream store and a second tsdb
// appending to the same WAL segment (O_APPEND); either one's WAL cut,
// segment roll (O_EXCL create), MANIFEST or catalog rewrite would then
// destroy or hide what the other wrote.
func TestSecondServerOnSameDataDir(t *testing.T) {
	cfg := testConfig(t)
	apptest.Start(t, cfg)
	b, err := app.New(cfg, testLogger())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	err = b.Start(ctx)
	if err == nil {
		_ = b.Shutdown(ctx)
		t.Fatalf("a second server started on data dir %s, which a running server holds; want an error (data dir in use)", cfg.DataDir)
	}
	t.Logf("second server refused: %v", err)
}
