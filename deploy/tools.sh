#!/usr/bin/env bash
# The deploy checks' tools, pinned and cached under $PBI_CACHE_DIR/tools (like the Kafka jars), installed
# from package registries only: Go tools with `go install` through the Go module proxy, promtool from
# Debian's prometheus package, the Kubernetes JSON schemas from the kubernetes-validate wheel on PyPI. `make test` runs `deploy/tools.sh all`; the
# deploy tests ask `deploy/tools.sh path NAME`, which installs NAME when missing and prints its path.
# Usage: tools.sh all | path kustomize|kubeconform|promtool|helm|k8s-schemas
here="$(cd "$(dirname "$0")" && pwd)"
. "$here/local/common.sh"
say() { printf '\033[1;34m[tools]\033[0m %s\n' "$*" >&2; }

KUSTOMIZE_VERSION=v5.8.2         # sigs.k8s.io/kustomize/kustomize/v5
KUBECONFORM_VERSION=v0.8.0       # github.com/yannh/kubeconform
HELM_VERSION=v4.3.2              # helm.sh/helm/v4: renders the chart made from the base (deploy/gen_helm_chart.py)
# promtool comes from Debian's prometheus package (unpacked, never installed as a service): seconds to get,
# where `go install` of Prometheus's module took 20+ minutes on a fresh 2-core machine (1.8 GB of modules).
PROMTOOL_DEB_PACKAGE=prometheus
KUBERNETES_VALIDATE_VERSION=1.37.0  # PyPI wheel carrying the Kubernetes JSON schemas
KUBERNETES_VERSION=1.33.0        # the oldest Kubernetes the manifests must be valid for

TOOLS="$PBI_CACHE_DIR/tools"
mkdir -p "$TOOLS"

ensure_go() {
  command -v go >/dev/null && return
  [ -x /usr/local/go/bin/go ] && { PATH="/usr/local/go/bin:$PATH"; return; }
  apt_install golang-go
}

# go_tool NAME MODULE@VERSION: the binary built once per version, kept in its own folder.
go_tool() {
  local name="$1" pkg="$2" dir="$TOOLS/$1-${2##*@}"
  if [ ! -x "$dir/$name" ]; then
    ensure_go
    say "building $pkg with go install (Go module proxy) into $dir"
    mkdir -p "$dir"
    GOBIN="$dir" GOFLAGS=-buildvcs=false go install "$pkg" >"$dir/install.log" 2>&1 \
      || { tail -n 20 "$dir/install.log" >&2; die "go install $pkg failed (see $dir/install.log)"; }
  fi
  echo "$dir/$name"
}

# deb_tool NAME PACKAGE: one binary out of a Debian package, unpacked once per package version.
deb_tool() {
  local name="$1" pkg="$2" version dir
  version="$(apt-cache policy "$pkg" 2>/dev/null | sed -n 's/^ *Candidate: *//p')"
  if [ -z "$version" ] || [ "$version" = "(none)" ]; then  # a fresh machine may not have read the lists yet
    as_root apt-get update -qq >/dev/null 2>&1 || true
    version="$(apt-cache policy "$pkg" 2>/dev/null | sed -n 's/^ *Candidate: *//p')"
  fi
  [ -n "$version" ] && [ "$version" != "(none)" ] || die "Debian's package $pkg is not available (apt-get update failed?)"
  dir="$TOOLS/$name-deb-$version"
  if [ ! -x "$dir/$name" ]; then
    say "unpacking $name from Debian's $pkg $version into $dir"
    rm -rf "$dir.tmp" && mkdir -p "$dir.tmp"
    (cd "$dir.tmp" && apt-get download "$pkg=$version" >/dev/null 2>&1 && dpkg-deb -x ./*.deb root) \
      || { rm -rf "$dir.tmp"; die "could not download Debian's $pkg $version"; }
    mkdir -p "$dir" && cp "$dir.tmp/root/usr/bin/$name" "$dir/$name" && rm -rf "$dir.tmp"
  fi
  echo "$dir/$name"
}

# The Kubernetes schemas of one version, made resolvable from files: their "$id" (a kubernetes.io URL
# that would be fetched) dropped and their "/api/_definitions.json" references made relative, so a plain
# file-based validator (kubeconform) finds the definitions beside them and never goes on the network.
k8s_schemas() {
  local dir="$TOOLS/k8s-schemas-$KUBERNETES_VALIDATE_VERSION-files"
  local sub="v$KUBERNETES_VERSION-local-strict"
  if [ ! -f "$dir/.complete" ]; then
    say "fetching kubernetes-validate $KUBERNETES_VALIDATE_VERSION from PyPI for the Kubernetes $KUBERNETES_VERSION schemas"
    rm -rf "$dir" && mkdir -p "$dir/wheel"
    local pip="${PBI_PIP:-$here/../.venv/bin/pip}"
    [ -x "$pip" ] || pip="python3 -m pip"
    $pip download -q --no-deps "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION" -d "$dir/wheel" >&2 \
      || die "pip could not download kubernetes-validate $KUBERNETES_VALIDATE_VERSION (PyPI unreachable?)"
    python3 - "$dir" "$sub" <<'PY' || die "unpacking the Kubernetes schemas failed"
import json, pathlib, sys, zipfile
out, sub = pathlib.Path(sys.argv[1]), sys.argv[2]
(wheel,) = (out / "wheel").glob("*.whl")
prefix = f"kubernetes_validate/kubernetes-json-schema/{sub}/"
target = out / sub
target.mkdir(parents=True)
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        if name.startswith(prefix) and name.endswith(".json"):
            schema = json.loads(z.read(name).decode().replace('"/api/_definitions.json#', '"_definitions.json#'))
            schema.pop("$id", None)
            (target / name[len(prefix):]).write_text(json.dumps(schema))
PY
    rm -rf "$dir/wheel"
    touch "$dir/.complete"
  fi
  echo "$dir/$sub"
}

path() {
  case "$1" in
    kustomize) go_tool kustomize "sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE_VERSION" ;;
    kubeconform) go_tool kubeconform "github.com/yannh/kubeconform/cmd/kubeconform@$KUBECONFORM_VERSION" ;;
    promtool) deb_tool promtool "$PROMTOOL_DEB_PACKAGE" ;;
    # Helm (the optional chart check) builds for 15+ minutes from source: only when asked for.
    helm)
      [ -x "$TOOLS/helm-$HELM_VERSION/helm" ] || [ -n "${PBI_BUILD_HELM:-}" ] \
        || die "helm is built only on request (PBI_BUILD_HELM=1 deploy/tools.sh path helm, or make helm-chart)"
      go_tool helm "helm.sh/helm/v4/cmd/helm@$HELM_VERSION" ;;
    k8s-schemas) k8s_schemas ;;
    k8s-version) echo "$KUBERNETES_VERSION" ;;
    *) die "unknown tool: $1 (kustomize, kubeconform, promtool, helm, k8s-schemas, k8s-version)" ;;
  esac
}

case "${1:-}" in
  all) for t in kustomize kubeconform promtool k8s-schemas; do path "$t" >/dev/null; done; say "deploy tools ready in $TOOLS" ;;
  path) [ -n "${2:-}" ] || die "usage: $0 path NAME"; path "$2" ;;
  *) echo "usage: $0 all | path kustomize|kubeconform|promtool|helm|k8s-schemas|k8s-version" >&2; exit 2 ;;
esac
