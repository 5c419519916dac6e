import type { Config } from '#shared/config/schema.ts';
import {
  BadRequestError,
  errorResponse,
  HttpError,
  type HttpResponse,
  PayloadTooLargeError,
  UnprocessableEntityError,
  UnsupportedMediaTypeError,
} from '#shared/http/errors.ts';
import type { InputFormat } from '#shared/input/inputs.ts';
import { STDIN } from '#shared/input/inputs.ts';
import { formatJson } from '#shared/report/json.ts';
import { formatMarkdown } from '#shared/report/markdown.ts';
import { formatSarif } from '#shared/report/sarif.ts';
import { PULLWARDEN_VERSION } from '#shared/version.ts';
import { runDrift } from './run.ts';

// The drift report over HTTP: the body is what `pullwarden drift -` would read, the answer is the report.

export const MAX_BODY_BYTES = 5 * 1024 * 1024;

const MEDIA_TYPES: Readonly<Record<string, InputFormat>> = {
  'application/json': 'json',
  'application/yaml': 'yaml',
  'application/x-yaml': 'yaml',
  'text/yaml': 'yaml',
  'text/x-yaml': 'yaml',
};

const OUTPUTS = {
  json: { contentType: 'application/json; charset=utf-8', render: formatJson },
  sarif: {
    contentType: 'application/sarif+json; charset=utf-8',
    render: (report: Parameters<typeof formatJson>[0]) =>
      formatSarif(report, { toolVersion: PULLWARDEN_VERSION }),
  },
  markdown: { contentType: 'text/markdown; charset=utf-8', render: formatMarkdown },
} as const;

export interface DriftRequest {
  body?: string | undefined;
  isBase64Encoded?: boolean;
  headers?: Record<string, string | undefined>;
  queryStringParameters?: Record<string, string | undefined> | undefined;
}

export interface DriftRequestSideEffects {
  loadConfig(): Promise<Config>;
  logger: {
    info(message: string, ...extra: Record<string, unknown>[]): void;
    error(message: string, ...extra: Record<string, unknown>[]): void;
  };
}

function header(request: DriftRequest, name: string): string | undefined {
  for (const [key, value] of Object.entries(request.headers ?? {})) {
    if (key.toLowerCase() === name) return value;
  }
  return undefined;
}

function inputFormat(request: DriftRequest): InputFormat {
  const raw = header(request, 'content-type');
  const mediaType = raw?.split(';')[0]?.trim().toLowerCase();
  const format = mediaType === undefined ? undefined : MEDIA_TYPES[mediaType];
  if (format === undefined)
    throw new UnsupportedMediaTypeError(mediaType, Object.keys(MEDIA_TYPES));
  return format;
}

function outputFormat(request: DriftRequest): keyof typeof OUTPUTS {
  const wanted = request.queryStringParameters?.format ?? 'json';
  if (Object.hasOwn(OUTPUTS, wanted)) return wanted as keyof typeof OUTPUTS;
  throw new BadRequestError(
    `format must be one of ${Object.keys(OUTPUTS).join(', ')} (got "${wanted}")`,
  );
}

function decodeBody(request: DriftRequest): Buffer {
  const raw = request.body ?? '';
  // A base64 body is a third larger than its content; refuse early without decoding a huge one.
  if (
    raw.length >
    (request.isBase64Encoded === true ? Math.ceil((MAX_BODY_BYTES * 4) / 3) + 4 : MAX_BODY_BYTES)
  ) {
    throw new PayloadTooLargeError(MAX_BODY_BYTES);
  }
  const body =
    request.isBase64Encoded === true ? Buffer.from(raw, 'base64') : Buffer.from(raw, 'utf8');
  if (body.length > MAX_BODY_BYTES) throw new PayloadTooLargeError(MAX_BODY_BYTES);
  if (body.length === 0) throw new BadRequestError('the request body is empty');
  return body;
}

export async function evaluateDriftRequest(
  request: DriftRequest,
  effects: DriftRequestSideEffects,
): Promise<HttpResponse> {
  try {
    const format = inputFormat(request);
    const output = outputFormat(request);
    const body = decodeBody(request);
    const config = await effects.loadConfig();
    const report = await runDrift(config, [{ name: STDIN, format }], { stdin: [body], threads: 0 });
    if (report.summary.documents === 0) {
      throw new BadRequestError(
        report.problems.length > 0
          ? 'the body could not be parsed'
          : 'the body contains no documents',
        report.problems,
      );
    }
    if (report.summary.objects === 0) {
      throw new UnprocessableEntityError('the body contains no Kubernetes object', report.problems);
    }
    effects.logger.info('drift report', { summary: report.summary });
    return {
      statusCode: 200,
      headers: { 'content-type': OUTPUTS[output].contentType },
      body: OUTPUTS[output].render(report),
    };
  } catch (error) {
    if (!(error instanceof HttpError)) {
      effects.logger.error('drift request failed', {
        error:
          error instanceof Error ? { name: error.name, message: error.message } : String(error),
      });
    }
    return errorResponse(error);
  }
}
