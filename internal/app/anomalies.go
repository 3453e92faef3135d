package app

// The streaming anomaly detector's life: created at start, its baselines
// restored from <data-dir>/insights/detector.state, saved every minute and
// once more at shutdown after the processor has stopped, so a restart
// resumes scoring without a warm-up. A missing or unreadable state only
// costs the baselines (a warning): it never stops the server.

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/sluice-dev/sluice/internal/insights"
)

// detectorSaveEvery is how often the detector's state is saved while running.
const detectorSaveEvery = time.Minute

// detectorState runs the detector's periodic saves.
type detectorState struct {
	det  *insights.Detector
	path string
	stop chan struct{}
	done chan struct{}
	mu   sync.Mutex // one save at a time
}

func (a *App) detectorPath() string {
	return filepath.Join(a.cfg.DataDir, "insights", "detector.state")
}

// openDetector creates the detector and restores its saved state, or
// returns nil when anomaly detection is off.
func (a *App) openDetector() (*insights.Detector, error) {
	if !a.cfg.Anomalies {
		return nil, nil
	}
	thr, err := insights.ParseSensitivity(a.cfg.AnomalySensitivity)
	if err != nil {
		return nil, fmt.Errorf("app: %w", err)
	}
	det, err := insights.NewDetector(insights.DetectorOptions{Sensitivity: thr, MaxSeries: a.cfg.AnomalyMaxSeries})
	if err != nil {
		return nil, fmt.Errorf("app: %w", err)
	}
	path := a.detectorPath()
	f, err := os.Open(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		a.logger.Info("no saved anomaly baselines; series learn from their first points", "path", path)
	case err != nil:
		a.logger.Warn("anomaly baselines not restored; series learn again from their next points", "path", path, "err", err)
	default:
		err := det.Restore(f)
		f.Close()
		if err != nil {
			a.logger.Warn("anomaly baselines not restored; series learn again from their next points", "path", path, "err", err)
		} else {
			a.logger.Info("anomaly baselines restored", "path", path, "series", det.Stats().Series)
		}
	}
	return det, nil
}

// startDetectorSaves saves the detector's state every detectorSaveEvery
// until stopDetectorSaves.
func (a *App) startDetectorSaves(det *insights.Detector) {
	s := &detectorState{det: det, path: a.detectorPath(), stop: make(chan struct{}), done: make(chan struct{})}
	a.detSaves = s
	go func() {
		defer close(s.done)
		tick := time.NewTicker(detectorSaveEvery)
		defer tick.Stop()
		for {
			select {
			case <-s.stop:
				return
			case <-tick.C:
			}
			if err := s.save(); err != nil {
				a.logger.Warn("saving the anomaly baselines failed; will retry", "err", err)
			}
		}
	}()
}

// stopDetectorSaves ends the periodic saves and saves once more; call it
// after the processor has stopped, so the last batches are in the state.
func (a *App) stopDetectorSaves() error {
	s := a.detSaves
	if s == nil {
		return nil
	}
	a.detSaves = nil
	close(s.stop)
	<-s.done
	if err := s.save(); err != nil {
		return fmt.Errorf("app: %w", err)
	}
	return nil
}

// save writes the state atomically: a temporary file, fsynced, renamed
// over the old one, and the directory fsynced, so a crash leaves the old
// state or the new one, never a torn file.
func (s *detectorState) save() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	dir := filepath.Dir(s.path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("save anomaly baselines: %w", err)
	}
	f, err := os.CreateTemp(dir, ".detector.state-*")
	if err != nil {
		return fmt.Errorf("save anomaly baselines: %w", err)
	}
	tmp := f.Name()
	err = s.det.Snapshot(f)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, s.path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("save anomaly baselines to %s: %w", s.path, err)
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// Detector returns the streaming anomaly detector (nil before Start or
// when anomaly detection is off).
func (a *App) Detector() *insights.Detector { return a.detector }
