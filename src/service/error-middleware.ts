import {
  type CallContext,
  ServerError,
  type ServerMiddleware,
  type ServerMiddlewareCall,
  Status,
} from "nice-grpc";
import type { Logger } from "pino";
import { MalformedRequest } from "./definition.js";
import { toServerError } from "./status.js";

/**
 * Rejects malformed requests and turns every error a handler throws into a
 * gRPC status. Unexpected errors reach the client as a generic INTERNAL
 * status and are logged once with their stack.
 */
export function errorMiddleware(logger: Logger): ServerMiddleware {
  return async function* handleErrors<Request, Response>(
    call: ServerMiddlewareCall<Request, Response>,
    context: CallContext,
  ) {
    try {
      const request = call.requestStream
        ? (checkStream(call.request as AsyncIterable<unknown>) as Request)
        : checkMessage(call.request);
      return yield* call.next(request, context);
    } catch (error) {
      const mapped = toServerError(error);
      if (mapped) throw mapped;
      logger.error({ err: error, method: call.method.path }, "handler failed");
      throw new ServerError(Status.INTERNAL, "internal error");
    }
  };
}

function checkMessage<T>(message: T): T {
  if (message instanceof MalformedRequest) throw message;
  return message;
}

async function* checkStream(messages: AsyncIterable<unknown>) {
  for await (const message of messages) yield checkMessage(message);
}
