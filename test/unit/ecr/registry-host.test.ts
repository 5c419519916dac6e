import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  type EcrPartition,
  type EcrRegistry,
  ecrApiEndpoint,
  ecrRegistryHostFromImage,
  isEcrRegistryHost,
  parseEcrRegistryHost,
  privateEcrRegistryHost,
} from '#shared/ecr/registry-host.ts';

const ACCOUNT = '123456789012';

type Private = Extract<EcrRegistry, { kind: 'private' }>;

function privateRegistry(
  host: string,
  region: string,
  partition: EcrPartition,
  dnsSuffix: string,
  flags: { fips?: boolean; dualStack?: boolean } = {},
): Private {
  return {
    kind: 'private',
    account: host.slice(0, 12),
    region,
    partition,
    dnsSuffix,
    fips: flags.fips ?? false,
    dualStack: flags.dualStack ?? false,
    host,
  };
}

// host | expected: every partition with each form it serves, the research's §8.5 recognition and
// region-extraction vectors (lala-land-1 stands for a region no table knows yet), and §8.1's ECR targets.
const PRIVATE_HOSTS: [string, Private][] = [
  // aws
  [
    `${ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com`,
    privateRegistry(
      `${ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com`,
      'us-east-1',
      'aws',
      'amazonaws.com',
    ),
  ],
  [
    '123456789123.dkr.ecr.us-west-2.amazonaws.com',
    privateRegistry(
      '123456789123.dkr.ecr.us-west-2.amazonaws.com',
      'us-west-2',
      'aws',
      'amazonaws.com',
    ),
  ],
  [
    `${ACCOUNT}.dkr.ecr.ap-southeast-7.amazonaws.com`,
    privateRegistry(
      `${ACCOUNT}.dkr.ecr.ap-southeast-7.amazonaws.com`,
      'ap-southeast-7',
      'aws',
      'amazonaws.com',
    ),
  ],
  [
    `${ACCOUNT}.dkr.ecr-fips.us-east-1.amazonaws.com`,
    privateRegistry(
      `${ACCOUNT}.dkr.ecr-fips.us-east-1.amazonaws.com`,
      'us-east-1',
      'aws',
      'amazonaws.com',
      { fips: true },
    ),
  ],
  [
    `${ACCOUNT}.dkr-ecr.us-west-2.on.aws`,
    privateRegistry(`${ACCOUNT}.dkr-ecr.us-west-2.on.aws`, 'us-west-2', 'aws', 'on.aws', {
      dualStack: true,
    }),
  ],
  [
    `${ACCOUNT}.dkr-ecr-fips.us-west-2.on.aws`,
    privateRegistry(`${ACCOUNT}.dkr-ecr-fips.us-west-2.on.aws`, 'us-west-2', 'aws', 'on.aws', {
      fips: true,
      dualStack: true,
    }),
  ],
  // §8.5: an unknown region-shaped name takes the partition of its suffix
  [
    `${ACCOUNT}.dkr.ecr.lala-land-1.amazonaws.com`,
    privateRegistry(
      `${ACCOUNT}.dkr.ecr.lala-land-1.amazonaws.com`,
      'lala-land-1',
      'aws',
      'amazonaws.com',
    ),
  ],
  [
    `${ACCOUNT}.dkr.ecr-fips.lala-land-1.amazonaws.com`,
    privateRegistry(
      `${ACCOUNT}.dkr.ecr-fips.lala-land-1.amazonaws.com`,
      'lala-land-1',
      'aws',
      'amazonaws.com',
      { fips: true },
    ),
  ],
  [
    `${ACCOUNT}.dkr-ecr.lala-land-1.on.aws`,
    privateRegistry(`${ACCOUNT}.dkr-ecr.lala-land-1.on.aws`, 'lala-land-1', 'aws', 'on.aws', {
      dualStack: true,
    }),
  ],
  [
    `${ACCOUNT}.dkr-ecr-fips.lala-land-1.on.aws`,
    privateRegistry(`${ACCOUNT}.dkr-ecr-fips.lala-land-1.on.aws`, 'lala-land-1', 'aws', 'on.aws', {
      fips: true,
      dualStack: true,
    }),
  ],
  // aws-us-gov: same suffixes as aws, us-gov-* regions
  [
    `${ACCOUNT}.dkr.ecr.us-gov-east-1.amazonaws.com`,
    privateRegistry(
      `${ACCOUNT}.dkr.ecr.us-gov-east-1.amazonaws.com`,
      'us-gov-east-1',
      'aws-us-gov',
      'amazonaws.com',
    ),
  ],
  [
    `${ACCOUNT}.dkr.ecr-fips.us-gov-west-1.amazonaws.com`,
    privateRegistry(
      `${ACCOUNT}.dkr.ecr-fips.us-gov-west-1.amazonaws.com`,
      'us-gov-west-1',
      'aws-us-gov',
      'amazonaws.com',
      { fips: true },
    ),
  ],
  [
    `${ACCOUNT}.dkr-ecr.us-gov-west-1.on.aws`,
    privateRegistry(
      `${ACCOUNT}.dkr-ecr.us-gov-west-1.on.aws`,
      'us-gov-west-1',
      'aws-us-gov',
      'on.aws',
      {
        dualStack: true,
      },
    ),
  ],
  [
    `${ACCOUNT}.dkr-ecr-fips.us-gov-east-1.on.aws`,
    privateRegistry(
      `${ACCOUNT}.dkr-ecr-fips.us-gov-east-1.on.aws`,
      'us-gov-east-1',
      'aws-us-gov',
      'on.aws',
      { fips: true, dualStack: true },
    ),
  ],
  // aws-cn
  [
    `${ACCOUNT}.dkr.ecr.cn-north-1.amazonaws.com.cn`,
    privateRegistry(
      `${ACCOUNT}.dkr.ecr.cn-north-1.amazonaws.com.cn`,
      'cn-north-1',
      'aws-cn',
      'amazonaws.com.cn',
    ),
  ],
  [
    `${ACCOUNT}.dkr.ecr.lala-land-1.amazonaws.com.cn`,
    privateRegistry(
      `${ACCOUNT}.dkr.ecr.lala-land-1.amazonaws.com.cn`,
      'lala-land-1',
      'aws-cn',
      'amazonaws.com.cn',
    ),
  ],
  [
    `${ACCOUNT}.dkr-ecr.cn-north-1.on.amazonwebservices.com.cn`,
    privateRegistry(
      `${ACCOUNT}.dkr-ecr.cn-north-1.on.amazonwebservices.com.cn`,
      'cn-north-1',
      'aws-cn',
      'on.amazonwebservices.com.cn',
      { dualStack: true },
    ),
  ],
  [
    `${ACCOUNT}.dkr-ecr.lala-land-1.on.amazonwebservices.com.cn`,
    privateRegistry(
      `${ACCOUNT}.dkr-ecr.lala-land-1.on.amazonwebservices.com.cn`,
      'lala-land-1',
      'aws-cn',
      'on.amazonwebservices.com.cn',
      { dualStack: true },
    ),
  ],
  // aws-eusc
  [
    `${ACCOUNT}.dkr.ecr.eusc-de-east-1.amazonaws.eu`,
    privateRegistry(
      `${ACCOUNT}.dkr.ecr.eusc-de-east-1.amazonaws.eu`,
      'eusc-de-east-1',
      'aws-eusc',
      'amazonaws.eu',
    ),
  ],
  [
    `${ACCOUNT}.dkr.ecr-fips.eusc-de-east-1.amazonaws.eu`,
    privateRegistry(
      `${ACCOUNT}.dkr.ecr-fips.eusc-de-east-1.amazonaws.eu`,
      'eusc-de-east-1',
      'aws-eusc',
      'amazonaws.eu',
      { fips: true },
    ),
  ],
  // aws-iso, aws-iso-b, aws-iso-e, aws-iso-f
  [
    `${ACCOUNT}.dkr.ecr.us-iso-east-1.c2s.ic.gov`,
    privateRegistry(
      `${ACCOUNT}.dkr.ecr.us-iso-east-1.c2s.ic.gov`,
      'us-iso-east-1',
      'aws-iso',
      'c2s.ic.gov',
    ),
  ],
  [
    `${ACCOUNT}.dkr.ecr.us-isob-east-1.sc2s.sgov.gov`,
    privateRegistry(
      `${ACCOUNT}.dkr.ecr.us-isob-east-1.sc2s.sgov.gov`,
      'us-isob-east-1',
      'aws-iso-b',
      'sc2s.sgov.gov',
    ),
  ],
  [
    `${ACCOUNT}.dkr.ecr.eu-isoe-west-1.cloud.adc-e.uk`,
    privateRegistry(
      `${ACCOUNT}.dkr.ecr.eu-isoe-west-1.cloud.adc-e.uk`,
      'eu-isoe-west-1',
      'aws-iso-e',
      'cloud.adc-e.uk',
    ),
  ],
  [
    `${ACCOUNT}.dkr.ecr.us-isof-east-1.csp.hci.ic.gov`,
    privateRegistry(
      `${ACCOUNT}.dkr.ecr.us-isof-east-1.csp.hci.ic.gov`,
      'us-isof-east-1',
      'aws-iso-f',
      'csp.hci.ic.gov',
    ),
  ],
  // the https port is the same registry; case folds (DNS); the parsed host is canonical
  [
    `${ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com:443`,
    privateRegistry(
      `${ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com`,
      'us-east-1',
      'aws',
      'amazonaws.com',
    ),
  ],
  [
    `${ACCOUNT}.DKR.ECR.US-EAST-1.AMAZONAWS.COM`,
    privateRegistry(
      `${ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com`,
      'us-east-1',
      'aws',
      'amazonaws.com',
    ),
  ],
  [
    `${ACCOUNT}.Dkr-Ecr-Fips.Us-Gov-West-1.On.Aws:443`,
    privateRegistry(
      `${ACCOUNT}.dkr-ecr-fips.us-gov-west-1.on.aws`,
      'us-gov-west-1',
      'aws-us-gov',
      'on.aws',
      {
        fips: true,
        dualStack: true,
      },
    ),
  ],
];

