#!/usr/bin/env bash
# Builds hack/compose-config (`docker compose config` without Docker: it loads, interpolates and
# validates a compose file with compose-go, the library Compose v2 loads projects with; the
# compose tests check generated files with it) from its go.mod/go.sum, which pin
# github.com/compose-spec/compose-go/v2, into
# ${CONFIGURABLE_AGENTS_CACHE:-~/.cache/configurable-agents}/bin/compose-config-<version>/compose-config
# and prints the binary's path on stdout. Idempotent: a binary whose stamp names the pinned
# version and the hash of hack/compose-config's files is kept, so editing main.go rebuilds it.
# The go command's output goes to a log file (its path is printed on failure); progress to stderr.
#
# Usage: hack/build-compose-config.sh [--check]
#   --check  build nothing; print the binary's path and exit 0 when it is built, else exit 1
# Environment: GO (the go command), CONFIGURABLE_AGENTS_CACHE, BUILD_JOBS (go -p), GOPROXY.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
GO_BUILD_NAME=build-compose-config
# shellcheck source=lib/go-build.sh
. "$HERE/lib/go-build.sh"  # log, die, the pins, CACHE, need_go, go_build_env, build_lock...

check_args "$@"
build_hack_program compose-config github.com/compose-spec/compose-go/v2 compose-go
