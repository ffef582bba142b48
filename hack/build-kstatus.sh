#!/usr/bin/env bash
# Builds hack/kstatus (a small program printing the health kstatus computes for Kubernetes
# objects, as Flux does; the operator's tests check our status conditions with it) from its
# go.mod/go.sum, which pin sigs.k8s.io/cli-utils, into
# ${CONFIGURABLE_AGENTS_CACHE:-~/.cache/configurable-agents}/bin/kstatus-<cli-utils version>/kstatus
# and prints the binary's path on stdout. Idempotent: a binary whose stamp names the pinned
# version and the hash of hack/kstatus's files is kept, so editing main.go rebuilds it.
# The go command's output goes to a log file (its path is printed on failure); progress to stderr.
#
# Usage: hack/build-kstatus.sh [--check]
#   --check  build nothing; print the binary's path and exit 0 when it is built, else exit 1
# Environment: GO (the go command), CONFIGURABLE_AGENTS_CACHE, BUILD_JOBS (go -p), GOPROXY.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
GO_BUILD_NAME=build-kstatus
# shellcheck source=lib/go-build.sh
. "$HERE/lib/go-build.sh"  # log, die, the pins, CACHE, need_go, go_build_env, build_lock...

check_args "$@"
build_hack_program kstatus sigs.k8s.io/cli-utils sigs.k8s.io/cli-utils
