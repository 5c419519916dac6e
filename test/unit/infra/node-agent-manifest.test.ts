import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { parseNodeConfig } from '#shared/credentials/node-config.ts';

// infra/kubernetes/agent/node-agent.yaml: the node agent's DaemonSet reaches the host only through the
// runtime socket, runs with nothing it does not need, lands on every node of its group except those
// whose systemd units run the agent, and its ConfigMap is a node config pullwarden-node accepts that
// points where the pod mounts things.

const root = fileURLToPath(new URL('../../..', import.meta.url));
const manifestText = await readFile(`${root}/infra/kubernetes/agent/node-agent.yaml`, 'utf8');
const HTTP_API_URL = 'https://abc123.execute-api.eu-west-1.amazonaws.com';
/** What `envsubst '$HTTP_API_URL'` replaces. */
const URL_VARIABLE = `\${HTTP_API_URL}`;

interface KubernetesObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [field: string]: unknown;
}

interface VolumeMount {
  name: string;
  mountPath: string;
  readOnly?: boolean;
  subPath?: string;
}

interface Container {
  name: string;
  image: string;
  command?: string[];
  args: string[];
  env: { name: string; value?: string; valueFrom?: { fieldRef?: { fieldPath: string } } }[];
  resources: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext: {
    privileged?: boolean;
    allowPrivilegeEscalation?: boolean;
    readOnlyRootFilesystem?: boolean;
    runAsUser?: number;
    runAsNonRoot?: boolean;
    capabilities?: { drop?: string[]; add?: string[] };
    seccompProfile?: { type: string };
  };
  volumeMounts: VolumeMount[];
}

interface Volume {
  name: string;
  hostPath?: { path: string; type?: string };
  configMap?: { name: string };
  secret?: { secretName: string; optional?: boolean; defaultMode?: number };
  emptyDir?: { sizeLimit?: string };
}

interface NodeSelectorTerm {
  matchExpressions?: { key: string; operator: string; values?: string[] }[];
  matchFields?: unknown[];
}

interface NodeAffinity {
  requiredDuringSchedulingIgnoredDuringExecution?: { nodeSelectorTerms: NodeSelectorTerm[] };
  preferredDuringSchedulingIgnoredDuringExecution?: unknown[];
}

interface PodSpec {
  serviceAccountName: string;
  automountServiceAccountToken?: boolean;
  priorityClassName?: string;
  tolerations?: { operator?: string; key?: string; effect?: string }[];
  terminationGracePeriodSeconds?: number;
  nodeSelector?: Record<string, string>;
  affinity?: { nodeAffinity?: NodeAffinity; podAffinity?: unknown; podAntiAffinity?: unknown };
  hostNetwork?: boolean;
  hostPID?: boolean;
  hostIPC?: boolean;
  securityContext: {
    runAsUser?: number;
    runAsGroup?: number;
    runAsNonRoot?: boolean;
    seccompProfile?: { type: string };
  };
  initContainers?: Container[];
  containers: Container[];
  volumes: Volume[];
}

interface DaemonSet extends KubernetesObject {
  spec: {
    selector: { matchLabels: Record<string, string> };
    updateStrategy: { type: string; rollingUpdate?: { maxUnavailable?: string | number } };
    template: { metadata: { labels: Record<string, string> }; spec: PodSpec };
  };
}

/** The manifest as `envsubst '$HTTP_API_URL'` hands it to kubectl, read as Kubernetes reads YAML (1.1). */
function objects(text = manifestText): KubernetesObject[] {
  return parseAllDocuments(text.replaceAll(URL_VARIABLE, HTTP_API_URL), {
    version: '1.1',
  }).flatMap((document) => {
    if (Array.isArray(document)) throw new Error('not a YAML stream');
    if (document.errors.length > 0) throw new Error(String(document.errors[0]));
    const value = document.toJS() as KubernetesObject | null;
    return value === null ? [] : [value];
  });
}

function only<T extends KubernetesObject>(kind: string): T {
  const found = objects().filter((object) => object.kind === kind);
  assert.equal(found.length, 1, `one ${kind}`);
  return found[0] as T;
}

const daemonSet = only<DaemonSet>('DaemonSet');
const pod = daemonSet.spec.template.spec;
const [agent] = pod.containers as [Container];

function mountOf(volume: string): VolumeMount {
  const mounts = agent.volumeMounts.filter((mount) => mount.name === volume);
  assert.equal(mounts.length, 1, `volume ${volume} mounted once`);
  return mounts[0] as VolumeMount;
}

