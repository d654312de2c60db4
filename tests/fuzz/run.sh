#!/usr/bin/env bash
# Runs one fuzz target (or all) for a fixed time: tests/fuzz/run.sh TARGET|all SECONDS
#
# Needs the nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz --locked`). Builds
# into $SIGMA_FUZZ_TARGET_DIR (default /var/tmp/sigma-fuzz-target, outside the clone, so
# later runs are incremental). Each target reads its seed corpus from
# tests/fuzz/corpus/TARGET (in the tree) and writes what it finds to
# $SIGMA_FUZZ_WORK/corpus/TARGET (default /var/tmp/sigma-fuzz-work); crashes go to
# $SIGMA_FUZZ_WORK/artifacts/TARGET and make this script exit 1.
set -euo pipefail
cd "$(dirname "$0")/../.."
target=${1:?usage: tests/fuzz/run.sh TARGET|all SECONDS}
seconds=${2:?usage: tests/fuzz/run.sh TARGET|all SECONDS}
export CARGO_TARGET_DIR=${SIGMA_FUZZ_TARGET_DIR:-/var/tmp/sigma-fuzz-target}
work=${SIGMA_FUZZ_WORK:-/var/tmp/sigma-fuzz-work}
targets=(rule_yaml condition event_json evtx_bytes config placeholders differential)
[ "$target" = all ] || targets=("$target")

cargo +nightly fuzz build --fuzz-dir tests/fuzz -O "${targets[@]/#/}" >/dev/null 2>&1 ||
    cargo +nightly fuzz build --fuzz-dir tests/fuzz -O

status=0
for t in "${targets[@]}"; do
    mkdir -p "$work/corpus/$t" "$work/artifacts/$t"
    # EVTX seeds come from ../shared when it is there (real files are not kept in the tree).
    if [ "$t" = evtx_bytes ] && [ -d ../shared/regression ]; then
        { find ../shared/regression -name '*.evtx' -size -200k | head -40 |
            while read -r f; do cp -n "$f" "$work/corpus/$t/" 2>/dev/null || true; done; } || true
    fi
    echo "fuzz: $t for ${seconds}s"
    started=$(date +%s)
    # Seeds in the tree, where the target has any (git keeps no empty folder).
    seeds=()
    [ -d "tests/fuzz/corpus/$t" ] && seeds=("tests/fuzz/corpus/$t")
    # CPU seconds (user + system) of the fuzzing process, measured rather than assumed: a run
    # that shares the cores with a build gets less than its wall-clock time.
    if ! /usr/bin/time -f '%U %S' -o "$work/$t.cpu" cargo +nightly fuzz run --fuzz-dir tests/fuzz -O "$t" \
        "$work/corpus/$t" "${seeds[@]}" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
        -artifact_prefix="$work/artifacts/$t/" -print_final_stats=1 2>"$work/$t.log"; then
        echo "fuzz: $t FAILED; see $work/$t.log and $work/artifacts/$t/"
        tail -40 "$work/$t.log"
        status=1
    else
        grep -aE "^stat::number_of_executed_units|^stat::peak_rss_mb" "$work/$t.log" | tr '\n' ' ' || true
        echo
    fi
    # The hours table of tests/fuzz/README.md is summed from this log.
    execs=$(awk '/^stat::number_of_executed_units/ { n = $2 } END { print n + 0 }' "$work/$t.log")
    corpus=$(ls "$work/corpus/$t" | wc -l)
    cpu=$(awk 'NF == 2 && $1 ~ /^[0-9.]+$/ { printf "%d", $1 + $2 }' "$work/$t.cpu" 2>/dev/null || true)
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$(date -u +%FT%TZ)" "$t" "$(( $(date +%s) - started ))" "${execs:-0}" "$corpus" "${cpu:-0}" >>"$work/hours.tsv"
done
exit $status