const PUBLIC_HOSTS: [string, string][] = [
  ['public.ecr.aws', 'public.ecr.aws'],
  ['ecr-public.aws.com', 'ecr-public.aws.com'],
  ['public.ecr.aws:443', 'public.ecr.aws'],
  ['ecr-public.aws.com:443', 'ecr-public.aws.com'],
  ['PUBLIC.ECR.AWS', 'public.ecr.aws'],
  ['Ecr-Public.Aws.Com', 'ecr-public.aws.com'],
];

const E = `${ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com`;

// host | why it is not ECR
const NOT_ECR: [string, string][] = [
  // §8.5 account shape
  ['1234567890123.dkr.ecr.lala-land-1.amazonaws.com', '13-digit account'],
  ['12345678901.dkr.ecr.lala-land-1.amazonaws.com', '11-digit account'],
  ['12345678901a.dkr.ecr.lala-land-1.amazonaws.com', 'alphanumeric account'],
  ['abcdefghijkl.dkr.ecr.lala-land-1.amazonaws.com', 'letters for account'],
  [`x${E}`, 'prefixed account'],
  [`.${E}`, 'leading dot'],
  [`dkr.ecr.us-east-1.amazonaws.com`, 'no account'],
  [`١٢٣٤٥٦٧٨٩٠١٢.dkr.ecr.us-east-1.amazonaws.com`, 'non-ASCII digits'],
  // §8.5 region shape
  [`${ACCOUNT}.dkr.ecr.lala!-land-1.amazonaws.com`, 'region with !'],
  [`${ACCOUNT}.dkr.ecr.#lala-land-1.amazonaws.com`, 'region starting with #'],
  [`${ACCOUNT}.dkr.ecr.us_east_1.amazonaws.com`, 'region with _'],
  [`${ACCOUNT}.dkr.ecr.useast1.amazonaws.com`, 'region without dashes'],
  [`${ACCOUNT}.dkr.ecr.us-east.amazonaws.com`, 'region without number'],
  [`${ACCOUNT}.dkr.ecr.us-east-1a.amazonaws.com`, 'availability zone for region'],
  [`${ACCOUNT}.dkr.ecr.us-east-100.amazonaws.com`, 'region number too long'],
  [`${ACCOUNT}.dkr.ecr.u-east-1.amazonaws.com`, 'one-letter geography'],
  [`${ACCOUNT}.dkr.ecr.x-y-z-w-1.amazonaws.com`, 'too many region words'],
  [`${ACCOUNT}.dkr.ecr..amazonaws.com`, 'empty region'],
  [`${ACCOUNT}.dkr.ecr.amazonaws.com`, 'missing region'],
  [`${ACCOUNT}.dkr.ecr.us-east-1.us-east-1.amazonaws.com`, 'two region labels'],
  // §8.5 suffixes
  [`${ACCOUNT}.dkr.ecr.lala-land-1.amazonaws.hacker.com`, 'amazonaws.hacker.com'],
  [`${ACCOUNT}.dkr.ecr.lala-land-1.hacker.com`, 'hacker.com'],
  [`${ACCOUNT}.dkr.ecr.lala-land-1.amazonaws.lol`, 'amazonaws.lol'],
  [`${ACCOUNT}.dkr.ecr.lala-land-1.amazonaws.gov`, 'amazonaws.gov'],
  [`${ACCOUNT}.dkr.ecr.cn-north-1.amazonaws.cn`, 'amazonaws.cn (kubernetes.io doc example)'],
  [`${ACCOUNT}.dkr.ecr.us-east-1.api.aws`, 'API dual-stack suffix is not a registry suffix'],
  [`${ACCOUNT}.dkr-ecr.us-east-1.api.aws`, 'API dual-stack suffix is not a registry suffix'],
  [`${ACCOUNT}.dkr.ecr.us-east-1`, 'no suffix'],
  // §8.5 service labels
  [`${ACCOUNT}.dog.ecr.lala-land-1.amazonaws.com`, 'dog instead of dkr'],
  [`${ACCOUNT}.dkr.cat.lala-land-1.amazonaws.com`, 'cat instead of ecr'],
  [`${ACCOUNT}.dkr.ecr.lala-land-1.awsamazon.com`, 'awsamazon.com'],
  [`${ACCOUNT}.lala-land-1.amazonaws.com`, 'missing dkr.ecr'],
  [`${ACCOUNT}.dkr_ecr.us-east-1.amazonaws.com`, 'dkr_ecr'],
  [`${ACCOUNT}.dkrecr.us-east-1.amazonaws.com`, 'dkrecr'],
  [`${ACCOUNT}.dkr.ecr.fips.us-east-1.amazonaws.com`, 'fips as its own label'],
  [`${ACCOUNT}.dkr.ecr-fips-fips.us-east-1.amazonaws.com`, 'fips twice'],
  [`${ACCOUNT}.dkr.ecr-FIPS1.us-east-1.amazonaws.com`, 'fips variant'],
  [`${ACCOUNT}.api.ecr.us-east-1.amazonaws.com`, 'the API endpoint, not a registry'],
  // form and suffix must belong together (upstream accepts these)
  [`${ACCOUNT}.dkr-ecr.us-east-1.amazonaws.com`, 'dual-stack form on standard suffix'],
  [`${ACCOUNT}.dkr-ecr-fips.us-east-1.amazonaws.com`, 'dual-stack FIPS form on standard suffix'],
  [`${ACCOUNT}.dkr.ecr.us-west-2.on.aws`, 'standard form on on.aws (old Bottlerocket pattern)'],
  [`${ACCOUNT}.dkr.ecr-fips.us-west-2.on.aws`, 'standard FIPS form on on.aws'],
  [
    `${ACCOUNT}.dkr.ecr.cn-north-1.on.amazonwebservices.com.cn`,
    'standard form on China dual-stack',
  ],
  [`${ACCOUNT}.dkr-ecr.cn-north-1.amazonaws.com.cn`, 'dual-stack form on China standard suffix'],
  [`${ACCOUNT}.dkr-ecr.us-iso-east-1.c2s.ic.gov`, 'no dual-stack registry host in aws-iso'],
  [`${ACCOUNT}.dkr-ecr.eusc-de-east-1.amazonaws.eu`, 'no dual-stack registry host in aws-eusc'],
  [`${ACCOUNT}.dkr.ecr-fips.cn-north-1.amazonaws.com.cn`, 'no FIPS registry host in aws-cn'],
  [
    `${ACCOUNT}.dkr-ecr-fips.cn-north-1.on.amazonwebservices.com.cn`,
    'no FIPS dual-stack in aws-cn',
  ],
  [`${ACCOUNT}.dkr.ecr-fips.us-iso-east-1.c2s.ic.gov`, 'no FIPS registry host in aws-iso'],
  [`${ACCOUNT}.dkr.ecr-fips.us-isob-east-1.sc2s.sgov.gov`, 'no FIPS registry host in aws-iso-b'],
  [`${ACCOUNT}.dkr.ecr-fips.eu-isoe-west-1.cloud.adc-e.uk`, 'no FIPS registry host in aws-iso-e'],
  [`${ACCOUNT}.dkr.ecr-fips.us-isof-east-1.csp.hci.ic.gov`, 'no FIPS registry host in aws-iso-f'],
  // a region of one partition under another partition's suffix
  [`${ACCOUNT}.dkr.ecr.cn-north-1.amazonaws.com`, 'China region on amazonaws.com'],
  [`${ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com.cn`, 'aws region on amazonaws.com.cn'],
  [`${ACCOUNT}.dkr.ecr.us-gov-west-1.amazonaws.com.cn`, 'GovCloud region on amazonaws.com.cn'],
  [`${ACCOUNT}.dkr-ecr.us-east-1.on.amazonwebservices.com.cn`, 'aws region on China dual-stack'],
  [`${ACCOUNT}.dkr-ecr.cn-north-1.on.aws`, 'China region on on.aws'],
  [`${ACCOUNT}.dkr.ecr.us-iso-east-1.amazonaws.com`, 'aws-iso region on amazonaws.com'],
  [`${ACCOUNT}.dkr.ecr.us-east-1.c2s.ic.gov`, 'aws region on c2s.ic.gov'],
  [`${ACCOUNT}.dkr.ecr.us-isob-east-1.c2s.ic.gov`, 'aws-iso-b region on c2s.ic.gov'],
  [`${ACCOUNT}.dkr.ecr.us-iso-east-1.sc2s.sgov.gov`, 'aws-iso region on sc2s.sgov.gov'],
  [`${ACCOUNT}.dkr.ecr.us-isof-east-1.c2s.ic.gov`, 'aws-iso-f region on c2s.ic.gov'],
  [`${ACCOUNT}.dkr.ecr.us-iso-east-1.csp.hci.ic.gov`, 'aws-iso region on csp.hci.ic.gov'],
  [`${ACCOUNT}.dkr.ecr.eu-west-1.cloud.adc-e.uk`, 'aws region on cloud.adc-e.uk'],
  [`${ACCOUNT}.dkr.ecr.eusc-de-east-1.amazonaws.com`, 'aws-eusc region on amazonaws.com'],
  [`${ACCOUNT}.dkr.ecr.eu-central-1.amazonaws.eu`, 'aws region on amazonaws.eu'],
  // ports: only the https default is the same registry
  [`${E}:80`, 'port 80'],
  [`${E}:5000`, 'port 5000'],
  [`${E}:0443`, 'port 0443'],
  [`${E}:4430`, 'port 4430'],
  [`${E}:443:443`, 'two ports'],
  [`${E}:`, 'empty port'],
  ['public.ecr.aws:8443', 'public with port 8443'],
  // spoofing: suffixes, prefixes, userinfo, paths, schemes, whitespace, look-alikes
  [`${E}.evil.example`, 'ECR host as a subdomain of another domain'],
  [`${E}.`, 'trailing dot'],
  [`${E}.amazonaws.com.cn`, 'ECR host followed by another ECR suffix'],
  [`evil.example.${E}`, 'label prefix'],
  [`evil.example/${E}`, 'host in a path'],
  [`${E}@evil.example`, 'userinfo-shaped suffix'],
  [`evil@${E}`, 'userinfo-shaped prefix'],
  [`${E}/team/app`, 'a path is not part of a host'],
  [`https://${E}`, 'scheme'],
  [`${E}  `, 'trailing spaces (§8.5 "foobar  ")'],
  [` ${E}`, 'leading space'],
  [`${E}\n`, 'trailing newline'],
  [`${E}\u0000`, 'NUL'],
  [`${ACCOUNT}.d\u212Ar.ecr.us-east-1.amazonaws.com`, 'KELVIN SIGN folds to k only outside ASCII'],
  [`${ACCOUNT}.dkr.ecr.us-east-1.amazonaws.\u0441om`, 'Cyrillic es'],
  [`${ACCOUNT}%2Edkr.ecr.us-east-1.amazonaws.com`, 'percent-encoded dot'],
  [`[${E}]`, 'brackets'],
  ['public.ecr.aws.evil.example', 'public host as a subdomain'],
  ['evil.public.ecr.aws', 'public host with a prefix'],
  ['xpublic.ecr.aws', 'public host with a glued prefix'],
  ['public.ecr.aws.', 'public host with a trailing dot'],
  ['ecr-public.aws', 'ecr-public.aws'],
  ['public.ecr.aws.com', 'public.ecr.aws.com'],
  ['ecr.aws', 'ecr.aws'],
  ['api.ecr-public.us-east-1.amazonaws.com', 'the ECR Public API endpoint'],
  // §8.5 GetCredentials: non-ECR hosts get no ECR registry here (upstream mints a default-region token)
  ['registry.k8s.io', 'registry.k8s.io'],
  ['foobar', 'foobar'],
  ['docker.io', 'docker.io'],
  ['localhost:5000', 'localhost'],
  ['', 'empty'],
  [`${'1'.repeat(12)}.dkr.ecr.${'a'.repeat(300)}-b-1.amazonaws.com`, 'overlong'],
];

