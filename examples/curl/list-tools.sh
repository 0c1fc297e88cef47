#!/usr/bin/env bash
# Lists the tools your token may call. Usage: RAVENHELM_TOKEN=... ./list-tools.sh [http://127.0.0.1:8701/mcp]
set -euo pipefail
url=${1:-http://127.0.0.1:8701/mcp}
curl -sS "$url" \
  -H "Authorization: Bearer ${RAVENHELM_TOKEN:?set RAVENHELM_TOKEN (npm run demo prints one)}" \
  -H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream' \
  -H 'MCP-Protocol-Version: 2025-11-25' \
  -d '{"jsonrpc":"2.0","id":1,"method":"tools/list"}'
echo
