import type {
  CallContext,
  ServerError,
  ServerMiddleware,
  ServerMiddlewareCall,
} from "nice-grpc";
import { RichServerError } from "nice-grpc-error-details";
import type { Logger } from "pino";
import { callError, checkMessage, checkStream, logEndedCall } from "./call-errors.js";
import type { GatedCall, ShutdownGate } from "./shutdown-gate.js";
import { encodeStatusDetails, STATUS_DETAILS_KEY } from "./status-details.js";

export interface CallGuardOptions {
  readonly gate: ShutdownGate;
  readonly logger: Logger;
}

/**
 * Builds the one middleware of every service. Around each handler it
 * admits the call through the shutdown gate, rejects malformed
 * requests, abandons the handler when a shutdown ends the call, and turns
 * what the handler throws into a status with its details. One middleware
 * in place of one per step spares each call and each streamed message the
 * steps of three more async generators.
 */
export function callGuard(options: CallGuardOptions): ServerMiddleware {
  const { gate, logger } = options;

  /** Returns the status to send for what a handler threw, with its details in the trailer. */
  function statusOf(
    error: unknown,
    path: string,
    gated: GatedCall | undefined,
    context: CallContext,
  ) {
    const call = {
      path,
      clientGone: context.signal.aborted,
      ended: gated?.aborted ?? false,
    };
    // Mapped even when a shutdown replaces it, so that what the handler
    // threw is logged as for any other ended call.
    const mapped = callError(error, call, logger);
    const status: ServerError = (gated && gate.endedError(gated)) ?? mapped;
    if (status instanceof RichServerError) {
      context.trailer.set(STATUS_DETAILS_KEY, encodeStatusDetails(status));
    }
    return status;
  }

  return async function* guard<Request, Response>(
    call: ServerMiddlewareCall<Request, Response>,
    context: CallContext,
  ): AsyncGenerator<Response, Response | void, undefined> {
    let gated: GatedCall | undefined;
    try {
      gated = gate.open(call.method.path, context.signal);
      const handler: AsyncGenerator<Response, Response | void, undefined> = call.next(
        checkedRequest(call),
        gated.contextFor(context),
      );
      // The handler's steps are relayed here rather than through another
      // generator, for the cost explained above.
      let step: Promise<IteratorResult<Response, Response | void>> | undefined;
      try {
        for (;;) {
          step = handler.next();
          const result = await gated.race(step);
          if (result.done) {
            step = undefined;
            return result.value;
          }
          yield result.value;
        }
      } finally {
        if (step) await stopHandler(handler, step, gated, logger);
      }
    } catch (error) {
      throw statusOf(error, call.method.path, gated, context);
    } finally {
      if (gated) gate.close(gated);
    }
  };
}

function checkedRequest<Request>(call: ServerMiddlewareCall<Request, unknown>): Request {
  if (!call.requestStream) return checkMessage(call.request);
  return checkStream(call.request as AsyncIterable<unknown>) as Request;
}

/**
 * Ends a handler the call no longer follows, whose last step is `step`.
 * An ended handler may still be running, so its cleanup is not awaited then.
 * What it throws later is only logged at debug level, because the client
 * has its status already.
 */
async function stopHandler<R>(
  handler: AsyncGenerator<unknown, R, undefined>,
  step: Promise<unknown>,
  gated: GatedCall,
  logger: Logger,
): Promise<void> {
  const logEnded = (error: unknown) => logEndedCall(logger, gated.path, error);
  const cleanup = handler.return(undefined as R).catch(logEnded);
  if (!gated.aborted) {
    // The step settled, and an error it threw was handled as the call's.
    await cleanup;
    return;
  }
  step.catch(logEnded);
}
