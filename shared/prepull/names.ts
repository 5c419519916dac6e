// The names the node-group API takes, as plain patterns: the node config (read on every kubelet exec)
// checks them without loading a schema library.

/** A node group: what EKS, Karpenter and the config allow, up to 128 characters. */
export const NODE_GROUP_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** A Kubernetes node name: a DNS subdomain. */
export const NODE_NAME = /^[A-Za-z0-9]([A-Za-z0-9._-]{0,251}[A-Za-z0-9])?$/;

/** The longest failure reason a node report may carry. */
export const MAX_REASON_LENGTH = 300;
