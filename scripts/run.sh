#!/usr/bin/env bash
# Run Arrears on its embedded default: SQLite file under ./var, in-process dispatch, console
# channel, the demo lender loaded on first start, the web UI and API on http://127.0.0.1:8080/.
source "$(dirname "$0")/_env.sh"
ensure_venv ""
exec "$VENV/bin/arrears" run "$@"
