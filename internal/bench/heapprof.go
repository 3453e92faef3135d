package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime/metrics"
	"runtime/pprof"
	"time"
)

// profileHeapPeak samples the live heap every 250 ms and, whenever it has
// grown by a tenth over the largest seen, rewrites file with a heap
// profile: at the end of the run the file shows what held the memory at
// (about) the run's peak. Reading the metric does not stop the world; the
// profile is written only at new peaks. stop ends the sampling and reports
// the peak.
func profileHeapPeak(ctx context.Context, file string, stderr io.Writer) (stop func(), err error) {
	// Check that the file can be written before the run starts.
	f, err := os.Create(file)
	if err != nil {
		return nil, fmt.Errorf("create heap profile: %w", err)
	}
	f.Close()
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	var peak, written uint64
	go func() {
		defer close(done)
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			metrics.Read(sample)
			live := sample[0].Value.Uint64()
			peak = max(peak, live)
			if live <= written+written/10 {
				continue
			}
			if err := writeHeapProfile(file); err != nil {
				fmt.Fprintf(stderr, "bench: %v\n", err)
				return
			}
			written = live
		}
	}()
	return func() {
		cancel()
		<-done
		fmt.Fprintf(stderr, "bench: peak live heap %.0f MiB; heap profile at %.0f MiB in %s\n", float64(peak)/(1<<20), float64(written)/(1<<20), file)
	}, nil
}

func writeHeapProfile(file string) error {
	f, err := os.Create(file)
	if err != nil {
		return fmt.Errorf("write heap profile: %w", err)
	}
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		f.Close()
		return fmt.Errorf("write heap profile: %w", err)
	}
	return f.Close()
}
