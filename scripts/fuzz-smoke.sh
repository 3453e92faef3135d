#!/usr/bin/env bash
# Short fuzz run for CI: each parser's fuzz target for FUZZTIME (default
# 10s), one after another (go test -fuzz takes one target per run). Fails
# on the first crash; go test then writes the failing input under the
# package's testdata/fuzz/<Target>/ so that a plain `go test` replays it.
#
#   bash scripts/fuzz-smoke.sh            # ~2 min plus build time
#   FUZZTIME=60s bash scripts/fuzz-smoke.sh
set -euo pipefail
cd "$(dirname "$0")/.."

fuzztime=${FUZZTIME:-10s}
targets=(
  "FuzzParse       ./internal/sql/parse/"
  "FuzzMap         ./internal/event/"
  "FuzzDecodeFrame ./internal/stream/"
  "FuzzSplitBody   ./internal/ingest/"
  "FuzzServerConn  ./internal/pgwire/"
  "FuzzRequests    ./internal/awsapi/"
  "FuzzParseAuthorization ./internal/auth/"
  "FuzzGeometryFromText ./internal/sql/fn/"
  "FuzzReadSeries  ./internal/insights/csvio/"
  "FuzzScanObject  ./internal/lake/"
  "FuzzReplay      ./internal/tsdb/wal/"
)
for t in "${targets[@]}"; do
  read -r name pkg <<<"$t"
  echo "== fuzz $name in $pkg for $fuzztime"
  go test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" "$pkg"
done
echo "== fuzz smoke: no crash"
