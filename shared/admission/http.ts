import type { Config } from '#shared/config/schema.ts';
import type { SecretResolver } from '#shared/config/secret-ref.ts';
import {
  errorResponse,
  HttpError,
  type HttpResponse,
  UnsupportedMediaTypeError,
} from '#shared/http/errors.ts';
import { decodeBody, type HttpRequest, header, mediaType } from '#shared/http/request.ts';
import { verifyBearerToken } from '#shared/intake/verify.ts';
import { describeError, type StructuredLog } from '#shared/runtime/log.ts';
import { answerBudgetMs, type Clock, DeadlineExceededError, withinDeadline } from './deadline.ts';
import { type AdmissionDecision, decideReview } from './decide.ts';
import {
  type AdmissionResponse,
  type AdmissionReview,
  admissionAnswer,
  parseAdmissionReview,
} from './review.ts';

// POST /admission: the API server's AdmissionReview in, the verdict out, always within the webhook's
// timeout. A malformed request is a 4xx with the reason (the API server then applies its
// failurePolicy). When pullwarden itself fails, a well-formed review is still answered: admitted with
// a warning that the checks were skipped, or refused when admission.failClosed is set.

/** Two objects at etcd's 1.5 MiB request limit (UPDATE sends old and new) and the envelope. */
export const MAX_REVIEW_BYTES = 4 * 1024 * 1024;

const MEDIA_TYPE = 'application/json';

export type AdmissionLogger = StructuredLog;

export interface AdmissionDependencies {
  loadConfig(): Promise<Config>;
  secrets: SecretResolver;
  logger: AdmissionLogger;
  clock: Clock;
}

export interface ReviewContext {
  /** What the function invocation has left, when it runs under a time limit of its own. */
  remainingMs?: number;
}

type AdmissionSettings = Config['admission'];

/** Until a configuration has been read, a failure is answered with the schema's defaults. */
const DEFAULT_SETTINGS: Pick<AdmissionSettings, 'failClosed' | 'timeoutSeconds'> = {
  failClosed: false,
  timeoutSeconds: 5,
};

async function authorize(
  request: HttpRequest,
  settings: AdmissionSettings,
  secrets: SecretResolver,
): Promise<void> {
  if (settings.token === undefined) return;
  await verifyBearerToken(
    header(request, 'authorization'),
    settings.token,
    secrets,
    'admission.token',
  );
}

/** The answer when the checks could not run: nothing about the cause beyond its kind. */
function skippedResponse(
  uid: string,
  settings: Pick<AdmissionSettings, 'failClosed'>,
  error: unknown,
): AdmissionResponse {
  const why =
    error instanceof DeadlineExceededError
      ? `they did not finish within ${Math.round(error.budgetMs)} ms`
      : 'of an internal error';
  if (settings.failClosed) {
    return {
      uid,
      allowed: false,
      status: {
        code: 500,
        reason: 'InternalError',
        message: `pullwarden could not check this request because ${why}; it is refused because admission.failClosed is set`,
      },
    };
  }
  return {
    uid,
    allowed: true,
    warnings: [`pullwarden: image pull-policy checks were skipped because ${why}`],
  };
}

/** The webhook for one process: remembers the last settings read, to answer well when reading fails. */
export function createAdmissionWebhook(deps: AdmissionDependencies) {
  let known: Pick<AdmissionSettings, 'failClosed' | 'timeoutSeconds'> = DEFAULT_SETTINGS;

  return async function reviewAdmission(
    request: HttpRequest,
    context: ReviewContext = {},
  ): Promise<HttpResponse> {
    const { clock, logger } = deps;
    const started = clock.now();
    let settings = known;
    let budget = answerBudgetMs(settings.timeoutSeconds, context.remainingMs);
    let review: AdmissionReview | undefined;
    const summary = () => ({
      uid: review?.request.uid,
      kind: review?.request.kind.kind,
      operation: review?.request.operation,
      ms: Math.round((clock.now() - started) * 10) / 10,
    });
    const skipped = (reviewed: AdmissionReview, error: unknown): HttpResponse => {
      const response = skippedResponse(reviewed.request.uid, settings, error);
      logger.error('admission review skipped', {
        ...summary(),
        allowed: response.allowed,
        error: describeError(error),
      });
      return admissionAnswer(reviewed, response);
    };

    try {
      const type = mediaType(request);
      if (type !== MEDIA_TYPE) throw new UnsupportedMediaTypeError(type, [MEDIA_TYPE]);
      const body = decodeBody(request, MAX_REVIEW_BYTES);

      let config: Config | undefined;
      let failure: unknown;
      try {
        config = await withinDeadline(deps.loadConfig(), started + budget, budget, clock);
        settings = known = config.admission;
        budget = answerBudgetMs(settings.timeoutSeconds, context.remainingMs);
        await withinDeadline(
          authorize(request, config.admission, deps.secrets),
          started + budget,
          budget,
          clock,
        );
      } catch (error) {
        if (error instanceof HttpError) throw error;
        failure = error;
      }

      review = parseAdmissionReview(body);
      if (config === undefined || failure !== undefined) return skipped(review, failure);
      let decision: AdmissionDecision;
      try {
        decision = decideReview(review.request, config);
      } catch (error) {
        return skipped(review, error);
      }
      // Evaluation runs to its end once started; an answer past the deadline would be discarded.
      if (clock.now() - started > budget) return skipped(review, new DeadlineExceededError(budget));
      logger.info('admission review', {
        ...summary(),
        mode: config.admission.mode,
        findings: decision.findings.length,
        patched: decision.changes.length,
        allowed: decision.response.allowed,
      });
      return admissionAnswer(review, decision.response);
    } catch (error) {
      if (error instanceof HttpError) {
        logger.warn('admission review refused', {
          ...summary(),
          status: error.statusCode,
          reason: error.message,
        });
      } else {
        logger.error('admission review failed', { ...summary(), error: describeError(error) });
      }
      return errorResponse(error);
    }
  };
}
