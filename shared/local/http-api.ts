import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { LOCAL_ACCOUNT_ID } from './emulators.ts';

// API Gateway HTTP API (payload format 2.0) in front of in-process handlers: route selection by the
// most specific template, the event a function receives, and the response mapping, so a handler
// behaves locally as it does behind the deployed API.

/** API Gateway's own limit on an HTTP API request. */
export const MAX_REQUEST_BYTES = 10 * 1024 * 1024;

export type HttpApiHandler = (
  event: APIGatewayProxyEventV2,
) => Promise<APIGatewayProxyStructuredResultV2 | string | object | undefined>;

export interface HttpApiRoute {
  method: string;
  path: string;
  /** Shown in logs: the function that serves the route. */
  target: string;
  invoke: HttpApiHandler;
}

interface CompiledRoute extends HttpApiRoute {
  pattern: RegExp;
  parameters: string[];
  literalSegments: number;
  greedy: boolean;
}

function compile(route: HttpApiRoute): CompiledRoute {
  const parameters: string[] = [];
  let literalSegments = 0;
  let greedy = false;
  const source = route.path
    .split('/')
    .slice(1)
    .map((segment) => {
      const parameter = /^\{([A-Za-z0-9_]+)(\+?)\}$/.exec(segment);
      if (parameter === null) {
        literalSegments++;
        return segment.replace(/[\\^$.*+?()[\]{}|]/g, '\\$&');
      }
      parameters.push(parameter[1] as string);
      if (parameter[2] === '+') {
        greedy = true;
        return '(.+)';
      }
      return '([^/]+)';
    })
    .join('/');
  return { ...route, pattern: new RegExp(`^/${source}$`), parameters, literalSegments, greedy };
}

/** A path with a broken percent-encoding: API Gateway answers 400. */
export class BadPathError extends Error {
  override readonly name = 'BadPathError';
}

function decodePathSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new BadPathError(`the path segment "${segment}" is not valid percent-encoding`);
  }
}

export interface RouteMatch {
  route: HttpApiRoute;
  pathParameters: Record<string, string>;
}

export class HttpApiRouter {
  private readonly routes: CompiledRoute[];

  constructor(routes: readonly HttpApiRoute[]) {
    // API Gateway prefers the route with more literal segments, and greedy paths last.
    this.routes = routes
      .map(compile)
      .sort(
        (a, b) =>
          Number(a.greedy) - Number(b.greedy) ||
          b.literalSegments - a.literalSegments ||
          a.parameters.length - b.parameters.length,
      );
  }

  get all(): readonly HttpApiRoute[] {
    return this.routes;
  }

  /** The matching route, `method-not-allowed` when only the method differs, or undefined. */
  match(method: string, path: string): RouteMatch | 'method-not-allowed' | undefined {
    let pathMatched = false;
    for (const route of this.routes) {
      const found = route.pattern.exec(path);
      if (found === null) continue;
      if (route.method !== method && route.method !== 'ANY') {
        pathMatched = true;
        continue;
      }
      const pathParameters: Record<string, string> = {};
      route.parameters.forEach((name, index) => {
        pathParameters[name] = decodePathSegment(found[index + 1] as string);
      });
      return { route, pathParameters };
    }
    return pathMatched ? 'method-not-allowed' : undefined;
  }
}

const TEXTUAL =
  /^(text\/|application\/([\w.+-]*\+)?(json|xml|javascript|yaml|x-www-form-urlencoded))/i;

export class RequestTooLargeError extends Error {
  override readonly name = 'RequestTooLargeError';
}

async function readBody(request: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    total += chunk.length;
    if (total > MAX_REQUEST_BYTES) throw new RequestTooLargeError();
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/** The payload format 2.0 event API Gateway builds for a request. */
export function httpApiEvent(
  request: IncomingMessage,
  body: Buffer,
  match: RouteMatch,
): APIGatewayProxyEventV2 {
  const url = new URL(request.url ?? '/', 'http://localhost');
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(request.headers)) {
    if (value === undefined || name === 'cookie') continue;
    headers[name] = Array.isArray(value) ? value.join(',') : value;
  }
  const query: Record<string, string> = {};
  for (const [name, value] of url.searchParams) {
    query[name] = Object.hasOwn(query, name) ? `${query[name]},${value}` : value;
  }
  const contentType = headers['content-type'] ?? '';
  const textual = body.length === 0 || contentType === '' || TEXTUAL.test(contentType);
  const now = new Date();
  const routeKey = `${match.route.method} ${match.route.path}`;
  return {
    version: '2.0',
    routeKey,
    rawPath: url.pathname,
    rawQueryString: url.search.slice(1),
    ...(request.headers.cookie === undefined
      ? {}
      : { cookies: request.headers.cookie.split(/;\s*/) }),
    headers,
    ...(url.search === '' ? {} : { queryStringParameters: query }),
    ...(Object.keys(match.pathParameters).length === 0
      ? {}
      : { pathParameters: match.pathParameters }),
    requestContext: {
      accountId: LOCAL_ACCOUNT_ID,
      apiId: 'local',
      domainName: headers.host ?? 'localhost',
      domainPrefix: 'local',
      http: {
        method: request.method ?? 'GET',
        path: url.pathname,
        protocol: `HTTP/${request.httpVersion}`,
        sourceIp: request.socket.remoteAddress ?? '127.0.0.1',
        userAgent: headers['user-agent'] ?? '',
      },
      requestId: randomUUID(),
      routeKey,
      stage: '$default',
      time: now.toUTCString(),
      timeEpoch: now.getTime(),
    },
    ...(body.length === 0
      ? { isBase64Encoded: false }
      : textual
        ? { body: body.toString('utf8'), isBase64Encoded: false }
        : { body: body.toString('base64'), isBase64Encoded: true }),
  } as APIGatewayProxyEventV2;
}

