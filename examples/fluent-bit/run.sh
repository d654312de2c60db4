#!/usr/bin/env bash
# Runs the example pipeline end to end: stock Fluent Bit -> sigma-transform serve ->
# Fluent Bit, over EVENTS (default: the bundled sample events), and prints where the
# tagged output is.
#   examples/fluent-bit/run.sh [EVENTS.ndjson]
# Needs a release build (cargo build --release) and a `fluent-bit` binary: $FLUENT_BIT,
# else ../shared/tools/fluent-bit next to the project, else `fluent-bit` on PATH.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
sigma="${SIGMA_TRANSFORM:-$root/target/release/sigma-transform}"
fluent_bit="${FLUENT_BIT:-$root/../shared/tools/fluent-bit}"
[ -x "$fluent_bit" ] || fluent_bit="$(command -v fluent-bit)"
work="$(mktemp -d)"
export EVENTS="$work/events.ndjson" OUT_DIR="$work"
OUT="$work/enriched.ndjson"
grep '^{' "${1:-$root/examples/events/windows-sample.ndjson}" > "$EVENTS"
want=$(wc -l < "$EVENTS")

"$sigma" serve --config "$here/serve.toml" 2> "$work/serve.log" & serve_pid=$!
"$fluent_bit" --config "$here/fluent-bit.yaml" > "$work/fluent-bit.log" 2>&1 & fb_pid=$!
trap 'kill $fb_pid $serve_pid 2>/dev/null || true' EXIT

# Wait (at most 60 s) until every event has come back.
for _ in $(seq 1 600); do
    [ -f "$OUT" ] && [ "$(wc -l < "$OUT")" -ge "$want" ] && break
    sleep 0.1
done
kill -TERM $fb_pid $serve_pid; wait $fb_pid $serve_pid 2>/dev/null || true
trap - EXIT
got=$(wc -l < "$OUT" 2>/dev/null || echo 0)
echo "events in: $want, out: $got, tagged: $(grep -c '"sigma":' "$OUT" || true)" >&2
echo "output: $OUT (logs in $work)" >&2
[ "$got" -ge "$want" ]
