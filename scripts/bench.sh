#!/usr/bin/env bash
# Run the benchmarks at full size and record their figures in docs/benchmarks.md.
source "$(dirname "$0")/_env.sh"
ensure_venv "[dev]"
"$VENV/bin/python" bench/import --loans "${BENCH_LOANS:-1000000}" --write-docs
