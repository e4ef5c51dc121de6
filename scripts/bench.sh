#!/usr/bin/env bash
# Run the benchmarks and record their figures in docs/benchmarks.md.
source "$(dirname "$0")/_env.sh"
ensure_venv "[dev]"
export LOG_LEVEL=WARNING
"$VENV/bin/python" bench/import --loans "${BENCH_LOANS:-1000000}" --write-docs
"$VENV/bin/python" bench/cob --loans "${BENCH_COB_LOANS:-100000}" --write-docs
"$VENV/bin/python" bench/plan --loans "${BENCH_PLAN_LOANS:-100000}" --write-docs
if ! command -v wrk >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing wrk (the HTTP load generator bench/assign drives)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
  fi
fi
"$VENV/bin/python" bench/assign --loans "${BENCH_ASSIGN_LOANS:-1000000}" --write-docs
"$VENV/bin/python" bench/account --loans "${BENCH_ACCOUNT_LOANS:-1000000}" --attempts "${BENCH_ACCOUNT_ATTEMPTS:-10000000}" --write-docs
"$VENV/bin/python" bench/dashboard --loans "${BENCH_DASHBOARD_LOANS:-1000000}" --attempts "${BENCH_DASHBOARD_ATTEMPTS:-10000000}" --write-docs
