// Amazon ECR registry hosts: which hosts are ECR, which account/region/partition they name, and which ECR
// API endpoint mints their tokens. The grammar is exact and anchored, unlike the upstream
// ecr-credential-provider, which pairs any `dkr.ecr`/`dkr-ecr` form with any suffix and takes any port:
//
//   private-host  := account "." form "." region "." suffix [ ":443" ]
//   account       := [0-9]{12}
//   form          := "dkr.ecr" | "dkr.ecr-fips"          (standard suffixes only)
//                  | "dkr-ecr" | "dkr-ecr-fips"          (dual-stack suffixes only)
//   region        := [a-z]{2,4} ( "-" [a-z]+ ){1,2} "-" [0-9]{1,2}
//                    (us-east-1, us-gov-west-1, eusc-de-east-1)
//   public-host   := ( "public.ecr.aws" | "ecr-public.aws.com" ) [ ":443" ]
//
//   partition    suffix                        forms
//   aws          amazonaws.com                 dkr.ecr, dkr.ecr-fips
//                on.aws                        dkr-ecr, dkr-ecr-fips
//   aws-us-gov   (as aws; regions us-gov-*)
//   aws-cn       amazonaws.com.cn              dkr.ecr
//                on.amazonwebservices.com.cn   dkr-ecr
//   aws-eusc     amazonaws.eu                  dkr.ecr, dkr.ecr-fips
//   aws-iso      c2s.ic.gov                    dkr.ecr
//   aws-iso-b    sc2s.sgov.gov                 dkr.ecr
//   aws-iso-e    cloud.adc-e.uk                dkr.ecr
//   aws-iso-f    csp.hci.ic.gov                dkr.ecr
//
// These pairs are the ones EKS nodeadm's matchImages and the upstream plugin's tests name; nothing else is
// ECR: no FIPS registry hosts in aws-cn or the ISO partitions, no dual-stack ones outside aws, aws-us-gov
// and aws-cn. A region whose prefix belongs to a known partition (cn-, us-gov-, us-iso-, …) must sit under
// that partition's suffix; a region-shaped name with no known prefix (a future region) takes the partition
// of its suffix. Host names compare case-insensitively (DNS, RFC 4343) in ASCII only, so a look-alike such
// as U+212A KELVIN SIGN never folds into "k". The parsed host is the lower-case name without the port.

import { tryParseImageReference } from '#shared/image/reference.ts';

export type EcrPartition =
  | 'aws'
  | 'aws-cn'
  | 'aws-us-gov'
  | 'aws-iso'
  | 'aws-iso-b'
  | 'aws-iso-e'
  | 'aws-iso-f'
  | 'aws-eusc';

export interface PrivateEcrRegistry {
  readonly kind: 'private';
  /** 12-digit AWS account id. */
  readonly account: string;
  readonly region: string;
  readonly partition: EcrPartition;
  /** DNS suffix as it appears in the host, e.g. `amazonaws.com`, `on.aws`. */
  readonly dnsSuffix: string;
  readonly fips: boolean;
  readonly dualStack: boolean;
  /** Canonical registry host name: lower case, no port. Not an auth key (the kubelet keeps case and port). */
  readonly host: string;
}

export interface PublicEcrRegistry {
  readonly kind: 'public';
  /** ECR Public tokens always come from us-east-1. */
  readonly region: 'us-east-1';
  /** Canonical registry host name: lower case, no port. */
  readonly host: string;
}

export type EcrRegistry = PrivateEcrRegistry | PublicEcrRegistry;

export const ECR_PUBLIC_REGION = 'us-east-1';
const ECR_PUBLIC_HOST = 'public.ecr.aws';
const ECR_PUBLIC_DUAL_STACK_HOST = 'ecr-public.aws.com';

interface PartitionFacts {
  /** Regions that belong to this partition by their prefix. */
  readonly region: RegExp;
  /** Suffixes of the partition's API endpoints (the AWS SDK's partition metadata). */
  readonly apiDnsSuffix: string;
  readonly apiDualStackDnsSuffix: string;
}