describe('parseEcrRegistryHost: private registries', () => {
  for (const [host, expected] of PRIVATE_HOSTS) {
    it(`parses ${host}`, () => {
      assert.deepEqual(parseEcrRegistryHost(host), expected);
      assert.equal(isEcrRegistryHost(host), true);
    });
  }
});

describe('parseEcrRegistryHost: ECR Public', () => {
  for (const [host, canonical] of PUBLIC_HOSTS) {
    it(`parses ${host}`, () => {
      assert.deepEqual(parseEcrRegistryHost(host), {
        kind: 'public',
        region: 'us-east-1',
        host: canonical,
      });
      assert.equal(isEcrRegistryHost(host), true);
    });
  }
});

describe('parseEcrRegistryHost: not ECR', () => {
  for (const [host, why] of NOT_ECR) {
    it(`rejects ${JSON.stringify(host)} (${why})`, () => {
      assert.equal(parseEcrRegistryHost(host), undefined);
      assert.equal(isEcrRegistryHost(host), false);
    });
  }
});

// registry host | API endpoint: the AWS SDK's resolution for the partition, FIPS and dual-stack settings.
const ENDPOINTS: [string, string][] = [
  [`${ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com`, 'https://api.ecr.us-east-1.amazonaws.com'],
  [
    `${ACCOUNT}.dkr.ecr-fips.us-east-1.amazonaws.com`,
    'https://api.ecr-fips.us-east-1.amazonaws.com',
  ],
  [`${ACCOUNT}.dkr-ecr.us-west-2.on.aws`, 'https://ecr.us-west-2.api.aws'],
  [`${ACCOUNT}.dkr-ecr-fips.us-west-2.on.aws`, 'https://ecr-fips.us-west-2.api.aws'],
  [`${ACCOUNT}.dkr.ecr.lala-land-1.amazonaws.com:443`, 'https://api.ecr.lala-land-1.amazonaws.com'],
  [`${ACCOUNT}.dkr.ecr.us-gov-west-1.amazonaws.com`, 'https://api.ecr.us-gov-west-1.amazonaws.com'],
  [
    `${ACCOUNT}.dkr.ecr-fips.us-gov-west-1.amazonaws.com`,
    'https://api.ecr-fips.us-gov-west-1.amazonaws.com',
  ],
  [`${ACCOUNT}.dkr-ecr.us-gov-east-1.on.aws`, 'https://ecr.us-gov-east-1.api.aws'],
  [`${ACCOUNT}.dkr-ecr-fips.us-gov-east-1.on.aws`, 'https://ecr-fips.us-gov-east-1.api.aws'],
  [`${ACCOUNT}.dkr.ecr.cn-north-1.amazonaws.com.cn`, 'https://api.ecr.cn-north-1.amazonaws.com.cn'],
  [
    `${ACCOUNT}.dkr-ecr.cn-northwest-1.on.amazonwebservices.com.cn`,
    'https://ecr.cn-northwest-1.api.amazonwebservices.com.cn',
  ],
  [`${ACCOUNT}.dkr.ecr.eusc-de-east-1.amazonaws.eu`, 'https://api.ecr.eusc-de-east-1.amazonaws.eu'],
  [
    `${ACCOUNT}.dkr.ecr-fips.eusc-de-east-1.amazonaws.eu`,
    'https://api.ecr-fips.eusc-de-east-1.amazonaws.eu',
  ],
  [`${ACCOUNT}.dkr.ecr.us-iso-east-1.c2s.ic.gov`, 'https://api.ecr.us-iso-east-1.c2s.ic.gov'],
  [
    `${ACCOUNT}.dkr.ecr.us-isob-east-1.sc2s.sgov.gov`,
    'https://api.ecr.us-isob-east-1.sc2s.sgov.gov',
  ],
  [
    `${ACCOUNT}.dkr.ecr.eu-isoe-west-1.cloud.adc-e.uk`,
    'https://api.ecr.eu-isoe-west-1.cloud.adc-e.uk',
  ],
  [
    `${ACCOUNT}.dkr.ecr.us-isof-south-1.csp.hci.ic.gov`,
    'https://api.ecr.us-isof-south-1.csp.hci.ic.gov',
  ],
  ['public.ecr.aws', 'https://api.ecr-public.us-east-1.amazonaws.com'],
  ['PUBLIC.ECR.AWS:443', 'https://api.ecr-public.us-east-1.amazonaws.com'],
  ['ecr-public.aws.com', 'https://ecr-public.us-east-1.api.aws'],
];

