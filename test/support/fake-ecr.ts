import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

// A loopback stand-in for the ECR and ECR Public GetAuthorizationToken APIs (AWS JSON 1.1), the one
// remote call the credential provider makes. It counts calls and can answer with throttling or server
// errors, so tests can show what the node does when ECR misbehaves.

export type FakeEcrMode = 'ok' | 'throttle' | 'error' | 'deny';

export interface StsCall {
  action: string;
  roleArn: string;
  roleSessionName: string;
  webIdentityToken: string;
  externalId: string;
}

export interface FakeEcr {
  endpoint: string;
  calls: { target: string; authorization: string; at: number }[];
  /** AssumeRoleWithWebIdentity and AssumeRole requests (STS query protocol) on the same endpoint. */
  stsCalls: StsCall[];
  stsMode: 'ok' | 'deny';
  mode: FakeEcrMode;
  /** Token lifetime the next answers carry. */
  lifetimeSeconds: number;
  /** Answers are delayed this long, to make concurrent execs overlap. */
  delayMs: number;
  password(n: number): string;
  stop(): Promise<void>;
}

const PRIVATE = 'AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken';
const PUBLIC = 'SpencerFrontendService.GetAuthorizationToken';

/** What each failing mode answers: HTTP status, AWS error type, message. */
const FAILURES: Record<FakeEcrMode, readonly [number, string, string] | undefined> = {
  ok: undefined,
  throttle: [400, 'ThrottlingException', 'Rate exceeded'],
  error: [500, 'ServerException', 'internal error'],
  deny: [400, 'AccessDeniedException', 'not authorized to perform ecr:GetAuthorizationToken'],
};

export async function startFakeEcr(): Promise<FakeEcr> {
  const fake: FakeEcr = {
    endpoint: '',
    calls: [],
    stsCalls: [],
    stsMode: 'ok',
    mode: 'ok',
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
        target !== PRIVATE && target !== PUBLIC
          ? ([400, 'UnknownOperationException', target] as const)
          : FAILURES[fake.mode];
      if (failure !== undefined) {
        const [status, type, message] = failure;
        reply(response, status, { __type: type, message }, type);
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