/** API Gateway's reading of a 2.0 result: an object without statusCode is a 200 JSON body. */
export function httpApiResponse(result: unknown): {
  statusCode: number;
  headers: Record<string, string | string[]>;
  body: Buffer;
} {
  const structured =
    typeof result === 'object' && result !== null && 'statusCode' in result
      ? (result as APIGatewayProxyStructuredResultV2)
      : {
          statusCode: 200,
          headers: { 'content-type': 'application/json' },
          body:
            result === undefined
              ? ''
              : typeof result === 'string'
                ? result
                : JSON.stringify(result),
        };
  const headers: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(structured.headers ?? {})) {
    headers[name.toLowerCase()] = String(value);
  }
  if (structured.cookies !== undefined && structured.cookies.length > 0) {
    headers['set-cookie'] = structured.cookies;
  }
  const text = structured.body ?? '';
  return {
    statusCode: structured.statusCode ?? 200,
    headers,
    body: Buffer.from(text, structured.isBase64Encoded === true ? 'base64' : 'utf8'),
  };
}

function sendJson(response: ServerResponse, statusCode: number, message: string) {
  response.writeHead(statusCode, { 'content-type': 'application/json' });
  response.end(JSON.stringify({ message }));
}

export interface HttpApiLog {
  request(line: {
    method: string;
    path: string;
    status: number;
    ms: number;
    target?: string;
  }): void;
  error(message: string, error: unknown): void;
}

/** A `node:http` request listener that serves the routes the way API Gateway would. */
export function httpApiListener(router: HttpApiRouter, log: HttpApiLog) {
  return async (request: IncomingMessage, response: ServerResponse) => {
    const started = performance.now();
    const method = request.method ?? 'GET';
    const path = new URL(request.url ?? '/', 'http://localhost').pathname;
    let target: string | undefined;
    const finish = (status: number) =>
      log.request({
        method,
        path,
        status,
        ms: performance.now() - started,
        ...(target === undefined ? {} : { target }),
      });
    // Nothing a client sends may take the process down: every failure ends as an answer or a closed
    // connection.
    try {
      const match = router.match(method, path);
      if (match === undefined || match === 'method-not-allowed') {
        // HTTP APIs answer 404 for both: a route is method and path together.
        request.resume();
        sendJson(response, 404, 'Not Found');
        finish(404);
        return;
      }
      target = match.route.target;
      let body: Buffer;
      try {
        body = await readBody(request);
      } catch (error) {
        if (!(error instanceof RequestTooLargeError)) {
          // The client went away mid-body: nobody is left to answer.
          request.destroy();
          return;
        }
        response.setHeader('connection', 'close');
        sendJson(response, 413, 'Request Entity Too Large');
        request.destroy();
        finish(413);
        return;
      }
      let result: unknown;
      try {
        result = await match.route.invoke(httpApiEvent(request, body, match));
      } catch (error) {
        // What API Gateway answers when the function fails; the error itself goes to the log only.
        log.error(`${match.route.target} failed`, error);
        sendJson(response, 500, 'Internal Server Error');
        finish(500);
        return;
      }
      const mapped = httpApiResponse(result);
      response.writeHead(mapped.statusCode, mapped.headers);
      response.end(method === 'HEAD' ? undefined : mapped.body);
      finish(mapped.statusCode);
    } catch (error) {
      if (error instanceof BadPathError) {
        request.resume();
        sendJson(response, 400, 'Bad Request');
        finish(400);
        return;
      }
      log.error(`${method} ${path} failed`, error);
      if (!response.headersSent) sendJson(response, 500, 'Internal Server Error');
      else response.destroy();
      finish(500);
    }
  };
}
