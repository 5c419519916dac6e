import type {
  ImageSiteKind,
  InputProblem,
  PullPolicy,
  SourceLocation,
} from '#shared/drift/model.ts';
import { tryParseImageReferenceCached } from '#shared/image/reference.ts';
import {
  asArray,
  asRecord,
  asString,
  getPath,
  type JsonRecord,
  POD_SPEC_PATHS,
  WORKLOAD_KINDS,
} from '#shared/kubernetes/object.ts';
import { type Explicitness, judgeExplicitness } from '#shared/policy/explicitness.ts';
import { defaultPullPolicy, isPullPolicy } from '#shared/policy/pull-policy.ts';

// Turns one decoded Kubernetes object into the facts the evaluator needs. Runs once per object of a
// cluster dump (possibly in a worker thread), so the result is plain, cloneable data.

/** Where a document came from: file, 1-based document index, and the path prefix of a List item. */
export interface DocumentSource {
  file: string;
  document: number;
  /** `items[12]` for the 13th item of a List, empty for a document that is the object itself. */
  itemPath: string;
}

export interface Position {
  line: number;
  column: number;
}

/** Finds the position of `holder[key]`, whose full path in the document is `path`. */
export type Locator = (
  holder: object,
  key: string,
  path: readonly (string | number)[],
) => Position | undefined;

export interface ImageSite {
  kind: ImageSiteKind;
  name: string;
  image: string;
  /** The policy as it appears in the object; undefined when omitted. */
  policy: PullPolicy | undefined;
  /** Only judged where it matters: a live object whose policy differs from today's default. */
  explicitness: Explicitness | undefined;
  location: SourceLocation;
}

export interface RunningContainer {
  kind: ImageSiteKind;
  name: string;
  /** The image the pod spec declares for this container (the runtime's own spelling differs). */
  image: string;
  imageID: string;
}

/** A container the kubelet cannot start because of its image (`state.waiting` of a pod's status). */
export interface WaitingContainer {
  kind: ImageSiteKind;
  name: string;
  image: string;
  /** `ErrImageNeverPull`, `ErrImagePull`, `ImagePullBackOff`, … */
  reason: string;
  message: string;
}

export interface OwnerRef {
  kind: string;
  name: string;
  uid: string | undefined;
}

export interface ObjectFacts {
  source: DocumentSource;
  apiVersion: string;
  kind: string;
  namespace: string;
  name: string;
  uid: string | undefined;
  /** Read from a cluster (server-populated fields present), not an authored manifest. */
  live: boolean;
  /** Has a pod spec: Pod, a workload kind, or another kind with `spec.template.spec`. */
  hasPodSpec: boolean;
  owner: OwnerRef | undefined;
  podTemplateHash: string | undefined;
  sites: ImageSite[];
  running: RunningContainer[];
  /** Pod containers waiting on their image. */
  waiting: WaitingContainer[];
  nodeName: string | undefined;
  /** Node groups the pod spec restricts placement to; undefined when unconstrained. */
  nodeGroupConstraint: string[] | undefined;
  /** For Node objects. */
  node: { nodeGroup: string | undefined; architecture: string | undefined } | undefined;
}

export interface ExtractionContext {
  nodeGroupLabels: readonly string[];
  locate: Locator;
  /** Item kind and apiVersion implied by a typed list (`PodList`) whose items omit them. */
  listItemKind?: { kind: string; apiVersion: string };
}

export interface Extraction {
  facts: ObjectFacts | undefined;
  problems: InputProblem[];
}

const SITE_LISTS: readonly { list: string; kind: ImageSiteKind }[] = [
  { list: 'initContainers', kind: 'initContainer' },
  { list: 'containers', kind: 'container' },
  { list: 'ephemeralContainers', kind: 'ephemeralContainer' },
];

const STATUS_LISTS: readonly { list: string; kind: ImageSiteKind }[] = [
  { list: 'initContainerStatuses', kind: 'initContainer' },
  { list: 'containerStatuses', kind: 'container' },
  { list: 'ephemeralContainerStatuses', kind: 'ephemeralContainer' },
];

/** Waiting reasons the kubelet sets when a container's image cannot be pulled or used. */
const IMAGE_WAITING_REASONS: ReadonlySet<string> = new Set([
  'ErrImageNeverPull',
  'ErrImagePull',
  'ImagePullBackOff',
  'InvalidImageName',
]);

const GENERIC_POD_SPEC_PATH = ['spec', 'template', 'spec'];

function formatPath(prefix: string, path: readonly (string | number)[]): string {
  let out = prefix;
  for (const segment of path) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else out += out === '' ? segment : `.${segment}`;
  }
  return out;
}

function isLive(object: JsonRecord, metadata: JsonRecord | undefined): boolean {
  return (
    metadata?.uid !== undefined ||
    metadata?.resourceVersion !== undefined ||
    metadata?.creationTimestamp !== undefined ||
    object.status !== undefined
  );
}

