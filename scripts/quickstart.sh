#!/usr/bin/env bash
# The main job on a fresh Debian 12 machine: install dependencies, build, show the plugins
# this machine can use, then serve the embedded default model with `tessera serve` on
# 127.0.0.1:8000 and print a curl line that works against it. Ctrl-C stops the server.
set -euo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$repo_root/scripts/install-deps.sh"
"$repo_root/scripts/build.sh"
build_dir="${BUILD_DIR:-$repo_root/build}"
"$build_dir/bin/tessera" plugins
host="${TESSERA_HOST:-127.0.0.1}"
port="${TESSERA_PORT:-8000}"
"$build_dir/bin/tessera" serve --host "$host" --port "$port" "$@" &
server=$!
trap 'kill -INT $server 2>/dev/null; wait $server' INT TERM
for _ in $(seq 1 300); do
  if curl -sf "http://$host:$port/health" >/dev/null 2>&1; then break; fi
  if ! kill -0 "$server" 2>/dev/null; then wait "$server"; exit 1; fi
  sleep 0.2
done
cat <<MSG

Tessera is serving on http://$host:$port (Ctrl-C to stop). Try:

  curl http://$host:$port/v1/chat/completions -H 'Content-Type: application/json' \\
    -d '{"model": "tessera-default", "messages": [{"role": "user", "content": "Hello!"}], "max_tokens": 16}'

MSG
wait "$server"
