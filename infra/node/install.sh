#!/usr/bin/env bash
# Installs pullwarden-node as the kubelet's image credential provider on a node.
#
#   install.sh --binary DIR_OR_FILE [--root /] [--arch x64|arm64] [--bin-dir DIR] [--node-config FILE]
#              [--kubelet-config FILE]
#
# --binary: dist/node-binary (the file for this machine's architecture is picked and checked against
# SHA256SUMS) or the executable itself. --root installs below another root (an image being built;
# --arch then names its architecture, which defaults to this machine's).
# Defaults: bin dir /etc/eks/image-credential-provider (where EKS points the kubelet), node config
# /etc/pullwarden/node.json, kubelet config <bin dir>/config.yaml, cache /var/lib/pullwarden/credentials.
# Existing configs are kept unless a new one is given. The kubelet config is checked with
# `pullwarden-node doctor kubelet-config` before anything is replaced; a failing check changes nothing.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root=/
binary=""
bin_dir=/etc/eks/image-credential-provider
node_config=""
kubelet_config=""
arch=""

while [ $# -gt 0 ]; do
  case "$1" in
    --binary) binary="$2"; shift 2 ;;
    --root) root="$2"; shift 2 ;;
    --arch) arch="$2"; shift 2 ;;
    --bin-dir) bin_dir="$2"; shift 2 ;;
    --node-config) node_config="$2"; shift 2 ;;
    --kubelet-config) kubelet_config="$2"; shift 2 ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) echo "install.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
[ -n "$binary" ] || { echo "install.sh: --binary is required" >&2; exit 2; }

case "${arch:-$(uname -m)}" in
  x64|x86_64|amd64) arch=x64 ;;
  arm64|aarch64) arch=arm64 ;;
  *) echo "install.sh: unsupported architecture ${arch:-$(uname -m)}" >&2; exit 1 ;;
esac

if [ -d "$binary" ]; then
  name="pullwarden-node-linux-$arch"
  [ -f "$binary/$name" ] || { echo "install.sh: $binary/$name is missing" >&2; exit 1; }
  (cd "$binary" && grep " $name\$" SHA256SUMS | sha256sum -c --quiet -) ||
    { echo "install.sh: $binary/$name does not match SHA256SUMS" >&2; exit 1; }
  binary="$binary/$name"
fi

target_bin="${root%/}$bin_dir"
target_etc="${root%/}/etc/pullwarden"
target_cache="${root%/}/var/lib/pullwarden/credentials"
install -d -m 0755 "$target_bin" "$target_etc"
install -d -m 0700 "$target_cache"

# Staged next to its destination (same file system, and not a noexec /tmp), so the final rename is
# atomic: a kubelet exec during an upgrade runs the old binary or the new one, never half of one.
staged="$(mktemp -d "$target_bin/.pullwarden-install.XXXXXX")"
trap 'rm -rf "$staged"' EXIT
install -m 0755 "$binary" "$staged/pullwarden-node"
cp "${kubelet_config:-$here/../kubelet/credential-provider-config.yaml}" "$staged/kubelet-config.yaml"
"$staged/pullwarden-node" doctor kubelet-config "$staged/kubelet-config.yaml"

mv -f "$staged/pullwarden-node" "$target_bin/pullwarden-node"
if [ -n "$kubelet_config" ] || [ ! -e "$target_bin/config.yaml" ]; then
  install -m 0644 "$staged/kubelet-config.yaml" "$target_bin/config.yaml"
fi
if [ -n "$node_config" ] || [ ! -e "$target_etc/node.json" ]; then
  install -m 0644 "${node_config:-$here/../kubelet/node.json}" "$target_etc/node.json"
fi
echo "pullwarden-node installed in $target_bin; node config $target_etc/node.json"
echo "kubelet flags: --image-credential-provider-bin-dir=$bin_dir --image-credential-provider-config=$bin_dir/config.yaml"
