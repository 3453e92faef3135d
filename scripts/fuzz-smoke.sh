#!/usr/bin/env bash
# Short fuzz run for CI: each parser's fuzz target for a fixed number of
# executions, one after another (go test -fuzz takes one target per run).
# Fails on the first crash; go test then writes the failing input under the
# package's testdata/fuzz/<Target>/ so that a plain `go test` replays it.
#
# Budgets are execution counts (about 10 s each on the development machine),
# not durations: with a duration, Go 1.26's fuzz coordinator can report a
# spurious "context deadline exceeded" at the end of -fuzztime on a loaded
# machine (golang/go#75804, fixed in Go 1.27), with no crashing input.
#
#   bash scripts/fuzz-smoke.sh               # ~2 min plus build time
#   FUZZSCALE=10 bash scripts/fuzz-smoke.sh  # ten times the executions
set -euo pipefail
cd "$(dirname "$0")/.."

scale=${FUZZSCALE:-1}
targets=(
  "FuzzParse              ./internal/sql/parse/      200000"
  "FuzzMap                ./internal/event/          300000"
  "FuzzDecodeFrame        ./internal/stream/         300000"
  "FuzzSplitBody          ./internal/ingest/          30000"
  "FuzzServerConn         ./internal/pgwire/          50000"
  "FuzzRequests           ./internal/awsapi/          30000"
  "FuzzParseAuthorization ./internal/auth/           300000"
  "FuzzGeometryFromText   ./internal/sql/fn/         200000"
  "FuzzReadSeries         ./internal/insights/csvio/ 200000"
  "FuzzScanObject         ./internal/lake/           300000"
  "FuzzReplay             ./internal/tsdb/wal/        20000"
  "FuzzFastPage           ./internal/tsdb/part/       20000"
  "FuzzDecodeSeries       ./internal/tsdb/part/       50000"
  "FuzzStringDict         ./internal/lake/            50000"
)
for t in "${targets[@]}"; do
  read -r name pkg execs <<<"$t"
  n=$((execs * scale))
  echo "== fuzz $name in $pkg for ${n} executions"
  go test -run '^$' -fuzz "^${name}\$" -fuzztime "${n}x" "$pkg"
done
echo "== fuzz smoke: no crash"
