#!/usr/bin/env bash
# Builds KEDA's operator (cmd/operator) and metrics API server (cmd/adapter) from the Go module
# github.com/kedacore/keda/v2 pinned in hack/versions.env (KEDA_VERSION) into
# ${CONFIGURABLE_AGENTS_CACHE:-~/.cache/configurable-agents}/keda/bin-<version>/{keda,keda-adapter}
# with KEDA's CRDs (config/crd/bases of the same module) in .../keda/bin-<version>/crds, and prints
# the folder's path on stdout. The queue-autoscaling cluster tests run both against the test control
# plane. Idempotent: a folder whose stamp names the pinned version is kept.
#
# KEDA's go.mod pins k8s.io and controller-runtime with replace directives, which a wrapper module
# requiring KEDA would ignore: the build runs inside a copy of the module's own source, with its own
# go.mod and go.sum (the module zip is checked against the checksum database by go mod download).
# Its Go caches are its own (.../keda/go), so the build's cost is measurable and removable alone.
#
# Usage: hack/build-keda.sh [--check]
#   --check  build nothing; print the folder's path and exit 0 when it is built, else exit 1
# Environment: GO (the go command), CONFIGURABLE_AGENTS_CACHE, BUILD_JOBS (go -p), GOPROXY.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
GO_BUILD_NAME=build-keda
# shellcheck source=lib/go-build.sh
. "$HERE/lib/go-build.sh"  # log, die, the pins, CACHE, need_go, go_build_env, build_lock...
: "${KEDA_VERSION:?}"

check_args "$@"

KCACHE="$CACHE/keda"
BIN="$KCACHE/bin-$KEDA_VERSION"
LOG="$CACHE/logs/build-keda.log"

built() {
  [[ -x "$BIN/keda" && -x "$BIN/keda-adapter" && -f "$BIN/crds/keda.sh_scaledobjects.yaml" &&
     -f "$BIN/.keda.version" && "$(cat "$BIN/.keda.version")" == "$KEDA_VERSION" ]]
}

if built; then echo "$BIN"; exit 0; fi
if [[ $CHECK -eq 1 ]]; then exit 1; fi

need_go
go_build_env "-trimpath -buildvcs=false"
export GOCACHE="$KCACHE/go/build" GOMODCACHE="$KCACHE/go/mod" GOPATH="$KCACHE/go/path"
mkdir -p "$BIN" "$GOCACHE" "$GOMODCACHE" "$(dirname "$LOG")"

build_lock "$KCACHE/build.lock"
if built; then echo "$BIN"; exit 0; fi  # another process built it meanwhile

START=$(date +%s)
build_tmp "$KCACHE"
log "building KEDA $KEDA_VERSION with $("$GO_CMD" version | cut -d' ' -f3) (-p $JOBS); log: $LOG"

MOD="github.com/kedacore/keda/v2@$KEDA_VERSION"
DIR="$(cd "$TMP" && "$GO_CMD" mod download -json "$MOD" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')"
[[ -n "$DIR" && -f "$DIR/go.mod" ]] || die "go mod download $MOD gave no source folder"
cp -r "$DIR" "$TMP/src" && chmod -R u+w "$TMP/src"
LDFLAGS="-s -w -X github.com/kedacore/keda/v2/version.Version=$KEDA_VERSION"
if ! (cd "$TMP/src" && echo "== $(date -u +%FT%TZ) go build keda $KEDA_VERSION" &&
      "$GO_CMD" build -mod=readonly -p "$JOBS" -ldflags "$LDFLAGS" -o "$TMP/keda" ./cmd/operator &&
      "$GO_CMD" build -mod=readonly -p "$JOBS" -ldflags "$LDFLAGS" -o "$TMP/keda-adapter" ./cmd/adapter
     ) >>"$LOG" 2>&1; then
  tail -n 20 "$LOG" >&2
  die "the KEDA build failed; the whole log is $LOG"
fi
mkdir -p "$BIN/crds"
cp "$TMP/src"/config/crd/bases/*.yaml "$BIN/crds/"
mv -f "$TMP/keda" "$TMP/keda-adapter" "$BIN/"
echo "$KEDA_VERSION" > "$BIN/.keda.version"
log "built $BIN (keda, keda-adapter, crds) in $(( $(date +%s) - START )) s ($(du -sh "$BIN" | cut -f1); Go caches $(du -sh "$KCACHE/go" | cut -f1))"
echo "$BIN"