describe('ecrApiEndpoint', () => {
  for (const [host, endpoint] of ENDPOINTS) {
    it(`mints tokens for ${host} at ${endpoint}`, () => {
      const registry = parseEcrRegistryHost(host);
      assert.ok(registry);
      assert.equal(ecrApiEndpoint(registry), endpoint);
    });
  }
});

// CredentialProviderRequest.image | registry host, or undefined. §8.3 normalised names, §8.5 host parsing and
// GetCredentials images, and §8.6's anti-spoofing vectors (the Azure ones verbatim, then their ECR analogues).
const IMAGES: [string, string | undefined][] = [
  [`${ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/team/app`, E],
  [`${ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/team/app:v1`, E],
  [`${ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/team/app@sha256:${'a'.repeat(64)}`, E],
  [`${ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/team/app:v1@sha256:${'a'.repeat(64)}`, E],
  [
    '123456789123.dkr.ecr.us-west-2.amazonaws.com/foo/bar:1.0',
    '123456789123.dkr.ecr.us-west-2.amazonaws.com',
  ],
  [`${ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com:443/team/app`, E],
  [`${ACCOUNT}.DKR.ECR.US-EAST-1.AMAZONAWS.COM/team/app`, E],
  [`${ACCOUNT}.dkr-ecr.us-west-2.on.aws/app`, `${ACCOUNT}.dkr-ecr.us-west-2.on.aws`],
  [
    `${ACCOUNT}.dkr.ecr-fips.us-gov-west-1.amazonaws.com/app`,
    `${ACCOUNT}.dkr.ecr-fips.us-gov-west-1.amazonaws.com`,
  ],
  [
    `${ACCOUNT}.dkr.ecr.cn-north-1.amazonaws.com.cn/app`,
    `${ACCOUNT}.dkr.ecr.cn-north-1.amazonaws.com.cn`,
  ],
  // a private registry whose repository path mentions ECR Public is private (upstream commit b5857ae0)
  [`${ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/public.ecr.aws/foo:latest`, E],
  ['public.ecr.aws/nginx/nginx', 'public.ecr.aws'],
  ['public.ecr.aws/nginx/nginx:stable', 'public.ecr.aws'],
  ['public.ecr.aws/docker/library/nginx', 'public.ecr.aws'],
  ['ecr-public.aws.com/docker/library/nginx', 'ecr-public.aws.com'],
  ['ecr-public.aws.com/foo:latest', 'ecr-public.aws.com'],
  // §8.6 Azure vectors: none are ECR
  ['foo.azurecr.io/bar/image:version', undefined],
  ['foo.azurecr.us/foo.azurecr.io/bar/image:version', undefined],
  ['foo.azurecr.io.example/bar/image:version', undefined],
  ['docker/foo.azurecr.io/bar/image:version', undefined],
  ['foo.azurecr.io.azurecr.cn/bar/image:version', undefined],
  ['foo-azurecr-io.azurecr.cn/bar/image:version', undefined],
  ['docker.io/library/busybox:latest', undefined],
  ['invalidImage', undefined],
  ['mcr.microsoft.com/bar/image:version', undefined],
  // …and their ECR analogues: only the first path segment is the registry
  [
    `${ACCOUNT}.dkr.ecr.cn-north-1.amazonaws.com.cn/${E}/bar/image:version`,
    `${ACCOUNT}.dkr.ecr.cn-north-1.amazonaws.com.cn`,
  ],
  [`${E}.example/bar/image:version`, undefined],
  [`docker/${E}/bar/image:version`, undefined],
  [`evil.example/${E}/bar`, undefined],
  [`evil.example/${E}`, undefined],
  [`${E}.amazonaws.com.cn/bar/image:version`, undefined],
  [`${ACCOUNT}-dkr-ecr-us-east-1-amazonaws-com.dkr.ecr.us-east-1.amazonaws.com/bar`, undefined],
  [`${E}@evil.example/bar`, undefined],
  [`${E}/bar@evil.example`, undefined],
  [`evil@${E}/bar`, undefined],
  [`${E}:5000/bar`, undefined],
  [`${E}:443@evil.example/bar`, undefined],
  ['public.ecr.aws.evil.example/nginx', undefined],
  ['evil.example/public.ecr.aws/nginx', undefined],
  // §8.5 host parsing and GetCredentials
  [`https://${E}/team/app`, undefined],
  ['http://foobar', undefined],
  [`${E}/team/app  `, undefined],
  ['registry.k8s.io/foo:latest', undefined],
  ['localhost:5000/app', undefined],
  ['docker.io/library/nginx', undefined],
  ['', undefined],
  // the kubelet always sends host/path; a lone host reads as a Docker Hub repository
  [E, undefined],
  ['public.ecr.aws', undefined],
];

