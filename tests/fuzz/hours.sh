#!/usr/bin/env bash
# Sums /var/tmp/sigma-fuzz-work/hours.tsv (written by run.sh) per target: the rows of the
# table in tests/fuzz/README.md. Hours are CPU hours of the fuzzing process (column 6);
# rows written before that column existed count their wall-clock seconds (column 3), from
# runs that had a core to themselves.
work=${SIGMA_FUZZ_WORK:-/var/tmp/sigma-fuzz-work}
awk -F'\t' '{ s[$2] += (NF >= 6 ? $6 : $3); e[$2] += $4; c[$2] = $5 }
    END { for (t in s) printf "| `%s` | %.2f | %d | %d |\n", t, s[t] / 3600, e[t], c[t] }' \
    "$work/hours.tsv" | sort
