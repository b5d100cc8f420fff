#!/usr/bin/env bash
# Prints the bin directory of a Node.js of the given major version (default 24), installing it from
# the npm registry (the `node` package ships the real binary) into a folder of its own on first use.
#   PATH="$(scripts/node-runtime.sh 24):$PATH" npm test
# NODE_RUNTIMES_DIR chooses where runtimes live (default: ~/.cache/nest-redis-sessions/node).
set -euo pipefail
major="${1:-24}"
if [[ ! "$major" =~ ^[0-9]+$ ]]; then
  echo "usage: $0 MAJOR (e.g. 24)" >&2
  exit 2
fi
root="${NODE_RUNTIMES_DIR:-${HOME:-/tmp}/.cache/nest-redis-sessions/node}/$major"
bin="$root/node_modules/.bin"
if [[ ! -x "$bin/node" ]] || [[ "$("$bin/node" --version)" != v"$major".* ]]; then
  echo "installing Node $major from the npm registry into $root" >&2
  mkdir -p "$root"
  npm install --prefix "$root" --no-audit --no-fund --no-save --loglevel=error "node@$major" >&2
fi
# npm scripts run under this PATH must find npm/npx too: the machine's own npm works with any Node.
echo "$bin"
