#!/usr/bin/env bash
# Runs the example pipeline end to end: stock Vector -> sigma-transform serve -> Vector,
# over EVENTS (default: the bundled sample events), and prints the tagged output.
#   examples/vector/run.sh [EVENTS.ndjson]
# Needs a release build (cargo build --release) and a `vector` binary: $VECTOR, else
# ../shared/tools/vector next to the project, else `vector` on PATH.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
sigma="${SIGMA_TRANSFORM:-$root/target/release/sigma-transform}"
vector="${VECTOR:-$root/../shared/tools/vector}"
[ -x "$vector" ] || vector="$(command -v vector)"
work="$(mktemp -d)"
EVENTS="$work/events.ndjson" OUT="$work/tagged.ndjson"
mkdir -p "$work/data"
grep '^{' "${1:-$root/examples/events/windows-sample.ndjson}" > "$EVENTS"
want=$(wc -l < "$EVENTS")

"$sigma" serve --config "$here/serve.toml" 2> "$work/serve.log" & serve_pid=$!
(cd "$work" && exec "$vector" --quiet --config "$here/vector.yaml") > "$work/vector.log" 2>&1 & vector_pid=$!
trap 'kill $vector_pid $serve_pid 2>/dev/null || true' EXIT

# Wait (at most 60 s) until every event has come back.
for _ in $(seq 1 600); do
    [ -f "$OUT" ] && [ "$(wc -l < "$OUT")" -ge "$want" ] && break
    sleep 0.1
done
kill -TERM $vector_pid $serve_pid; wait $vector_pid $serve_pid 2>/dev/null || true
trap - EXIT
got=$(wc -l < "$OUT" 2>/dev/null || echo 0)
echo "events in: $want, out: $got, tagged: $(grep -c '"sigma":' "$OUT" || true)" >&2
echo "output: $OUT (logs in $work)" >&2
[ "$got" -ge "$want" ]
