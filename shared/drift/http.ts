import type { Config } from '#shared/config/schema.ts';
import {
  BadRequestError,
  failedRequestResponse,
  type HttpResponse,
  UnprocessableEntityError,
  UnsupportedMediaTypeError,
} from '#shared/http/errors.ts';
import { decodeBody, type HttpRequest, mediaType } from '#shared/http/request.ts';
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

export type DriftRequest = HttpRequest;

export interface DriftRequestSideEffects {
  loadConfig(): Promise<Config>;
  logger: {
    info(message: string, ...extra: Record<string, unknown>[]): void;
    error(message: string, ...extra: Record<string, unknown>[]): void;
  };
}

function inputFormat(request: DriftRequest): InputFormat {
  const type = mediaType(request);
  const format = type === undefined ? undefined : MEDIA_TYPES[type];
  if (format === undefined) throw new UnsupportedMediaTypeError(type, Object.keys(MEDIA_TYPES));
  return format;
}

function outputFormat(request: DriftRequest): keyof typeof OUTPUTS {
  const wanted = request.queryStringParameters?.format ?? 'json';
  if (Object.hasOwn(OUTPUTS, wanted)) return wanted as keyof typeof OUTPUTS;
  throw new BadRequestError(
    `format must be one of ${Object.keys(OUTPUTS).join(', ')} (got "${wanted}")`,
  );
}

export async function evaluateDriftRequest(
  request: DriftRequest,
  effects: DriftRequestSideEffects,
): Promise<HttpResponse> {
  try {
    const format = inputFormat(request);
    const output = outputFormat(request);
    const body = decodeBody(request, MAX_BODY_BYTES);
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
    return failedRequestResponse('drift request', error, effects.logger);
  }
}
