#!/usr/bin/env bash
# Lists the tools your token may call.
# Usage: RAVENHELM_TOKEN=... ./list-tools.sh [https://localhost:8701/mcp]
# The demo serves HTTPS with its own dev CA: `export RAVENHELM_CA_FILE=...` as `npm run demo` prints.
set -euo pipefail
url=${1:-https://localhost:8701/mcp}
ca=()
[ -n "${RAVENHELM_CA_FILE:-}" ] && ca=(--cacert "$RAVENHELM_CA_FILE")
curl -sS "${ca[@]}" "$url" \
  -H "Authorization: Bearer ${RAVENHELM_TOKEN:?set RAVENHELM_TOKEN (npm run demo prints one)}" \
  -H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream' \
  -H 'MCP-Protocol-Version: 2025-11-25' \
  -d '{"jsonrpc":"2.0","id":1,"method":"tools/list"}'
echo
