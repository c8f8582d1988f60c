#!/usr/bin/env bash
# Runs the official MCP conformance suite (@modelcontextprotocol/conformance,
# server leg) against Gatehouse serving the demo inventory backend, scored
# against the 2026-07-28 requirement set, with conformance/expected-failures.yml
# as the baseline; then the MCP Inspector CLI lists and calls the demo tools over
# HTTP and stdio. Exits non-zero on any unexpected failure or stale baseline entry.
#
#   scripts/conformance.sh
#
# The backend and the gateway listen on free loopback ports, exported to both
# as DEMO_BACKEND_PORT and GATEHOUSE_PORT (examples/gatehouse.yaml reads them).
#
# Environment (all optional):
#   GATEHOUSE_CMD          command that takes `serve --config FILE` (default: node dist/cli/main.js,
#                          built first by scripts/ensure-built.mjs if stale)
#   CONFORMANCE_VERSION    suite version (default below; 2026-07-28 support is in 0.2.x only)
#   CONFORMANCE_OUT        directory for logs and per-scenario results (default: a temp dir)
#   CONFORMANCE_DEADLINE   seconds before the suite run is killed (default 170)
#
# The suite needs Node >= 22. On an older node, npx runs it on the `node@22`
# package from the npm registry.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

CONFORMANCE_VERSION="${CONFORMANCE_VERSION:-0.2.0-alpha.12}"
REQUIREMENTS=2026-07-28
BASELINE=conformance/expected-failures.yml
CONFIG=examples/gatehouse.yaml
DEADLINE="${CONFORMANCE_DEADLINE:-170}"
OUT="${CONFORMANCE_OUT:-$(mktemp -d "${TMPDIR:-/tmp}/gatehouse-conformance.XXXXXX")}"
mkdir -p "$OUT"

log() { printf 'conformance.sh: %s\n' "$*" >&2; }

backend_pid=
gateway_pid=

stop() {
  local pid=$1
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 50); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
}

