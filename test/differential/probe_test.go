package differential

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"
)

func TestProbe(t *testing.T) {
	if os.Getenv("PROBE") == "" {
		t.Skip()
	}
	pg := startPostgres(t)
	ds := makeData(time.Now().UTC().Truncate(time.Hour).Add(-time.Hour))
	loadPostgres(t, pg, ds)
	_, sl := startSluice(t, ds)
	for _, q := range strings.Split(os.Getenv("PROBE"), ";;") {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		w, err1 := runQuery(ctx, pg, q)
		g, err2 := runQuery(ctx, sl, q)
		cancel()
		t.Logf("Q: %s", q)
		if err1 != nil || err2 != nil {
			t.Logf("  pg err %v / sluice err %v", err1, err2)
		}
		if w != nil {
			t.Logf("  pg     %v %s", w.cols, show(w.rows))
		}
		if g != nil {
			t.Logf("  sluice %v %s", g.cols, show(g.rows))
		}
	}
}