describe('ecrRegistryHostFromImage', () => {
  for (const [image, host] of IMAGES) {
    const outcome = host === undefined ? 'finds no ECR registry' : `finds ${host}`;
    it(`${outcome} in ${JSON.stringify(image)}`, () => {
      const registry = ecrRegistryHostFromImage(image);
      assert.equal(registry?.host, host);
      if (host !== undefined) assert.deepEqual(registry, parseEcrRegistryHost(host));
    });
  }
});

// Properties. Generators build hosts independently of the module: per partition, the suffixes it serves, the
// forms each suffix takes and how its regions look.
interface Shape {
  readonly partition: EcrPartition;
  readonly region: fc.Arbitrary<string>;
  readonly suffix: string;
  readonly dualStack: boolean;
  readonly fipsAllowed: boolean;
}

const word = fc.stringMatching(/^[a-z]{1,12}$/);
const regionNumber = fc.integer({ min: 0, max: 99 }).map(String);
const regionOf = (prefix: string) =>
  fc.tuple(word, regionNumber).map(([w, n]) => `${prefix}-${w}-${n}`);
const awsRegion = fc
  .tuple(fc.constantFrom('us', 'eu', 'ap', 'sa', 'ca', 'me', 'af', 'il', 'mx'), word, regionNumber)
  .map(([geo, w, n]) => `${geo}-${w}-${n}`);
