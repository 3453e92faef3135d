package bench

// The "insights" suite: the quality and the speed of internal/insights. It
// is a list of parts, each with its own flags (prefixed with the part's
// name) and its own measurement group for --only: "anomaly" (this session's
// detectors, insights_anomaly.go) and, as they land, more. Adding a part is
// a file insights_NAME.go with a flags function and one line in
// insightsParts.

import (
	"flag"
	"fmt"
)

// insightsPart is one part of the insights suite. flags registers the
// part's settings and returns its run and quick functions, as a suite's do.
type insightsPart struct {
	name  string // measurement group: results are named "NAME/…"
	flags func(fs *flag.FlagSet) (run func(r *run) error, quick func(set map[string]bool))
}

// insightsParts run in this order.
var insightsParts = []insightsPart{
	{"anomaly", anomalyFlags},
	{"forecast", forecastFlags},
}

func insightsFlags(fs *flag.FlagSet) (func(*run) error, func(map[string]bool)) {
	runs := make([]func(*run) error, len(insightsParts))
	quicks := make([]func(map[string]bool), len(insightsParts))
	for i, p := range insightsParts {
		runs[i], quicks[i] = p.flags(fs)
	}
	runAll := func(r *run) error {
		for i, p := range insightsParts {
			if !r.want(p.name) {
				continue
			}
			if err := runs[i](r); err != nil {
				return fmt.Errorf("%s: %w", p.name, err)
			}
		}
		return nil
	}
	quickAll := func(set map[string]bool) {
		for _, q := range quicks {
			q(set)
		}
	}
	return runAll, quickAll
}
