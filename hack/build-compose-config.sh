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

SRC="$HERE/compose-config"
VERSION="$(sed -n 's|^require github.com/compose-spec/compose-go/v2 \(v[^[:space:]]*\).*|\1|p' "$SRC/go.mod")"
[[ -n "$VERSION" ]] || die "no github.com/compose-spec/compose-go/v2 version in $SRC/go.mod"
STAMP="$VERSION $(cat "$SRC/go.mod" "$SRC/go.sum" "$SRC/main.go" | sha256sum | cut -c1-16)"
BIN="$CACHE/bin/compose-config-$VERSION"
LOG="$CACHE/logs/build-compose-config.log"

built() { [[ -x "$BIN/compose-config" && -f "$BIN/.compose-config.version" && "$(cat "$BIN/.compose-config.version")" == "$STAMP" ]]; }

if built; then echo "$BIN/compose-config"; exit 0; fi
if [[ $CHECK -eq 1 ]]; then exit 1; fi

need_go
# -mod=readonly: the checked-in go.sum is the pin; a build never rewrites it.
go_build_env "-trimpath -buildvcs=false -mod=readonly"
mkdir -p "$BIN" "$(dirname "$LOG")"

build_lock "$CACHE/build-compose-config.lock"
if built; then echo "$BIN/compose-config"; exit 0; fi  # another process built it meanwhile

START=$(date +%s)
build_tmp "$BIN"
log "building compose-config (compose-go $VERSION) with $("$GO_CMD" version | cut -d' ' -f3) (-p $JOBS); log: $LOG"
if ! (cd "$SRC" && echo "== $(date -u +%FT%TZ) go build compose-config $STAMP" &&
      "$GO_CMD" build -p "$JOBS" -ldflags "-s -w" -o "$TMP/compose-config" .) >>"$LOG" 2>&1; then
  tail -n 20 "$LOG" >&2
  die "the compose-config build failed; the whole log is $LOG"
fi
mv -f "$TMP/compose-config" "$BIN/compose-config"
echo "$STAMP" > "$BIN/.compose-config.version"
log "built $BIN/compose-config in $(( $(date +%s) - START )) s ($(du -h "$BIN/compose-config" | cut -f1))"
echo "$BIN/compose-config"
