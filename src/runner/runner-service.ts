import {
  type CallContext,
  ServerError,
  type ServiceImplementation,
  Status,
} from "nice-grpc";
import { InvalidArgumentError } from "../core/errors.js";
import type { JobFailure } from "../core/ticket-store.js";
import type { JobError } from "../gen/conductor/v1/payload_pb.js";
import { type ConnectRequest, RunnerService } from "../gen/conductor/v1/runner_pb.js";
import { requireLease, requireTicket } from "../service/convert.js";
import { type ServiceDefinitionOf, serviceDefinition } from "../service/definition.js";
import type { RunnerHub } from "./hub.js";
import { registrationOf } from "./registration.js";
import type { RunnerConnection } from "./runner-connection.js";
import { listRunnersPage } from "./runner-list.js";

export const runnerDefinition = serviceDefinition(RunnerService);

type Methods = (typeof RunnerService)["method"];
export type RunnerServiceImplementation = ServiceImplementation<
  ServiceDefinitionOf<Methods>
>;

/** Highest gRPC status code, UNAUTHENTICATED. */
const MAX_STATUS_CODE = 16;

/** Implements RunnerService on top of a RunnerHub. */
export function runnerService(hub: RunnerHub): RunnerServiceImplementation {
  return {
    async *connect(requests, context) {
      const iterator = requests[Symbol.asyncIterator]();
      const register = await readRegister(iterator, hub.runnerTimeoutMs);
      const runner = hub.connect(registrationOf(register));
      void readRequests(hub, runner, iterator, context);
      try {
        yield* runner.outbox;
      } finally {
        // Does nothing when the hub ended the stream, which is the usual way.
        const reason = context.signal.aborted
          ? brokenReason(runner)
          : "the server ended the stream";
        hub.disconnect(runner, reason);
      }
    },

    async finish(request) {
      const failure = request.error ? failureOf(request.error) : undefined;
      await hub.finish(
        requireTicket(request.ticket),
        requireLease(request.lease),
        failure,
      );
      return {};
    },

    async listRunners(request) {
      return listRunnersPage(hub.runners(), request);
    },
  };
}

/**
 * Reads the first request, which must be a Register sent within
 * `timeoutMs`, so that a silent stream does not stay open for ever.
 */
async function readRegister(iterator: AsyncIterator<ConnectRequest>, timeoutMs: number) {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const message = `no register arrived within ${timeoutMs} ms of opening the stream`;
      reject(new ServerError(Status.DEADLINE_EXCEEDED, message));
    }, timeoutMs);
  });
  const first = await Promise.race([iterator.next(), timeout]).finally(() =>
    clearTimeout(timer),
  );
  const message = first.done ? undefined : first.value.message;
  if (message?.case === "register") return message.value;
  const got = first.done
    ? "the stream ended first"
    : `got ${message?.case ?? "an empty message"}`;
  throw new InvalidArgumentError(
    "register",
    `the first Connect request must be a register; ${got}`,
  );
}

/**
 * Reads the runner's requests until its stream ends, then disconnects it.
 * Every request counts as a sign of life. The loss reason distinguishes a
 * half-close by the runner from a cancelled call or broken connection.
 */
async function readRequests(
  hub: RunnerHub,
  runner: RunnerConnection,
  iterator: AsyncIterator<ConnectRequest>,
  context: CallContext,
): Promise<void> {
  try {
    for (;;) {
      const next = await iterator.next();
      if (next.done) break;
      hub.touch(runner);
      const message = next.value.message;
      if (message.case === "drain") hub.drain(runner);
      if (message.case === "register") {
        throw new InvalidArgumentError(
          "register",
          "register may be sent only once, as the first request",
        );
      }
    }
    // A cancelled call can end the requests as a half-close does: Node's
    // HTTP/2 client ends the request stream of a stream it closes before it
    // resets it. grpc-js 1.14 aborts the call's signal in a
    // process.nextTick callback of the same I/O event, so the signal is
    // checked once that event is done.
    // NOTE: a cancelled call can still show an unaborted signal here with
    // grpc-js 1.14 and nice-grpc 2.1, so its reason reads "closed its stream".
    await new Promise((resolve) => setImmediate(resolve));
    const reason = context.signal.aborted
      ? brokenReason(runner)
      : `runner ${JSON.stringify(runner.name)} closed its stream`;
    hub.disconnect(runner, reason);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    const reason = context.signal.aborted
      ? brokenReason(runner)
      : `the stream of runner ${JSON.stringify(runner.name)} failed: ${message}`;
    hub.disconnect(runner, reason, error);
  }
}

function brokenReason(runner: RunnerConnection): string {
  return `the call of runner ${JSON.stringify(runner.name)} was cancelled or its connection broke`;
}

function failureOf(error: JobError): JobFailure {
  if (!Number.isInteger(error.code) || error.code < 1 || error.code > MAX_STATUS_CODE) {
    throw new InvalidArgumentError(
      "error.code",
      `error.code is ${error.code}; a failed job needs a gRPC status code from 1 to ${MAX_STATUS_CODE}`,
    );
  }
  return { code: error.code, message: error.message || "job failed" };
}
