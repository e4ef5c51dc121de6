#!/usr/bin/env bash
# Run the whole test suite on a fresh machine: virtualenv, install, PostgreSQL and Redis started
# if they are down, then ruff, mypy --strict, the layering contract (import-linter) and pytest
# against SQLite and PostgreSQL.
source "$(dirname "$0")/_env.sh"

PG_HOST=${ARREARS_TEST_PG_HOST:-127.0.0.1}
REDIS_HOST=${ARREARS_TEST_REDIS_HOST:-127.0.0.1}

wait_for() {  # $1: description, rest: command that succeeds when ready
  local what=$1; shift
  for _ in $(seq 1 60); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.5
  done
  echo "$what did not come up" >&2; return 1
}

pg_up() { python_probe "import socket; socket.create_connection(('$PG_HOST', 5432), 1)"; }
redis_up() { python_probe "import socket; s=socket.create_connection(('$REDIS_HOST', 6379), 1); s.sendall(b'PING\r\n'); assert s.recv(16).startswith(b'+PONG')"; }
python_probe() { "$(pick_python)" -c "$1"; }

ensure_services() {
  if ! pg_up; then
    if ! command -v pg_ctlcluster >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    fi
    echo "starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -n 1)" main start || true
    wait_for PostgreSQL pg_up
  fi
  if ! redis_up; then
    if ! command -v redis-server >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
    fi
    echo "starting Redis"
    mkdir -p /var/lib/redis /var/log/redis 2>/dev/null || true
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
      --dir /var/lib/redis --logfile /var/log/redis/ci.log
    wait_for Redis redis_up
  fi
}

ensure_browser() {
  # Browser tests run Debian's Chromium; Playwright cannot fetch its own build here.
  # Without the CJK fonts Chinese renders as boxes.
  if [ ! -x /usr/bin/chromium ] || ! dpkg -s fonts-noto-cjk >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ]; then
      echo "installing Chromium and the CJK fonts"
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq chromium fonts-noto-cjk >/dev/null
    else
      echo "browser tests need /usr/bin/chromium and its CJK fonts" \
        "(apt-get install chromium fonts-noto-cjk)" >&2; return 1
    fi
  fi
}

ensure_venv "[dev]"
ensure_services
ensure_browser

echo "== ruff"
"$VENV/bin/ruff" check .
"$VENV/bin/ruff" format --check .
echo "== mypy --strict"
"$VENV/bin/mypy"
echo "== import-linter (the layers of DESIGN.md §4, no cycles)"
"$VENV/bin/lint-imports"
echo "== pytest (SQLite and PostgreSQL, real Redis)"
# Four workers on two cores: most tests wait on a database, a server or a browser, not the CPU
# (each worker has its own PostgreSQL database, SQLite template and Redis database).
"$VENV/bin/pytest" -n "${ARREARS_TEST_WORKERS:-4}" "$@"