function controllerOwner(metadata: JsonRecord | undefined): OwnerRef | undefined {
  let first: OwnerRef | undefined;
  for (const raw of asArray(metadata?.ownerReferences) ?? []) {
    const ref = asRecord(raw);
    const kind = asString(ref?.kind);
    const name = asString(ref?.name);
    // Mirror pods of static manifests are owned by their Node, which is not a workload.
    if (ref === undefined || kind === undefined || name === undefined || kind === 'Node') continue;
    const owner = { kind, name, uid: asString(ref.uid) };
    if (ref.controller === true) return owner;
    first ??= owner;
  }
  return first;
}

/** Node groups allowed by nodeSelector and required node affinity on the configured labels. */
function nodeGroupConstraint(podSpec: JsonRecord, labels: readonly string[]): string[] | undefined {
  let allowed: Set<string> | undefined;
  const selector = asRecord(podSpec.nodeSelector);
  for (const label of labels) {
    const value = asString(selector?.[label]);
    if (value !== undefined) allowed = intersect(allowed, new Set([value]));
  }
  const terms = asArray(
    getPath(podSpec, [
      'affinity',
      'nodeAffinity',
      'requiredDuringSchedulingIgnoredDuringExecution',
      'nodeSelectorTerms',
    ]),
  );
  if (terms !== undefined && terms.length > 0) {
    // Terms are ORed: the union of what each allows, unless one term leaves node groups open.
    const union = new Set<string>();
    let open = false;
    for (const term of terms) {
      let termAllowed: Set<string> | undefined;
      for (const raw of asArray(asRecord(term)?.matchExpressions) ?? []) {
        const expression = asRecord(raw);
        const key = asString(expression?.key);
        if (key === undefined || !labels.includes(key) || expression?.operator !== 'In') continue;
        const values = (asArray(expression.values) ?? []).filter(
          (v): v is string => typeof v === 'string',
        );
        termAllowed = intersect(termAllowed, new Set(values));
      }
      if (termAllowed === undefined) open = true;
      else for (const value of termAllowed) union.add(value);
    }
    if (!open) allowed = intersect(allowed, union);
  }
  return allowed === undefined ? undefined : [...allowed].sort();
}

function intersect(current: Set<string> | undefined, next: Set<string>): Set<string> {
  if (current === undefined) return next;
  return new Set([...current].filter((value) => next.has(value)));
}

