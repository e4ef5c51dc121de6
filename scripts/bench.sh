#!/usr/bin/env bash
# Run the benchmarks and record their figures in docs/benchmarks.md.
source "$(dirname "$0")/_env.sh"
ensure_venv "[dev]"
export LOG_LEVEL=WARNING
"$VENV/bin/python" bench/import --loans "${BENCH_LOANS:-1000000}" --write-docs
"$VENV/bin/python" bench/cob --loans "${BENCH_COB_LOANS:-100000}" --write-docs
