#!/usr/bin/env bash
# Installs pullwarden-node as the kubelet's image credential provider on a node.
#
#   install.sh --binary DIR_OR_FILE [--root /] [--arch x64|arm64] [--bin-dir DIR] [--node-config FILE]
#              [--kubelet-config FILE] [--agent NODE_GROUP]
#
# --binary: dist/node-binary (the file for this machine's architecture is picked and checked against
# SHA256SUMS) or the executable itself. --root installs below another root (an image being built;
# --arch then names its architecture, which defaults to this machine's).
# Defaults: bin dir /etc/eks/image-credential-provider (where EKS points the kubelet), node config
# /etc/pullwarden/node.json, kubelet config <bin dir>/config.yaml, cache /var/lib/pullwarden/credentials.
# Existing configs are kept unless a new one is given. The kubelet config is checked with
# `pullwarden-node doctor kubelet-config` before anything is replaced; a failing check changes nothing.
# --agent also installs the node agent for that node group: pullwarden-node-warm.service (the warm set
# pulled before the kubelet starts) and pullwarden-node-agent.service in /etc/systemd/system, and
# /etc/pullwarden/agent.env (0600) naming the node group; both units are enabled (started with the
# kubelet) when --root is /. Register such nodes with the kubelet label pullwarden.dev/agent=systemd,
# which keeps the node agent DaemonSet off them.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root=/
binary=""
bin_dir=/etc/eks/image-credential-provider
node_config=""
kubelet_config=""
arch=""
agent=false
agent_group=""

while [ $# -gt 0 ]; do
  case "$1" in
    --binary) binary="$2"; shift 2 ;;
    --root) root="$2"; shift 2 ;;
    --arch) arch="$2"; shift 2 ;;
    --bin-dir) bin_dir="$2"; shift 2 ;;
    --node-config) node_config="$2"; shift 2 ;;
    --kubelet-config) kubelet_config="$2"; shift 2 ;;
    --agent) agent=true; agent_group="$2"; shift 2 ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    *) echo "install.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
[ -n "$binary" ] || { echo "install.sh: --binary is required" >&2; exit 2; }
if $agent; then
  # The same rule as prePull.agent.nodeGroup; it also keeps agent.env one line per setting.
  [[ "$agent_group" =~ ^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$ ]] ||
    { echo "install.sh: --agent $agent_group is not a node group name" >&2; exit 2; }
  # The units name the binary in ExecStart=, where a space or a % would change its meaning.
  [[ "$bin_dir" =~ ^/[A-Za-z0-9._/-]*$ ]] ||
    { echo "install.sh: with --agent, --bin-dir must be an absolute path of letters, digits and ._-/" >&2; exit 2; }
fi

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

if $agent; then
  units=(pullwarden-node-warm.service pullwarden-node-agent.service)
  target_units="${root%/}/etc/systemd/system"
  install -d -m 0755 "$target_units"
  for unit in "${units[@]}"; do
    sed "s#/etc/eks/image-credential-provider/pullwarden-node#$bin_dir/pullwarden-node#g" \
      "$here/$unit" >"$staged/$unit"
    install -m 0644 "$staged/$unit" "$target_units/$unit"
  done
  # Settings added by hand (NODE_NAME, a token) are kept; only the node group is replaced.
  env_file="$target_etc/agent.env"
  if [ -e "$env_file" ]; then
    { grep -v '^PULLWARDEN_NODE_GROUP=' "$env_file" || true; } >"$staged/agent.env"
  else
    cat >"$staged/agent.env" <<'EOF'
# Read by pullwarden-node-warm.service and pullwarden-node-agent.service.
# The node's name in Kubernetes, when it is not the host name:
#NODE_NAME=
# The node group's bearer token, when prePull.agent.auth is token and no tokenFile is set:
#PULLWARDEN_AGENT_TOKEN=
EOF
  fi
  echo "PULLWARDEN_NODE_GROUP=$agent_group" >>"$staged/agent.env"
  install -m 0600 "$staged/agent.env" "$env_file"
  # One agent per node: infra/kubernetes/agent/node-agent.yaml skips nodes carrying this label.
  echo "register the node with the kubelet label pullwarden.dev/agent=systemd so the node agent DaemonSet skips it:" \
    "--node-labels=pullwarden.dev/agent=systemd (nodeadm: spec.kubelet.flags; bootstrap.sh: --kubelet-extra-args)"
  if [ "${root%/}" = "" ] && command -v systemctl >/dev/null 2>&1; then
    systemctl daemon-reload
    systemctl enable "${units[@]}"
    echo "node agent for node group $agent_group enabled; to start it now: systemctl start pullwarden-node-agent.service"
  else
    echo "node agent for node group $agent_group installed in $target_units; enable with: systemctl --root=$root enable ${units[*]}"
  fi
fi