async function nodeConfig() {
  const configMap = only<KubernetesObject & { data: Record<string, string> }>('ConfigMap');
  const configPath = agent.args[agent.args.indexOf('--config') + 1] ?? '';
  const volume = pod.volumes.find((entry) => entry.configMap?.name === configMap.metadata.name);
  assert.ok(volume !== undefined, 'the ConfigMap is a volume');
  const mount = mountOf(volume.name);
  assert.ok(configPath.startsWith(`${mount.mountPath}/`), `--config ${configPath} is in the mount`);
  const key = configPath.slice(mount.mountPath.length + 1);
  const text = configMap.data[key];
  assert.ok(text !== undefined, `the ConfigMap has ${key}`);
  return parseNodeConfig(text, `ConfigMap ${configMap.metadata.name}/${key}`);
}

describe('node-agent.yaml', () => {
  test('holds a namespace, a service account, a ConfigMap and a DaemonSet, all in one namespace', () => {
    const kinds = objects().map((object) => `${object.apiVersion} ${object.kind}`);
    assert.deepEqual(kinds.sort(), [
      'apps/v1 DaemonSet',
      'v1 ConfigMap',
      'v1 Namespace',
      'v1 ServiceAccount',
    ]);
    const namespace = only('Namespace').metadata.name;
    for (const object of objects().filter((entry) => entry.kind !== 'Namespace'))
      assert.equal(object.metadata.namespace, namespace, object.kind);
    assert.equal(pod.serviceAccountName, only('ServiceAccount').metadata.name);
  });

  test('only the HTTP API URL is left for envsubst', () => {
    assert.deepEqual([...new Set(manifestText.match(/\$\{[^}]*\}/g))], [URL_VARIABLE]);
    // $(NAME) in args is the kubelet's expansion of the container's own env.
    for (const [, name] of agent.args.join(' ').matchAll(/\$\(([A-Z_]+)\)/g))
      assert.ok(
        agent.env.some((variable) => variable.name === name),
        `${name} is in the env`,
      );
  });

  test('mounts exactly one host path: the runtime socket, as a socket, read-only', async () => {
    const hostPaths = pod.volumes.filter((volume) => volume.hostPath !== undefined);
    assert.equal(hostPaths.length, 1);
    const [socket] = hostPaths as [Volume];
    assert.equal(socket.hostPath?.type, 'Socket');
    assert.match(socket.hostPath?.path ?? '', /\.sock$/);
    const mount = mountOf(socket.name);
    assert.equal(mount.readOnly, true);
    assert.equal(mount.mountPath, socket.hostPath?.path);
    assert.equal((await nodeConfig()).prePull.runtimeEndpoint, `unix://${mount.mountPath}`);
    for (const volume of pod.volumes)
      assert.ok(
        volume.hostPath !== undefined ||
          volume.configMap !== undefined ||
          volume.secret !== undefined ||
          volume.emptyDir !== undefined,
        `${volume.name} is a socket, config, secret or emptyDir volume`,
      );
    assert.ok(!pod.hostNetwork && !pod.hostPID && !pod.hostIPC);
  });

  test('runs with a read-only root, no privilege escalation, no capabilities and the runtime seccomp profile', () => {
    assert.equal(pod.initContainers, undefined);
    assert.equal(pod.containers.length, 1);
    const security = agent.securityContext;
    assert.equal(security.readOnlyRootFilesystem, true);
    assert.equal(security.allowPrivilegeEscalation, false);
    assert.notEqual(security.privileged, true);
    assert.deepEqual(security.capabilities?.drop, ['ALL']);
    assert.equal(security.capabilities?.add, undefined);
    assert.equal(
      security.seccompProfile?.type ?? pod.securityContext.seccompProfile?.type,
      'RuntimeDefault',
    );
    // containerd's socket is root:root 0660: uid 0, but with every capability dropped above.
    assert.equal(pod.securityContext.runAsUser, 0);
    assert.notEqual(pod.securityContext.runAsNonRoot, true);
    for (const mount of agent.volumeMounts) {
      const volume = pod.volumes.find((entry) => entry.name === mount.name);
      assert.ok(mount.readOnly === true || volume?.emptyDir !== undefined, mount.name);
    }
  });

  test('needs no Kubernetes API token', () => {
    assert.equal(
      (only('ServiceAccount') as KubernetesObject & { automountServiceAccountToken?: boolean })
        .automountServiceAccountToken,
      false,
    );
    assert.equal(pod.automountServiceAccountToken, false);
  });

  test('keeps the credentials cache and agent state in an emptyDir, and reads the token from the Secret', async () => {
    const config = await nodeConfig();
    const state = pod.volumes.find((volume) => volume.emptyDir !== undefined);
    assert.ok(state !== undefined);
    const statePath = mountOf(state.name).mountPath;
    assert.equal(statePath, '/var/lib/pullwarden');
    for (const path of [config.credentialProvider.cacheDirectory, config.prePull.agent.stateFile])
      assert.ok(path.startsWith(`${statePath}/`), path);
    const token = pod.volumes.find((volume) => volume.secret !== undefined);
    assert.equal(token?.secret?.optional, true, 'IAM auth needs no Secret');
    // 0440 in YAML 1.1 is octal, as Kubernetes reads it.
    assert.equal(token?.secret?.defaultMode, 0o440);
    assert.ok(
      config.prePull.agent.tokenFile?.startsWith(`${mountOf(token?.name ?? '').mountPath}/`),
    );
    // Measured on the container's root, which lies on the runtime's filesystem.
    assert.equal(config.prePull.disk.path, undefined);
    assert.equal(config.prePull.agent.server, HTTP_API_URL);
    assert.equal(config.prePull.agent.auth, 'iam');
  });

  test('runs on every node of its node group, critical, with its node name and a bounded rollout', () => {
    assert.deepEqual(pod.tolerations, [{ operator: 'Exists' }]);
    assert.equal(pod.priorityClassName, 'system-node-critical');
    assert.deepEqual(daemonSet.spec.updateStrategy, {
      type: 'RollingUpdate',
      rollingUpdate: { maxUnavailable: '10%' },
    });
    assert.ok((pod.terminationGracePeriodSeconds ?? 0) >= 10);
    const nodeName = agent.env.find((variable) => variable.name === 'NODE_NAME');
    assert.deepEqual(nodeName?.valueFrom, { fieldRef: { fieldPath: 'spec.nodeName' } });
    const group = agent.env.find((variable) => variable.name === 'PULLWARDEN_NODE_GROUP')?.value;
    assert.ok(typeof group === 'string' && group !== '', 'the manifest names its node group');
    assert.deepEqual(agent.args.slice(0, 3), ['agent', '--node-group', '$(PULLWARDEN_NODE_GROUP)']);
    assert.equal(pod.nodeSelector?.['eks.amazonaws.com/nodegroup'], group);
    assert.equal(daemonSet.spec.selector.matchLabels['pullwarden.dev/node-group'], group);
    for (const [key, value] of Object.entries(daemonSet.spec.selector.matchLabels))
      assert.equal(daemonSet.spec.template.metadata.labels[key], value);
  });

  test('stays off nodes whose systemd units run the agent, labelled as install.sh --agent says', async () => {
    // Terms are ORed, expressions within a term ANDed: one term, so every node it lands on lacks the label.
    const required = pod.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution;
    assert.deepEqual(required?.nodeSelectorTerms, [
      { matchExpressions: [{ key: 'pullwarden.dev/agent', operator: 'DoesNotExist' }] },
    ]);
    // Nothing else narrows or widens the placement.
    assert.deepEqual(Object.keys(pod.affinity ?? {}), ['nodeAffinity']);
    assert.deepEqual(Object.keys(pod.affinity?.nodeAffinity ?? {}), [
      'requiredDuringSchedulingIgnoredDuringExecution',
    ]);
    const install = await readFile(`${root}/infra/node/install.sh`, 'utf8');
    assert.match(install, /--node-labels=pullwarden\.dev\/agent=systemd/);
    const readme = await readFile(`${root}/infra/kubernetes/agent/README.md`, 'utf8');
    assert.match(readme, /--node-labels=pullwarden\.dev\/agent=systemd/);
  });

  test('sets requests and limits for CPU and memory', () => {
    for (const kind of ['requests', 'limits'] as const)
      for (const resource of ['cpu', 'memory'])
        assert.ok(agent.resources[kind]?.[resource] !== undefined, `${kind}.${resource}`);
  });

  test('runs the image of this release, whose entrypoint is pullwarden-node', async () => {
    const { version } = JSON.parse(await readFile(`${root}/package.json`, 'utf8')) as {
      version: string;
    };
    assert.equal(agent.image, `ghcr.io/pullwarden/pullwarden-node:${version}`);
    // args only: they go to the image's entrypoint.
    assert.equal(agent.command, undefined);
    const containerfile = await readFile(`${root}/infra/node/Containerfile`, 'utf8');
    const entrypoint = /^ENTRYPOINT (.+)$/m.exec(containerfile)?.[1];
    assert.deepEqual(JSON.parse(entrypoint ?? 'null'), ['/usr/local/bin/pullwarden-node']);
    assert.match(
      containerfile,
      /^COPY --from=select \/out\/pullwarden-node \/usr\/local\/bin\/pullwarden-node$/m,
    );
  });
});
