#!/usr/bin/env bash
# Re-fetch the front-end libraries the pages and tests use, from npm, at the pinned versions, as
# their built files with their licence (never a CDN at run time). Each lands with a VERSION file
# naming the package, the version and the tarball's sha512 integrity, so a review sees a change.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

ECHARTS=6.1.0    # Apache ECharts: the dashboard's charts (Apache-2.0)
AXE=4.14.1       # axe-core: the accessibility check of the browser tests (MPL-2.0)

fetch() {  # package version destination files...
  local package=$1 version=$2 destination=$3; shift 3
  local work; work=$(mktemp -d)
  (cd "$work" && npm pack --silent "$package@$version" >/dev/null && tar xzf ./*.tgz)
  mkdir -p "$destination"
  for file in "$@"; do cp "$work/package/$file" "$destination/"; done
  local integrity; integrity=$(npm view "$package@$version" dist.integrity)
  printf '%s %s\nnpm integrity %s\n' "$package" "$version" "$integrity" > "$destination/VERSION"
  rm -rf "$work"
}

fetch echarts "$ECHARTS" "$ROOT/templates/web/static/vendor/echarts" dist/echarts.min.js LICENSE NOTICE
fetch axe-core "$AXE" "$ROOT/tests/vendor/axe-core" axe.min.js LICENSE
echo "vendored echarts $ECHARTS and axe-core $AXE"
