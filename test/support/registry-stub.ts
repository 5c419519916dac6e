import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

// A loopback server that plays a registry for the resolver and footprint tests: it serves manifests
// put into it by digest, records every request, and lets a test swap the handler to play other parts
// (token services, challenges, refusals).

export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
export const DOCKER_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';
export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';

export function digestOf(text: string): string {
  return `sha256:${createHash('sha256').update(text).digest('hex')}`;
}

/** A request as the stub saw it; `authorization` is `-` when there was none. */
export interface SeenRequest {
  method: string;
  path: string;
  authorization: string;
  accept: string;
  body: string;
}

export type StubHandler = (
  request: IncomingMessage,
  response: ServerResponse,
  seen: SeenRequest,
) => void;

export function stubRegistry() {
  const manifests = new Map<string, { body: string; contentType: string }>();
  /** Serves what was put at the digest in the path, or the registry's MANIFEST_UNKNOWN. */
  const serveByDigest: StubHandler = (_request, response, seen) => {
    const reference = seen.path.split('/manifests/')[1] ?? '';
    const served = manifests.get(decodeURIComponent(reference));
    if (served === undefined) {
      response
        .writeHead(404, { 'content-type': 'application/json' })
        .end(JSON.stringify({ errors: [{ code: 'MANIFEST_UNKNOWN', message: 'unknown' }] }));
      return;
    }
    response.writeHead(200, { 'content-type': served.contentType }).end(served.body);
  };
  const stub = {
    url: '',
    host: '',
    seen: [] as SeenRequest[],
    manifests,
    serveByDigest,
    handle: serveByDigest,
    /** Serves `body` at the digest of `servedAs`, its own by default; returns that digest. */
    put(body: string, contentType: string, servedAs = body): string {
      manifests.set(digestOf(servedAs), { body, contentType });
      return digestOf(servedAs);
    },
  };
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const seen = {
        method: request.method ?? '',
        path: request.url ?? '',
        authorization: request.headers.authorization ?? '-',
        accept: request.headers.accept ?? '',
        body: Buffer.concat(chunks).toString('utf8'),
      };
      stub.seen.push(seen);
      stub.handle(request, response, seen);
    });
  });
  return {
    stub,
    async start() {
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      stub.host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
      stub.url = `http://${stub.host}`;
    },
    async stop() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
