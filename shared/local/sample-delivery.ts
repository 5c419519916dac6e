import { createHash } from 'node:crypto';
import semver from 'semver';
import type { Config } from '#shared/config/schema.ts';
import { repositoryPatternMatches } from '#shared/prepull/plan.ts';
import { tagFilterMatches } from '#shared/prepull/tag-filter.ts';

// A registry push notification the start-up banner offers as a ready-to-send example: a CNCF
// Distribution event for an image that the first satisfiable pre-pull rule selects, so sending it
// shows the whole path (webhook → queue → dispatch → warm set).

export interface SampleDelivery {
  image: string;
  rule?: string;
  nodeGroups: string[];
  body: unknown;
}

function concreteTag(filter: Config['prePull']['rules'][number]['tags']): string | undefined {
  const candidates =
    filter === 'any'
      ? ['1.0.0']
      : 'semver' in filter
        ? [semver.minVersion(filter.semver)?.version ?? '1.0.0']
        : 'glob' in filter
          ? [filter.glob.replaceAll('*', '1').replaceAll('?', '1')]
          : ['1.0.0', 'v1.0.0', 'latest', 'main', 'stable'];
  return candidates.find((tag) => tagFilterMatches(filter, tag));
}

function concreteName(pattern: string): { registry: string; repository: string } | undefined {
  const slash = pattern.indexOf('/');
  if (slash < 0) return undefined;
  const host = pattern.slice(0, slash);
  const registry = /[*?]/.test(host) ? 'registry.example.com' : host;
  const repository = pattern
    .slice(slash + 1)
    .replaceAll('**', 'demo')
    .replaceAll('*', 'demo')
    .replaceAll('?', 'x');
  return repositoryPatternMatches(pattern, `${registry}/${repository}`)
    ? { registry, repository }
    : undefined;
}

export function sampleDistributionDelivery(config: Config, now = new Date()): SampleDelivery {
  let chosen = { registry: 'registry.example.com', repository: 'demo/app', tag: '1.0.0' };
  let rule: Config['prePull']['rules'][number] | undefined;
  for (const candidate of config.prePull.rules) {
    const tag = concreteTag(candidate.tags);
    const name = candidate.images.map(concreteName).find((found) => found !== undefined);
    if (tag !== undefined && name !== undefined) {
      chosen = { ...name, tag };
      rule = candidate;
      break;
    }
  }
  const { registry, repository, tag } = chosen;
  const digest = `sha256:${createHash('sha256').update(`${registry}/${repository}:${tag}`).digest('hex')}`;
  return {
    image: `${registry}/${repository}:${tag}@${digest}`,
    ...(rule === undefined ? {} : { rule: rule.name }),
    nodeGroups: rule?.nodeGroups ?? [],
    body: {
      events: [
        {
          id: `sample-${now.getTime()}`,
          timestamp: now.toISOString(),
          action: 'push',
          target: {
            mediaType: 'application/vnd.oci.image.manifest.v1+json',
            digest,
            size: 1024,
            length: 1024,
            repository,
            url: `https://${registry}/v2/${repository}/manifests/${digest}`,
            tag,
          },
          request: {
            id: 'sample',
            addr: '127.0.0.1',
            host: registry,
            method: 'PUT',
            useragent: 'curl',
          },
          actor: { name: 'sample' },
          source: { addr: 'localhost', instanceID: 'pullwarden-sample' },
        },
      ],
    },
  };
}