cleanup() {
  local rc=$?
  stop "$gateway_pid"
  stop "$backend_pid"
  if [[ $rc -ne 0 && -s "$OUT/gateway.log" ]]; then
    log "last lines of the gateway log ($OUT/gateway.log):"
    tail -n 40 "$OUT/gateway.log" >&2
  fi
  log "logs and results: $OUT"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Two distinct free loopback ports (ignoring any GATEHOUSE_PORT a shell exports for `npm start`).
read -r GATEHOUSE_PORT DEMO_BACKEND_PORT < <(node -e '
  const net = require("node:net");
  const a = net.createServer().listen(0, "127.0.0.1", () => {
    const b = net.createServer().listen(0, "127.0.0.1", () => {
      console.log(a.address().port, b.address().port);
      a.close(); b.close();
    });
  });')
export GATEHOUSE_PORT DEMO_BACKEND_PORT

# wait_healthy URL PID: polls URL until it answers 2xx; fails if PID exits or after 30s.
wait_healthy() {
  node -e '
    const [url, pid] = process.argv.slice(1);
    const deadline = Date.now() + 30_000;
    const alive = () => { try { process.kill(Number(pid), 0); return true; } catch { return false; } };
    (async () => {
      while (Date.now() < deadline) {
        if (!alive()) { console.error(`process ${pid} exited before ${url} was healthy`); process.exit(1); }
        try {
          const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
          if (res.ok) process.exit(0);
        } catch {}
        await new Promise((r) => setTimeout(r, 200));
      }
      console.error(`${url} not healthy after 30s`);
      process.exit(1);
    })();' "$1" "$2"
}

if [[ -z "${GATEHOUSE_CMD:-}" ]]; then
  node scripts/ensure-built.mjs
  # This node's absolute path: the Inspector runs under node@22 from npx, but the
  # gateway it spawns must run on the Node its native addons were built for.
  GATEHOUSE_CMD="$(command -v node) dist/cli/main.js"
fi
read -r -a gateway_cmd <<<"$GATEHOUSE_CMD"

log "demo backend on 127.0.0.1:$DEMO_BACKEND_PORT"
PORT="$DEMO_BACKEND_PORT" node examples/demo-backend/server.mjs >"$OUT/backend.log" 2>&1 &
backend_pid=$!
wait_healthy "http://127.0.0.1:$DEMO_BACKEND_PORT/health" "$backend_pid"

log "gateway on 127.0.0.1:$GATEHOUSE_PORT: $GATEHOUSE_CMD serve --config $CONFIG"
"${gateway_cmd[@]}" serve --config "$CONFIG" >"$OUT/gateway.log" 2>&1 &
gateway_pid=$!
wait_healthy "http://127.0.0.1:$GATEHOUSE_PORT/healthz" "$gateway_pid"

# The suite requires Node >= 22; fetch node@22 from the npm registry when this one is older.
packages=(-p "@modelcontextprotocol/conformance@$CONFORMANCE_VERSION")
if (( $(node -p 'process.versions.node.split(".")[0]') < 22 )); then
  packages=(-p node@22 "${packages[@]}")
fi
deadline=()
if command -v timeout >/dev/null; then
  deadline=(timeout --kill-after=10 "$DEADLINE")
fi

log "conformance $CONFORMANCE_VERSION, requirements $REQUIREMENTS, baseline $BASELINE"
set +e
${deadline[@]+"${deadline[@]}"} npx --yes --loglevel=error "${packages[@]}" -- \
  conformance server \
  --url "http://127.0.0.1:$GATEHOUSE_PORT/mcp" \
  --requirements "$REQUIREMENTS" \
  --expected-failures "$BASELINE" \
  --output-dir "$OUT/results"
rc=$?
set -e

if [[ $rc -eq 0 ]]; then
  log "PASSED: every failure is in $BASELINE"
elif [[ $rc -eq 124 ]]; then
  log "FAILED: the suite did not finish within ${DEADLINE}s"
  exit "$rc"
else
  log "FAILED (exit $rc): unexpected failures or stale baseline entries, listed above"
  exit "$rc"
fi

# The MCP Inspector's CLI (a second, independent client) lists and calls the demo
# tools over HTTP and over stdio; --strict fails on schema portability errors.
inspector_packages=(-p "@modelcontextprotocol/inspector@${INSPECTOR_VERSION:-2.12.0}")
if (( $(node -p 'process.versions.node.split(".")[0]') < 22 )); then
  inspector_packages=(-p node@22 "${inspector_packages[@]}")
fi
inspector() {
  ${deadline[@]+"${deadline[@]}"} npx --yes --loglevel=error "${inspector_packages[@]}" -- mcp-inspector --cli "$@" 2>>"$OUT/inspector.err"
}
expect_output() { # expect_output WHAT PATTERN FILE
  if ! grep -q -- "$2" "$3"; then
    log "FAILED: Inspector $1: expected $2 in its output ($3):"
    tail -n 20 "$3" >&2
    tail -n 20 "$OUT/inspector.err" >&2
    exit 1
  fi
  log "Inspector $1: ok"
}
url="http://127.0.0.1:$GATEHOUSE_PORT/mcp"
inspector "$url" --transport http --method tools/list --strict >"$OUT/inspector-http-list.json" || { log "FAILED: Inspector tools/list over HTTP (see $OUT/inspector.err)"; tail -n 30 "$OUT/inspector.err" >&2; exit 1; }
expect_output "tools/list over HTTP" '"inventory_getItem"' "$OUT/inspector-http-list.json"
inspector "$url" --transport http --method tools/call --tool-name inventory_getItem --tool-arg itemId=item-1 >"$OUT/inspector-http-call.json" || true
expect_output "tools/call over HTTP" '"structuredContent"' "$OUT/inspector-http-call.json"
inspector --method tools/call --tool-name inventory_listItems --tool-arg limit=2 -e "DEMO_BACKEND_PORT=$DEMO_BACKEND_PORT" -- \
  "${gateway_cmd[@]}" stdio --config "$CONFIG" >"$OUT/inspector-stdio-call.json" || true
expect_output "tools/call over stdio" '"structuredContent"' "$OUT/inspector-stdio-call.json"
exit 0