const PARTITIONS: Readonly<Record<EcrPartition, PartitionFacts>> = {
  aws: {
    region: /^(?:us|eu|ap|sa|ca|me|af|il|mx)-[a-z]+-[0-9]+$/,
    apiDnsSuffix: 'amazonaws.com',
    apiDualStackDnsSuffix: 'api.aws',
  },
  'aws-us-gov': {
    region: /^us-gov-[a-z]+-[0-9]+$/,
    apiDnsSuffix: 'amazonaws.com',
    apiDualStackDnsSuffix: 'api.aws',
  },
  'aws-cn': {
    region: /^cn-[a-z]+-[0-9]+$/,
    apiDnsSuffix: 'amazonaws.com.cn',
    apiDualStackDnsSuffix: 'api.amazonwebservices.com.cn',
  },
  'aws-eusc': {
    region: /^eusc-[a-z]+-[a-z]+-[0-9]+$/,
    apiDnsSuffix: 'amazonaws.eu',
    apiDualStackDnsSuffix: 'api.amazonwebservices.eu',
  },
  'aws-iso': {
    region: /^us-iso-[a-z]+-[0-9]+$/,
    apiDnsSuffix: 'c2s.ic.gov',
    apiDualStackDnsSuffix: 'api.aws.ic.gov',
  },
  'aws-iso-b': {
    region: /^us-isob-[a-z]+-[0-9]+$/,
    apiDnsSuffix: 'sc2s.sgov.gov',
    apiDualStackDnsSuffix: 'api.aws.scloud',
  },
  'aws-iso-e': {
    region: /^eu-isoe-[a-z]+-[0-9]+$/,
    apiDnsSuffix: 'cloud.adc-e.uk',
    apiDualStackDnsSuffix: 'api.cloud-aws.adc-e.uk',
  },
  'aws-iso-f': {
    region: /^us-isof-[a-z]+-[0-9]+$/,
    apiDnsSuffix: 'csp.hci.ic.gov',
    apiDualStackDnsSuffix: 'api.aws.hci.ic.gov',
  },
};

interface RegistrySuffix {
  readonly dualStack: boolean;
  readonly fips: boolean;
  /** Partitions served under this suffix; the first takes regions with no known prefix. */
  readonly partitions: readonly [EcrPartition, ...EcrPartition[]];
}

const REGISTRY_SUFFIXES: Readonly<Record<string, RegistrySuffix>> = {
  'amazonaws.com': { dualStack: false, fips: true, partitions: ['aws', 'aws-us-gov'] },
  'on.aws': { dualStack: true, fips: true, partitions: ['aws', 'aws-us-gov'] },
  'amazonaws.com.cn': { dualStack: false, fips: false, partitions: ['aws-cn'] },
  'on.amazonwebservices.com.cn': { dualStack: true, fips: false, partitions: ['aws-cn'] },
  'amazonaws.eu': { dualStack: false, fips: true, partitions: ['aws-eusc'] },
  'c2s.ic.gov': { dualStack: false, fips: false, partitions: ['aws-iso'] },
  'sc2s.sgov.gov': { dualStack: false, fips: false, partitions: ['aws-iso-b'] },
  'cloud.adc-e.uk': { dualStack: false, fips: false, partitions: ['aws-iso-e'] },
  'csp.hci.ic.gov': { dualStack: false, fips: false, partitions: ['aws-iso-f'] },
};

const PARTITION_IDS = Object.keys(PARTITIONS) as EcrPartition[];

function literal(text: string): string {
  return text.replace(/[\\^$.*+?()[\]{}|]/g, '\\$&');
}

// Grammar pieces, matched against the ASCII-lower-cased host.
const ACCOUNT = '(?<account>[0-9]{12})';
// `.` joins dkr to ecr on standard registry hosts, `-` on dual-stack ones; the suffix says which is legal.
const FORM = '(?<form>dkr(?<joiner>[.-])ecr(?<fips>-fips)?)';
const REGION = '(?<region>[a-z]{2,4}(?:-[a-z]+){1,2}-[0-9]{1,2})';
const SUFFIX = `(?<suffix>${Object.keys(REGISTRY_SUFFIXES).map(literal).join('|')})`;
// 443 is what an https registry without a port uses anyway; any other port is a different service.
const HTTPS_PORT = '(?::443)?';

const PRIVATE_HOST = new RegExp(`^${ACCOUNT}\\.${FORM}\\.${REGION}\\.${SUFFIX}${HTTPS_PORT}$`);
const PUBLIC_HOST = new RegExp(
  `^(?<host>${literal(ECR_PUBLIC_HOST)}|${literal(ECR_PUBLIC_DUAL_STACK_HOST)})${HTTPS_PORT}$`,
);

// Longest legal host (253-character name plus ":443"); longer input is rejected before any regex runs.
const HOST_WITH_PORT_MAX = 257;
const DNS_LABEL_MAX = 63;

