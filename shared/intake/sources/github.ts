import { z } from 'zod';
import { BadRequestError } from '#shared/http/errors.ts';
import { ignored, imageChange } from '../model.ts';
import { verifyGitHubSignature } from '../verify.ts';
import { bodyDeliveryId, hostOf, parseJsonBody, payloadOf, type SourceAdapter } from './source.ts';

// GitHub `package` and `registry_package` webhooks for GHCR, signed with X-Hub-Signature-256 over the
// raw body. The tag may be empty (a digest-only push); owner casing may differ from the OCI name.

const packageVersion = z.looseObject({
  name: z.string().optional(),
  version: z.string().optional(),
  package_url: z.string().optional(),
  created_at: z.string().optional(),
  updated_at: z.string().optional(),
  container_metadata: z
    .looseObject({
      tag: z.looseObject({ name: z.string().optional(), digest: z.string().optional() }).optional(),
      manifest: z
        .looseObject({ digest: z.string().optional(), media_type: z.string().optional() })
        .optional(),
    })
    .nullish(),
});

const githubPackage = z.looseObject({
  name: z.string(),
  package_type: z.string().optional(),
  ecosystem: z.string().optional(),
  owner: z.looseObject({ login: z.string() }),
  package_version: packageVersion,
  registry: z.looseObject({ url: z.string().optional() }).nullish(),
});

const payload = z.looseObject({
  action: z.string(),
  package: githubPackage.optional(),
  registry_package: githubPackage.optional(),
});

const EVENTS = new Set(['package', 'registry_package']);

/** `ghcr.io/Acme/API:1.2` → `ghcr.io/acme/api` */
function nameOf(packageUrl: string): string | undefined {
  const withoutDigest = packageUrl.split('@')[0] ?? '';
  const lastSlash = withoutDigest.lastIndexOf('/');
  if (lastSlash < 0) return undefined;
  const colon = withoutDigest.indexOf(':', lastSlash);
  return (colon < 0 ? withoutDigest : withoutDigest.slice(0, colon)).toLowerCase();
}

function decode(request: Parameters<SourceAdapter['normalize']>[0]): unknown {
  if (request.contentType !== 'application/x-www-form-urlencoded') {
    return parseJsonBody(request.body);
  }
  const form = new URLSearchParams(request.body.toString('utf8'));
  const text = form.get('payload');
  if (text === null) throw new BadRequestError('the form body has no payload field');
  return parseJsonBody(Buffer.from(text, 'utf8'));
}

export const github: SourceAdapter = {
  contentTypes: ['application/json', 'application/x-www-form-urlencoded'],
  async verify(request, settings, secrets) {
    if (settings.secret === undefined) return;
    verifyGitHubSignature(request.headers, request.body, await secrets.resolve(settings.secret));
  },
  normalize(request, settings) {
    const event = request.headers['x-github-event'];
    if (event === 'ping') return [ignored('ping: the webhook is set up')];
    if (event === undefined || !EVENTS.has(event)) {
      return [ignored(`${event ?? 'unnamed'} events do not change images`)];
    }
    const body = payloadOf(payload, decode(request), `GitHub ${event} event`);
    const pkg = body.package ?? body.registry_package;
    if (pkg === undefined) return [ignored('the event carries no package')];
    const type = (pkg.package_type ?? pkg.ecosystem ?? '').toLowerCase();
    if (type !== 'container' && type !== 'docker')
      return [ignored(`${type} packages are not images`)];
    if (body.action !== 'published' && body.action !== 'updated') {
      return [ignored(`package ${body.action} does not push an image`)];
    }
    const version = pkg.package_version;
    const metadata = version.container_metadata ?? {};
    const registryHost =
      settings.registryHost ??
      (pkg.registry?.url === undefined ? undefined : hostOf(pkg.registry.url)) ??
      'ghcr.io';
    const name =
      (version.package_url === undefined ? undefined : nameOf(version.package_url)) ??
      `${registryHost}/${pkg.owner.login}/${pkg.name}`.toLowerCase();
    const versionDigest = [version.version, version.name].find((value) =>
      value?.startsWith('sha256:'),
    );
    return [
      imageChange({
        kind: 'pushed',
        reference: name,
        tag: metadata.tag?.name,
        digest: metadata.tag?.digest || metadata.manifest?.digest || versionDigest,
        mediaType: metadata.manifest?.media_type,
        at: version.updated_at ?? version.created_at ?? request.receivedAt.toISOString(),
        source: 'github',
        deliveryId: request.headers['x-github-delivery'] ?? bodyDeliveryId('github', request.body),
      }),
    ];
  },
};
