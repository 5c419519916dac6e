import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

// A loopback stand-in for the ECR and ECR Public GetAuthorizationToken APIs (AWS JSON 1.1), the one
// remote call the credential provider makes. It counts calls and can answer with throttling or server
// errors, so tests can show what the node does when ECR misbehaves. It also answers ECR's BatchGetImage
// from `images`, the call registry resolution makes, with ECR's per-image failures for unknown tags.

export type FakeEcrMode = 'ok' | 'throttle' | 'error' | 'deny';

export interface StsCall {
  action: string;
  roleArn: string;
  roleSessionName: string;
  webIdentityToken: string;
  externalId: string;
}

/** A stored image as BatchGetImage returns it. */
export interface FakeEcrImage {
  digest: string;
  mediaType: string;
  /** The manifest text, byte for byte. */
  manifest: string;
}

export interface BatchGetImageCall {
  registryId: string | undefined;
  repositoryName: string;
  imageIds: { imageTag?: string; imageDigest?: string }[];
  acceptedMediaTypes: string[] | undefined;
}

export interface FakeEcr {
  endpoint: string;
  calls: { target: string; authorization: string; at: number }[];
  /** AssumeRoleWithWebIdentity and AssumeRole requests (STS query protocol) on the same endpoint. */
  stsCalls: StsCall[];
  stsMode: 'ok' | 'deny';
  mode: FakeEcrMode;
  /** BatchGetImage answers, keyed `registryId/repository:tag`. */
  images: Map<string, FakeEcrImage>;
  /** The BatchGetImage requests `mode` let through, in order (`calls` has every request). */
  batchGetImageCalls: BatchGetImageCall[];
  /** Token lifetime the next answers carry. */
  lifetimeSeconds: number;
  /** Answers are delayed this long, to make concurrent execs overlap. */
  delayMs: number;
  password(n: number): string;
  stop(): Promise<void>;
}

const PRIVATE = 'AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken';
const PUBLIC = 'SpencerFrontendService.GetAuthorizationToken';
const BATCH_GET_IMAGE = 'AmazonEC2ContainerRegistry_V20150921.BatchGetImage';
/** The account BatchGetImage assumes when a request names no registryId. */
const DEFAULT_REGISTRY_ID = '123456789012';

/** What each failing mode answers for an action: HTTP status, AWS error type, message. */
const FAILURES: Record<
  FakeEcrMode,
  readonly [number, string, (action: string) => string] | undefined
> = {
  ok: undefined,
  throttle: [400, 'ThrottlingException', () => 'Rate exceeded'],
  error: [500, 'ServerException', () => 'internal error'],
  deny: [400, 'AccessDeniedException', (action) => `not authorized to perform ecr:${action}`],
};

