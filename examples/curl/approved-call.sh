#!/usr/bin/env bash
# Calls a tool that is under human approval, as an agent would: the first call answers
# ERR_APPROVAL_PENDING with a request id; this script polls approvals_get_status until a person decides
# (web console at <server>/approvals/console, or `ravenhelm-approvals approve <id>`), then repeats the
# same call with "approvalRequestId", which runs it exactly once, and prints that answer.
# Usage: RAVENHELM_TOKEN=... ./approved-call.sh compose_restart '{"project":"ravenhelm-demo"}' [https://localhost:8701/mcp]
# Env: RAVENHELM_CA_FILE (the demo's dev CA), POLL_SECONDS (default 3).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
tool=${1:?tool name}
args=${2:-{\}}
url=${3:-https://localhost:8701/mcp}
first=$("$here/call-tool.sh" "$tool" "$args" "$url")
id=$(printf '%s' "$first" | grep -o '"requestId":"apr_[A-Za-z0-9_-]*"' | head -n1 | cut -d'"' -f4 || true)
if [ -z "$id" ]; then
  # Not under approval (or refused): the first answer is the answer.
  printf '%s\n' "$first"
  exit 0
fi
echo "pending: approval request $id; waiting for a decision (console: ${url%/mcp}/approvals/console)" >&2
while :; do
  status=$("$here/call-tool.sh" approvals_get_status "{\"requestId\":\"$id\"}" "$url")
  state=$(printf '%s' "$status" | grep -o '"state":"[a-z]*"' | head -n1 | cut -d'"' -f4 || true)
  case "$state" in
    approved) break ;;
    pending) sleep "${POLL_SECONDS:-3}" ;;
    *)
      echo "request $id is ${state:-not readable}: nothing was run" >&2
      printf '%s\n' "$status"
      exit 1
      ;;
  esac
done
echo "approved: running $tool once" >&2
rest=${args#*\{}
if [[ "$rest" =~ ^[[:space:]]*\}[[:space:]]*$ ]]; then
  again="{\"approvalRequestId\":\"$id\"}"
else
  again="{\"approvalRequestId\":\"$id\",$rest"
fi
"$here/call-tool.sh" "$tool" "$again" "$url"