const euscRegion = fc.tuple(word, word, regionNumber).map(([a, b, n]) => `eusc-${a}-${b}-${n}`);

const SHAPES: Shape[] = [
  {
    partition: 'aws',
    region: awsRegion,
    suffix: 'amazonaws.com',
    dualStack: false,
    fipsAllowed: true,
  },
  { partition: 'aws', region: awsRegion, suffix: 'on.aws', dualStack: true, fipsAllowed: true },
  {
    partition: 'aws-us-gov',
    region: regionOf('us-gov'),
    suffix: 'amazonaws.com',
    dualStack: false,
    fipsAllowed: true,
  },
  {
    partition: 'aws-us-gov',
    region: regionOf('us-gov'),
    suffix: 'on.aws',
    dualStack: true,
    fipsAllowed: true,
  },
  {
    partition: 'aws-cn',
    region: regionOf('cn'),
    suffix: 'amazonaws.com.cn',
    dualStack: false,
    fipsAllowed: false,
  },
  {
    partition: 'aws-cn',
    region: regionOf('cn'),
    suffix: 'on.amazonwebservices.com.cn',
    dualStack: true,
    fipsAllowed: false,
  },
  {
    partition: 'aws-eusc',
    region: euscRegion,
    suffix: 'amazonaws.eu',
    dualStack: false,
    fipsAllowed: true,
  },
  {
    partition: 'aws-iso',
    region: regionOf('us-iso'),
    suffix: 'c2s.ic.gov',
    dualStack: false,
    fipsAllowed: false,
  },
  {
    partition: 'aws-iso-b',
    region: regionOf('us-isob'),
    suffix: 'sc2s.sgov.gov',
    dualStack: false,
    fipsAllowed: false,
  },
  {
    partition: 'aws-iso-e',
    region: regionOf('eu-isoe'),
    suffix: 'cloud.adc-e.uk',
    dualStack: false,
    fipsAllowed: false,
  },
  {
    partition: 'aws-iso-f',
    region: regionOf('us-isof'),
    suffix: 'csp.hci.ic.gov',
    dualStack: false,
    fipsAllowed: false,
  },
];