export async function startFakeEcr(): Promise<FakeEcr> {
  const fake: FakeEcr = {
    endpoint: '',
    calls: [],
    stsCalls: [],
    stsMode: 'ok',
    mode: 'ok',
    images: new Map(),
    batchGetImageCalls: [],
    lifetimeSeconds: 12 * 3600,
    delayMs: 0,
    password: (n) => `ecr-password-${n}`,
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  const reply = (response: ServerResponse, status: number, body: unknown, type?: string) => {
    response.writeHead(status, {
      'content-type': 'application/x-amz-json-1.1',
      'x-amzn-requestid': `req-${fake.calls.length}`,
      ...(type === undefined ? {} : { 'x-amzn-errortype': type }),
    });
    response.end(JSON.stringify(body));
  };
  // STS speaks the query protocol: a form body in, XML out.
  const answerSts = (form: URLSearchParams, response: ServerResponse) => {
    const action = form.get('Action') ?? '';
    const call = {
      action,
      roleArn: form.get('RoleArn') ?? '',
      roleSessionName: form.get('RoleSessionName') ?? '',
      webIdentityToken: form.get('WebIdentityToken') ?? '',
      externalId: form.get('ExternalId') ?? '',
    };
    fake.stsCalls.push(call);
    const known = action === 'AssumeRoleWithWebIdentity' || action === 'AssumeRole';
    response.writeHead(known && fake.stsMode === 'ok' ? 200 : 403, { 'content-type': 'text/xml' });
    if (!known || fake.stsMode !== 'ok') {
      response.end(
        `<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>Not authorized to perform sts:${action}</Message></Error><RequestId>r</RequestId></ErrorResponse>`,
      );
      return;
    }
    const expiration = new Date(Date.now() + 3600_000).toISOString();
    response.end(
      `<${action}Response xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><${action}Result><Credentials><AccessKeyId>ASIA${fake.stsCalls.length}ROLE</AccessKeyId><SecretAccessKey>role-secret</SecretAccessKey><SessionToken>role-session</SessionToken><Expiration>${expiration}</Expiration></Credentials><AssumedRoleUser><Arn>${call.roleArn}/${call.roleSessionName}</Arn><AssumedRoleId>AROA:${call.roleSessionName}</AssumedRoleId></AssumedRoleUser></${action}Result><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></${action}Response>`,
    );
  };
  // ECR answers 200 with `failures` for images it cannot find, and an error only for a missing repository.
  const answerBatchGetImage = (body: string, response: ServerResponse) => {
    const request = JSON.parse(body) as Partial<BatchGetImageCall>;
    const call: BatchGetImageCall = {
      registryId: request.registryId,
      repositoryName: request.repositoryName ?? '',
      imageIds: request.imageIds ?? [],
      acceptedMediaTypes: request.acceptedMediaTypes,
    };
    fake.batchGetImageCalls.push(call);
    const registryId = call.registryId ?? DEFAULT_REGISTRY_ID;
    const prefix = `${registryId}/${call.repositoryName}:`;
    const stored = [...fake.images].filter(([key]) => key.startsWith(prefix));
    if (stored.length === 0) {
      const type = 'RepositoryNotFoundException';
      const message = `The repository with name '${call.repositoryName}' does not exist in the registry with id '${registryId}'`;
      reply(response, 400, { __type: type, message }, type);
      return;
    }
    const images: unknown[] = [];
    const failures: unknown[] = [];
    for (const imageId of call.imageIds) {
      const found = stored.find(([key, image]) =>
        imageId.imageTag === undefined
          ? image.digest === imageId.imageDigest
          : key === `${prefix}${imageId.imageTag}`,
      );
      if (found === undefined) {
        failures.push({
          imageId,
          failureCode: 'ImageNotFound',
          failureReason: 'Requested image not found',
        });
        continue;
      }
      const [key, image] = found;
      images.push({
        registryId,
        repositoryName: call.repositoryName,
        imageId: { imageDigest: image.digest, imageTag: key.slice(prefix.length) },
        imageManifest: image.manifest,
        imageManifestMediaType: image.mediaType,
      });
    }
    reply(response, 200, { images, failures });
  };
  const server: Server = createServer(
    async (request: IncomingMessage, response: ServerResponse) => {
      const chunks: Buffer[] = [];
      for await (const chunk of request as AsyncIterable<Buffer>) chunks.push(chunk);
      const target = String(request.headers['x-amz-target'] ?? '');
      if (target === '') {
        answerSts(new URLSearchParams(Buffer.concat(chunks).toString('utf8')), response);
        return;
      }
      fake.calls.push({
        target,
        authorization: String(request.headers.authorization ?? ''),
        at: Date.now(),
      });
      if (fake.delayMs > 0) await new Promise((resolve) => setTimeout(resolve, fake.delayMs));
      const failure =
        target !== PRIVATE && target !== PUBLIC && target !== BATCH_GET_IMAGE
          ? ([400, 'UnknownOperationException', () => target] as const)
          : FAILURES[fake.mode];
      if (failure !== undefined) {
        const [status, type, message] = failure;
        const action = target.slice(target.indexOf('.') + 1);
        reply(response, status, { __type: type, message: message(action) }, type);
        return;
      }
      if (target === BATCH_GET_IMAGE) {
        answerBatchGetImage(Buffer.concat(chunks).toString('utf8'), response);
        return;
      }
      const token = Buffer.from(`AWS:${fake.password(fake.calls.length)}`).toString('base64');
      const expiresAt = Date.now() / 1000 + fake.lifetimeSeconds;
      reply(
        response,
        200,
        target === PUBLIC
          ? { authorizationData: { authorizationToken: token, expiresAt } }
          : {
              authorizationData: [
                {
                  authorizationToken: token,
                  expiresAt,
                  proxyEndpoint: 'https://123456789012.dkr.ecr.eu-west-1.amazonaws.com',
                },
              ],
            },
      );
    },
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  fake.endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return fake;
}