// DNS case-folding covers A-Z only; String#toLowerCase would also fold non-ASCII look-alikes
// (U+212A KELVIN SIGN → "k").
function asciiLowerCase(text: string): string {
  return text.replace(/[A-Z]+/g, (upper) => upper.toLowerCase());
}

function partitionOfRegion(region: string): EcrPartition | undefined {
  return PARTITION_IDS.find((id) => PARTITIONS[id].region.test(region));
}

/**
 * The standard (not dual-stack, not FIPS) registry host of an account and region, with the partition's
 * suffix (`amazonaws.com.cn` for cn-*, `amazonaws.eu` for eusc-*, …); undefined for a malformed pair.
 */
export function privateEcrRegistryHost(account: string, region: string): string | undefined {
  const partition = partitionOfRegion(region) ?? 'aws';
  const suffix = Object.entries(REGISTRY_SUFFIXES).find(
    ([, facts]) => !facts.dualStack && facts.partitions.includes(partition),
  )?.[0];
  const host = `${account}.dkr.ecr.${region}.${suffix}`;
  return suffix !== undefined && parseEcrRegistryHost(host) !== undefined ? host : undefined;
}

/** Parses `host` or `host:443`; undefined unless it is exactly an ECR or ECR Public registry host. */
export function parseEcrRegistryHost(host: string): EcrRegistry | undefined {
  if (host.length > HOST_WITH_PORT_MAX) return undefined;
  const text = asciiLowerCase(host);

  const publicMatch = PUBLIC_HOST.exec(text)?.groups;
  if (publicMatch?.host !== undefined) {
    return { kind: 'public', region: ECR_PUBLIC_REGION, host: publicMatch.host };
  }

  const groups = PRIVATE_HOST.exec(text)?.groups;
  if (groups === undefined) return undefined;
  const { account, form, joiner, fips, region, suffix } = groups;
  if (account === undefined || form === undefined || region === undefined || suffix === undefined) {
    return undefined;
  }
  const registrySuffix = REGISTRY_SUFFIXES[suffix];
  if (registrySuffix === undefined || region.length > DNS_LABEL_MAX) return undefined;

  const dualStack = joiner === '-';
  const isFips = fips !== undefined;
  if (dualStack !== registrySuffix.dualStack || (isFips && !registrySuffix.fips)) return undefined;

  const known = partitionOfRegion(region);
  if (known !== undefined && !registrySuffix.partitions.includes(known)) return undefined;
  const partition = known ?? registrySuffix.partitions[0];

  return {
    kind: 'private',
    account,
    region,
    partition,
    dnsSuffix: suffix,
    fips: isFips,
    dualStack,
    host: `${account}.${form}.${region}.${suffix}`,
  };
}

export function isEcrRegistryHost(host: string): boolean {
  return parseEcrRegistryHost(host) !== undefined;
}

/**
 * The https URL of the API that mints tokens for `registry`: FIPS and dual-stack registries get the FIPS and
 * dual-stack API endpoints of their partition (the names the AWS SDK resolves), ECR Public the us-east-1
 * `ecr-public` API (dual-stack for the dual-stack public host).
 */
export function ecrApiEndpoint(registry: EcrRegistry): string {
  if (registry.kind === 'public') {
    return registry.host === ECR_PUBLIC_DUAL_STACK_HOST
      ? `https://ecr-public.${ECR_PUBLIC_REGION}.api.aws`
      : `https://api.ecr-public.${ECR_PUBLIC_REGION}.amazonaws.com`;
  }
  const facts = PARTITIONS[registry.partition];
  const service = registry.fips ? 'ecr-fips' : 'ecr';
  return registry.dualStack
    ? `https://${service}.${registry.region}.${facts.apiDualStackDnsSuffix}`
    : `https://api.${service}.${registry.region}.${facts.apiDnsSuffix}`;
}

/**
 * The ECR registry named by a CredentialProviderRequest `image` (`host[:port]/path[:tag][@digest]`, no
 * scheme), or undefined. The host is found with the distribution reference grammar, as the kubelet found it,
 * so a registry-looking string further down the path (`evil.example/<ecr host>/app`) never counts.
 */
export function ecrRegistryHostFromImage(image: string): EcrRegistry | undefined {
  const reference = tryParseImageReference(image);
  if (reference instanceof Error) return undefined;
  return parseEcrRegistryHost(reference.registry);
}