const account = fc.stringMatching(/^[0-9]{12}$/);

/** A valid private host and the registry it names. */
const privateHost = fc
  .tuple(fc.constantFrom(...SHAPES), account, fc.boolean())
  .chain(([shape, id, wantFips]) =>
    shape.region.map((region): Private => {
      const fips = wantFips && shape.fipsAllowed;
      const form = `${shape.dualStack ? 'dkr-ecr' : 'dkr.ecr'}${fips ? '-fips' : ''}`;
      return {
        kind: 'private',
        account: id,
        region,
        partition: shape.partition,
        dnsSuffix: shape.suffix,
        fips,
        dualStack: shape.dualStack,
        host: `${id}.${form}.${region}.${shape.suffix}`,
      };
    }),
  );

const anyHost = fc.oneof(
  privateHost.map((registry) => registry.host),
  fc.constantFrom('public.ecr.aws', 'ecr-public.aws.com'),
);
const withOptionalPort = fc
  .tuple(anyHost, fc.boolean())
  .map(([host, port]) => (port ? `${host}:443` : host));
const label = fc.stringMatching(/^[a-zA-Z0-9]([a-zA-Z0-9-]{0,10}[a-zA-Z0-9])?$/);

function mixCase(text: string, flips: readonly boolean[]): string {
  return [...text].map((c, i) => (flips[i % flips.length] ? c.toUpperCase() : c)).join('');
}

const RUNS = { numRuns: 500 };