export function extractObject(
  value: unknown,
  source: DocumentSource,
  context: ExtractionContext,
): Extraction {
  const problems: InputProblem[] = [];
  const problem = (
    message: string,
    path: readonly (string | number)[] = [],
    position?: Position,
  ): void => {
    const entry: InputProblem = { file: source.file, document: source.document, message };
    const fieldPath = formatPath(source.itemPath, path);
    if (fieldPath !== '') entry.path = fieldPath;
    if (position !== undefined) entry.line = position.line;
    problems.push(entry);
  };

  const object = asRecord(value);
  if (object === undefined) {
    problem(`not a Kubernetes object: expected a mapping, found ${describe(value)}`);
    return { facts: undefined, problems };
  }
  const kind = asString(object.kind) ?? context.listItemKind?.kind;
  const apiVersion = asString(object.apiVersion) ?? context.listItemKind?.apiVersion;
  if (kind === undefined || kind === '' || apiVersion === undefined || apiVersion === '') {
    problem('not a Kubernetes object: "apiVersion" and "kind" must be non-empty strings');
    return { facts: undefined, problems };
  }
  const metadata = asRecord(object.metadata);
  const name = asString(metadata?.name) ?? asString(metadata?.generateName);
  if (name === undefined || name === '') {
    problem(`${kind} has no metadata.name`, ['metadata']);
    return { facts: undefined, problems };
  }
  const namespace = asString(metadata?.namespace) ?? 'default';
  const live = isLive(object, metadata);

  const facts: ObjectFacts = {
    source,
    apiVersion,
    kind,
    namespace,
    name,
    uid: asString(metadata?.uid),
    live,
    hasPodSpec: false,
    owner: controllerOwner(metadata),
    podTemplateHash: asString(asRecord(metadata?.labels)?.['pod-template-hash']),
    sites: [],
    running: [],
    waiting: [],
    nodeName: undefined,
    nodeGroupConstraint: undefined,
    node: undefined,
  };

  if (kind === 'Node') {
    const labels = asRecord(metadata?.labels);
    let nodeGroup: string | undefined;
    for (const label of context.nodeGroupLabels) {
      nodeGroup ??= asString(labels?.[label]);
    }
    facts.node = {
      nodeGroup,
      architecture:
        asString(getPath(object, ['status', 'nodeInfo', 'architecture'])) ??
        asString(labels?.['kubernetes.io/arch']),
    };
    return { facts, problems };
  }

  let podSpecPath = POD_SPEC_PATHS[kind];
  if (podSpecPath === undefined && !WORKLOAD_KINDS.has(kind)) {
    // Custom workloads (Argo Rollouts, OpenKruise CloneSets, …) follow the Deployment layout.
    if (asArray(getPath(object, [...GENERIC_POD_SPEC_PATH, 'containers'])) !== undefined) {
      podSpecPath = GENERIC_POD_SPEC_PATH;
    }
  }
  if (podSpecPath === undefined) return { facts, problems };
  const podSpec = asRecord(getPath(object, podSpecPath));
  if (podSpec === undefined) {
    problem(`${kind} has no pod spec at ${podSpecPath.join('.')}`, podSpecPath);
    return { facts, problems };
  }
  facts.hasPodSpec = true;
  facts.nodeName = asString(podSpec.nodeName);
  facts.nodeGroupConstraint = nodeGroupConstraint(podSpec, context.nodeGroupLabels);

  const siteLocation = (
    path: readonly (string | number)[],
    position: Position | undefined,
  ): SourceLocation => {
    const location: SourceLocation = {
      file: source.file,
      document: source.document,
      path: formatPath(source.itemPath, path),
    };
    if (position !== undefined) {
      location.line = position.line;
      location.column = position.column;
    }
    return location;
  };

  const addSite = (
    siteKind: ImageSiteKind,
    list: string,
    holder: JsonRecord,
    imageKey: string,
    policyValue: unknown,
    policyPath: readonly (string | number)[],
    itemPath: readonly (string | number)[],
    itemName: string,
  ): void => {
    const imagePath = [...itemPath, imageKey];
    const image = holder[imageKey];
    const position = context.locate(holder, imageKey, imagePath);
    if (typeof image !== 'string' || image === '') {
      problem(`${siteKind} "${itemName}" has no image`, imagePath, position);
      return;
    }
    const reference = tryParseImageReferenceCached(image);
    if (reference instanceof Error) {
      problem(reference.message, imagePath, position);
      return;
    }
    let policy: PullPolicy | undefined;
    if (policyValue !== undefined) {
      if (!isPullPolicy(policyValue)) {
        problem(
          `invalid pull policy ${JSON.stringify(policyValue)}: expected Always, IfNotPresent or Never`,
          policyPath,
        );
        return;
      }
      policy = policyValue;
    }
    let explicitness: Explicitness | undefined;
    if (
      live &&
      policy !== undefined &&
      policy !== 'Never' &&
      policy !== defaultPullPolicy(reference)
    ) {
      explicitness = judgeExplicitness(metadata, podSpecPath, { list, name: itemName });
    }
    facts.sites.push({
      kind: siteKind,
      name: itemName,
      image,
      policy,
      explicitness,
      location: siteLocation(imagePath, position),
    });
  };

  for (const { list, kind: siteKind } of SITE_LISTS) {
    const entries = podSpec[list];
    if (entries === undefined || entries === null) continue;
    const items = asArray(entries);
    if (items === undefined) {
      problem(`${list} must be a list`, [...podSpecPath, list]);
      continue;
    }
    items.forEach((raw, index) => {
      const itemPath = [...podSpecPath, list, index];
      const container = asRecord(raw);
      if (container === undefined) {
        problem(`${siteKind} entry is not a mapping`, itemPath);
        return;
      }
      const containerName = asString(container.name) ?? `#${index}`;
      addSite(
        siteKind,
        list,
        container,
        'image',
        container.imagePullPolicy,
        [...itemPath, 'imagePullPolicy'],
        itemPath,
        containerName,
      );
    });
  }

  (asArray(podSpec.volumes) ?? []).forEach((raw, index) => {
    const volume = asRecord(raw);
    const imageSource = asRecord(volume?.image);
    if (volume === undefined || imageSource === undefined) return;
    const itemPath = [...podSpecPath, 'volumes', index, 'image'];
    addSite(
      'imageVolume',
      'volumes',
      imageSource,
      'reference',
      imageSource.pullPolicy,
      [...itemPath, 'pullPolicy'],
      itemPath,
      asString(volume.name) ?? `#${index}`,
    );
  });

  if (kind === 'Pod') {
    const status = asRecord(object.status);
    for (const { list, kind: siteKind } of STATUS_LISTS) {
      for (const raw of asArray(status?.[list]) ?? []) {
        const entry = asRecord(raw);
        const containerName = asString(entry?.name);
        if (containerName === undefined) continue;
        const declared = facts.sites.find(
          (site) => site.kind === siteKind && site.name === containerName,
        );
        const image = declared?.image ?? asString(entry?.image);
        if (image === undefined) continue;
        const waiting = asRecord(getPath(entry, ['state', 'waiting']));
        const reason = asString(waiting?.reason);
        if (reason !== undefined && IMAGE_WAITING_REASONS.has(reason)) {
          const message = asString(waiting?.message) ?? '';
          facts.waiting.push({ kind: siteKind, name: containerName, image, reason, message });
        }
        const imageID = asString(entry?.imageID);
        if (imageID === undefined || imageID === '') continue;
        facts.running.push({ kind: siteKind, name: containerName, image, imageID });
      }
    }
  }
  return { facts, problems };
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  return `a ${typeof value}`;
}
