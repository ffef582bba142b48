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

SRC="$HERE/kstatus"
VERSION="$(sed -n 's|^[[:space:]]*sigs.k8s.io/cli-utils \(v[^[:space:]]*\).*|\1|p' "$SRC/go.mod")"
[[ -n "$VERSION" ]] || die "no sigs.k8s.io/cli-utils version in $SRC/go.mod"
STAMP="$VERSION $(cat "$SRC/go.mod" "$SRC/go.sum" "$SRC/main.go" | sha256sum | cut -c1-16)"
BIN="$CACHE/bin/kstatus-$VERSION"
LOG="$CACHE/logs/build-kstatus.log"

built() { [[ -x "$BIN/kstatus" && -f "$BIN/.kstatus.version" && "$(cat "$BIN/.kstatus.version")" == "$STAMP" ]]; }

if built; then echo "$BIN/kstatus"; exit 0; fi
if [[ $CHECK -eq 1 ]]; then exit 1; fi

need_go
# -mod=readonly: the checked-in go.sum is the pin; a build never rewrites it.
go_build_env "-trimpath -buildvcs=false -mod=readonly"
mkdir -p "$BIN" "$(dirname "$LOG")"

build_lock "$CACHE/build-kstatus.lock"
if built; then echo "$BIN/kstatus"; exit 0; fi  # another process built it meanwhile

START=$(date +%s)
build_tmp "$BIN"
log "building kstatus (sigs.k8s.io/cli-utils $VERSION) with $("$GO_CMD" version | cut -d' ' -f3) (-p $JOBS); log: $LOG"
if ! (cd "$SRC" && echo "== $(date -u +%FT%TZ) go build kstatus $STAMP" &&
      "$GO_CMD" build -p "$JOBS" -ldflags "-s -w" -o "$TMP/kstatus" .) >>"$LOG" 2>&1; then
  tail -n 20 "$LOG" >&2
  die "the kstatus build failed; the whole log is $LOG"
fi
mv -f "$TMP/kstatus" "$BIN/kstatus"
echo "$STAMP" > "$BIN/.kstatus.version"
log "built $BIN/kstatus in $(( $(date +%s) - START )) s ($(du -h "$BIN/kstatus" | cut -f1))"
echo "$BIN/kstatus"