describe('parseEcrRegistryHost: properties', () => {
  it('a composed host parses back to the same fields, with or without :443', () => {
    fc.assert(
      fc.property(privateHost, fc.boolean(), (expected, port) => {
        assert.deepEqual(
          parseEcrRegistryHost(port ? `${expected.host}:443` : expected.host),
          expected,
        );
      }),
      RUNS,
    );
  });

  it('a region-shaped region with no known prefix takes the partition of its suffix', () => {
    const KNOWN_GEOS = ['us', 'eu', 'ap', 'sa', 'ca', 'me', 'af', 'il', 'mx', 'cn', 'eusc'];
    const geo = fc.stringMatching(/^[a-z]{2,4}$/).filter((g) => !KNOWN_GEOS.includes(g));
    fc.assert(
      fc.property(
        account,
        geo,
        word,
        regionNumber,
        fc.constantFrom(...SHAPES),
        (id, g, w, n, shape) => {
          const region = `${g}-${w}-${n}`;
          const form = shape.dualStack ? 'dkr-ecr' : 'dkr.ecr';
          const parsed = parseEcrRegistryHost(`${id}.${form}.${region}.${shape.suffix}`);
          assert.ok(parsed?.kind === 'private');
          assert.equal(parsed.region, region);
          // amazonaws.com and on.aws are shared by aws and aws-us-gov; aws takes unknown regions
          assert.equal(
            parsed.partition,
            shape.partition === 'aws-us-gov' ? 'aws' : shape.partition,
          );
        },
      ),
      RUNS,
    );
  });

  it('appending a label never parses', () => {
    fc.assert(
      fc.property(withOptionalPort, label, (host, extra) => {
        assert.equal(parseEcrRegistryHost(`${host}.${extra}`), undefined);
      }),
      RUNS,
    );
  });

  it('prefixing a label, or any text at all, never parses', () => {
    fc.assert(
      fc.property(withOptionalPort, label, fc.string({ minLength: 1 }), (host, extra, text) => {
        assert.equal(parseEcrRegistryHost(`${extra}.${host}`), undefined);
        assert.equal(parseEcrRegistryHost(`${text}${host}`), undefined);
      }),
      RUNS,
    );
  });

  it('appending any text other than :443 never parses', () => {
    fc.assert(
      fc.property(
        anyHost,
        fc.string({ minLength: 1 }).filter((s) => s !== ':443'),
        (host, text) => {
          // a trailing ".cn" could turn one valid host into another, which the region check prevents
          assert.equal(parseEcrRegistryHost(`${host}${text}`), undefined);
        },
      ),
      RUNS,
    );
  });

  it('any port but 443 is not ECR', () => {
    fc.assert(
      fc.property(
        anyHost,
        fc.integer({ min: 0, max: 65535 }).filter((p) => p !== 443),
        (host, port) => {
          assert.equal(parseEcrRegistryHost(`${host}:${port}`), undefined);
        },
      ),
      RUNS,
    );
  });

  it('an account of any other length is not ECR', () => {
    fc.assert(
      fc.property(
        privateHost,
        fc.stringMatching(/^[0-9]{0,20}$/).filter((s) => s.length !== 12),
        (registry, other) => {
          const host = `${other}${registry.host.slice(12)}`;
          assert.equal(parseEcrRegistryHost(host), undefined);
        },
      ),
      RUNS,
    );
  });

  it('case does not matter (DNS): upper case and mixed case parse like lower case', () => {
    fc.assert(
      fc.property(withOptionalPort, fc.array(fc.boolean(), { minLength: 1 }), (host, flips) => {
        const expected = parseEcrRegistryHost(host);
        assert.ok(expected);
        assert.deepEqual(parseEcrRegistryHost(host.toUpperCase()), expected);
        assert.deepEqual(parseEcrRegistryHost(mixCase(host, flips)), expected);
      }),
      RUNS,
    );
  });

  it('any text parses to nothing, or to a host that is the text in lower case minus :443', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.string({ unit: 'binary', maxLength: 80 }), withOptionalPort),
        (text) => {
          const parsed = parseEcrRegistryHost(text);
          if (parsed === undefined) return;
          const lower = text.replace(/[A-Z]/g, (c) => c.toLowerCase());
          assert.ok(lower === parsed.host || lower === `${parsed.host}:443`);
          assert.deepEqual(parseEcrRegistryHost(parsed.host), parsed);
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('an image on a registry yields that registry, whatever the path, tag or digest', () => {
    const pathComponent = fc.stringMatching(/^[a-z0-9]+(?:[._-][a-z0-9]+)*$/);
    // the reference grammar caps registry/path at 255 characters
    const path = fc
      .array(pathComponent, { minLength: 1, maxLength: 4 })
      .map((p) => p.join('/'))
      .filter((p) => p.length <= 150);
    const tag = fc.option(fc.stringMatching(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}$/), {
      nil: undefined,
    });
    const digest = fc.option(fc.stringMatching(/^[0-9a-f]{64}$/), { nil: undefined });
    fc.assert(
      fc.property(withOptionalPort, path, tag, digest, (host, p, t, d) => {
        const suffix = `${t === undefined ? '' : `:${t}`}${d === undefined ? '' : `@sha256:${d}`}`;
        const image = `${host}/${p}${suffix}`;
        assert.deepEqual(ecrRegistryHostFromImage(image), parseEcrRegistryHost(host));
      }),
      RUNS,
    );
  });

  it('an ECR host after the first path segment never counts', () => {
    fc.assert(
      fc.property(label, anyHost, (first, host) => {
        const image = `${first.toLowerCase()}.example/${host}/app`;
        assert.equal(ecrRegistryHostFromImage(image), undefined);
      }),
      RUNS,
    );
  });
});

describe('privateEcrRegistryHost', () => {
  const cases: [string, string, string | undefined][] = [
    ['123456789012', 'us-east-1', '123456789012.dkr.ecr.us-east-1.amazonaws.com'],
    ['123456789012', 'us-gov-west-1', '123456789012.dkr.ecr.us-gov-west-1.amazonaws.com'],
    ['123456789012', 'cn-north-1', '123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn'],
    ['123456789012', 'eusc-de-east-1', '123456789012.dkr.ecr.eusc-de-east-1.amazonaws.eu'],
    ['123456789012', 'us-iso-east-1', '123456789012.dkr.ecr.us-iso-east-1.c2s.ic.gov'],
    ['123456789012', 'us-isob-east-1', '123456789012.dkr.ecr.us-isob-east-1.sc2s.sgov.gov'],
    ['123456789012', 'eu-isoe-west-1', '123456789012.dkr.ecr.eu-isoe-west-1.cloud.adc-e.uk'],
    ['123456789012', 'us-isof-south-1', '123456789012.dkr.ecr.us-isof-south-1.csp.hci.ic.gov'],
    ['12345678901', 'us-east-1', undefined],
    ['123456789012', 'Us-East-1!', undefined],
    ['123456789012', '', undefined],
  ];
  for (const [account, region, expected] of cases) {
    it(`${account} in ${region || '(empty)'} → ${expected ?? 'none'}`, () => {
      const host = privateEcrRegistryHost(account, region);
      assert.equal(host, expected);
      if (host !== undefined) assert.equal(parseEcrRegistryHost(host)?.kind, 'private');
    });
  }
});
