import { z } from 'zod';
import { errorReason, fetchFailure } from '#shared/http/answer-text.ts';
import type { NodeReport } from '#shared/prepull/node-report.ts';
import { WARM_SET_SCHEMA } from '#shared/prepull/warm-set-http.ts';

// The agent's side of the node-group API: the warm set (conditional GET with the last ETag, so an
// unchanged set costs a 304) and the per-node report. How requests are authorised — the node group's
// bearer token or SigV4 with the node's role — is passed in.

export interface ApiRequest {
  method: 'GET' | 'POST';
  url: URL;
  headers: Record<string, string>;
  body?: string;
}

/** Headers that authorise `request` (Authorization, and X-Amz-* for SigV4). */
export type Authorize = (request: ApiRequest) => Promise<Record<string, string>>;

const warmSetImage = z.object({
  image: z.string().min(1),
  registry: z.string().min(1),
  repository: z.string().min(1),
  tag: z.string().min(1).optional(),
  digest: z.string().min(1),
});

export const warmSetDocumentSchema = z.object({
  schema: z.literal(WARM_SET_SCHEMA),
  nodeGroup: z.string().min(1),
  images: z.array(warmSetImage),
});
export type WarmSetDocument = z.infer<typeof warmSetDocumentSchema>;

export type WarmSetAnswer =
  | { changed: false }
  | { changed: true; etag: string | undefined; document: WarmSetDocument };

export class NodeApiError extends Error {
  override readonly name = 'NodeApiError';
  readonly status: number | undefined;

  constructor(message: string, status?: number) {
    super(message);
    this.status = status;
  }
}

export interface NodeApi {
  warmSet(etag: string | undefined): Promise<WarmSetAnswer>;
  /** False when the server kept a newer report of this node instead. */
  report(report: NodeReport): Promise<boolean>;
}

export class HttpNodeApi implements NodeApi {
  readonly #server: URL;
  readonly #nodeGroup: string;
  readonly #authorize: Authorize;
  readonly #timeoutMs: number;

  constructor(server: string, nodeGroup: string, authorize: Authorize, timeoutMs = 30_000) {
    this.#server = new URL(server.endsWith('/') ? server : `${server}/`);
    this.#nodeGroup = nodeGroup;
    this.#authorize = authorize;
    this.#timeoutMs = timeoutMs;
  }

  async #send(request: ApiRequest): Promise<Response> {
    let authorization: Record<string, string>;
    try {
      authorization = await this.#authorize(request);
    } catch (error) {
      throw new NodeApiError(`cannot authorise the request: ${(error as Error).message}`);
    }
    const headers = { ...request.headers, ...authorization };
    try {
      return await fetch(request.url, {
        method: request.method,
        headers,
        ...(request.body === undefined ? {} : { body: request.body }),
        signal: AbortSignal.timeout(this.#timeoutMs),
      });
    } catch (error) {
      throw new NodeApiError(
        `${request.method} ${request.url.href} ${fetchFailure(error, this.#timeoutMs / 1000)}`,
      );
    }
  }

  async #refused(response: Response, what: string): Promise<NodeApiError> {
    const reason = errorReason(await response.text().catch(() => ''));
    const hint =
      response.status === 401 || response.status === 403
        ? ' (check the agent token or the node role)'
        : '';
    return new NodeApiError(
      `${what} answered ${response.status}${reason === '' ? '' : `: ${reason}`}${hint}`,
      response.status,
    );
  }

  #url(path: string): URL {
    return new URL(`v1/nodegroups/${encodeURIComponent(this.#nodeGroup)}/${path}`, this.#server);
  }

  async warmSet(etag: string | undefined): Promise<WarmSetAnswer> {
    const response = await this.#send({
      method: 'GET',
      url: this.#url('warmset'),
      headers: {
        accept: 'application/json',
        ...(etag === undefined ? {} : { 'if-none-match': etag }),
      },
    });
    if (response.status === 304) {
      await response.body?.cancel();
      return { changed: false };
    }
    if (!response.ok) throw await this.#refused(response, 'the warm set');
    const parsed = warmSetDocumentSchema.safeParse(await response.json().catch(() => undefined));
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new NodeApiError(
        `the warm set is not a ${WARM_SET_SCHEMA} document (${issue?.path.join('.') ?? ''}: ${issue?.message ?? 'invalid'})`,
      );
    }
    return {
      changed: true,
      etag: response.headers.get('etag') ?? undefined,
      document: parsed.data,
    };
  }

  /** False when the server kept a newer report of this node instead (its answer's `accepted`). */
  async report(report: NodeReport): Promise<boolean> {
    const response = await this.#send({
      method: 'POST',
      url: this.#url(`nodes/${encodeURIComponent(report.node)}/report`),
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(report),
    });
    if (!response.ok) throw await this.#refused(response, 'the node report');
    const answer = (await response.json().catch(() => ({}))) as { accepted?: unknown };
    return answer.accepted !== false;
  }
}
