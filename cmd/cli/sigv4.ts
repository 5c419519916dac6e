import { createHash, createHmac, type Hash, type Hmac } from 'node:crypto';

// AWS Signature Version 4 for requests to IAM-authorised API Gateway routes (service execute-api).
// The signer and the credential chain are loaded when a request is signed, not when a command starts.

export interface AwsCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

type Environment = Readonly<Record<string, string | undefined>>;

/** The request as it goes on the wire; `url` carries the exact query string that is sent. */
export interface RequestToSign {
  method: string;
  url: URL;
  headers: Record<string, string>;
  /** Signed as the payload hash; absent means an empty body. */
  body?: string;
}

/** The signer's hash: SHA-256, or HMAC-SHA256 when given a key, from node:crypto. */
class Sha256 {
  readonly #secret: Buffer | undefined;
  #hash: Hash | Hmac;

  constructor(secret?: string | ArrayBuffer | ArrayBufferView) {
    this.#secret = secret === undefined ? undefined : bytes(secret);
    this.#hash = this.#fresh();
  }

  #fresh(): Hash | Hmac {
    return this.#secret === undefined ? createHash('sha256') : createHmac('sha256', this.#secret);
  }

  update(data: string | ArrayBuffer | ArrayBufferView): void {
    this.#hash.update(bytes(data));
  }

  async digest(): Promise<Uint8Array> {
    return new Uint8Array(this.#hash.digest());
  }

  reset(): void {
    this.#hash = this.#fresh();
  }
}

function bytes(data: string | ArrayBuffer | ArrayBufferView): Buffer {
  if (typeof data === 'string') return Buffer.from(data, 'utf8');
  if (ArrayBuffer.isView(data)) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return Buffer.from(data);
}

const EXECUTE_API_HOST = /\.execute-api\.([a-z0-9-]+)\.amazonaws\.com$/;

/** Hosts that are AWS endpoints: requests to them are signed unless the user says otherwise. */
export function isAwsHost(url: URL): boolean {
  return url.hostname.endsWith('.amazonaws.com');
}

/**
 * The region to sign for: an execute-api host names its own (signing for another would fail), any
 * other host (a custom domain, a local stack) takes AWS_REGION or AWS_DEFAULT_REGION.
 */
export function signingRegion(url: URL, env: Environment): string | undefined {
  return (
    EXECUTE_API_HOST.exec(url.hostname)?.[1] ??
    (env.AWS_REGION?.trim() || undefined) ??
    (env.AWS_DEFAULT_REGION?.trim() || undefined)
  );
}

/**
 * The default credential chain. Keys in the command's environment come first, as they do in the
 * chain itself; the rest of the chain (profiles, SSO, web identity, container and instance roles)
 * is loaded only when they are absent.
 */
export async function defaultCredentials(env: Environment): Promise<AwsCredentials> {
  return reusableCredentials(env)();
}

/**
 * The default chain built once and asked again on every call: it caches what it got and refreshes it
 * before it expires, so a long-running process does not call the instance metadata service or STS for
 * every request.
 */
export function reusableCredentials(env: Environment): () => Promise<AwsCredentials> {
  let chain:
    | Promise<() => Promise<AwsCredentials & { sessionToken?: string | undefined }>>
    | undefined;
  return async () => {
    const accessKeyId = env.AWS_ACCESS_KEY_ID?.trim();
    const secretAccessKey = env.AWS_SECRET_ACCESS_KEY?.trim();
    if (accessKeyId && secretAccessKey) {
      const sessionToken = env.AWS_SESSION_TOKEN?.trim();
      return { accessKeyId, secretAccessKey, ...(sessionToken ? { sessionToken } : {}) };
    }
    chain ??= import('@aws-sdk/credential-provider-node').then(({ defaultProvider }) =>
      defaultProvider(),
    );
    const { sessionToken, ...keys } = await (await chain)();
    return {
      accessKeyId: keys.accessKeyId,
      secretAccessKey: keys.secretAccessKey,
      ...(sessionToken ? { sessionToken } : {}),
    };
  };
}

/**
 * The headers to send with the request: its own plus `authorization`, `x-amz-date` and, for
 * temporary credentials, `x-amz-security-token`.
 */
export async function signRequest(
  request: RequestToSign,
  options: { credentials: AwsCredentials; region: string; service: string; signingDate?: Date },
): Promise<Record<string, string>> {
  const { SignatureV4 } = await import('@smithy/signature-v4');
  const signer = new SignatureV4({
    credentials: options.credentials,
    region: options.region,
    service: options.service,
    sha256: Sha256,
    // execute-api does not ask for x-amz-content-sha256; the payload hash is signed either way.
    applyChecksum: false,
  });
  const { url } = request;
  const query: Record<string, string[]> = {};
  for (const [name, value] of url.searchParams) {
    const values = query[name] ?? [];
    values.push(value);
    query[name] = values;
  }
  const signed = await signer.sign(
    {
      method: request.method,
      protocol: url.protocol,
      hostname: url.hostname,
      ...(url.port === '' ? {} : { port: Number(url.port) }),
      path: url.pathname,
      query,
      // `host` is what fetch sends for the URL: the hostname, and the port unless it is the default.
      headers: { ...request.headers, host: url.host },
      ...(request.body === undefined ? {} : { body: request.body }),
    },
    options.signingDate === undefined ? {} : { signingDate: options.signingDate },
  );
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(signed.headers)) {
    // fetch sets Host itself from the URL, to the same value.
    if (name.toLowerCase() !== 'host') headers[name] = value;
  }
  return headers;
}
