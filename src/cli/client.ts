import {
  type Channel,
  ClientError,
  createChannel,
  createClientFactory,
  Status,
} from "nice-grpc";
import { deadlineMiddleware } from "nice-grpc-client-middleware-deadline";
import { errorDetailsClientMiddleware } from "nice-grpc-error-details";
import { RunnerService } from "../gen/conductor/v1/runner_pb.js";
import { conductorDefinition } from "../service/conductor-service.js";
import { serviceDefinition } from "../service/definition.js";
import { CliError, ExitCode, errorReason } from "./exit-codes.js";

/** Server address used when neither --address nor CONDUCTOR_ADDRESS is set. */
export const DEFAULT_ADDRESS = "127.0.0.1:50051";

/** Deadline of one unary call, on top of any wait the call requests. */
export const CALL_TIMEOUT_MS = 30_000;

const runnerDefinition = serviceDefinition(RunnerService);

/** Clients of one server, sharing a channel. */
export interface Connection {
  readonly address: string;
  readonly conductor: ReturnType<typeof createClients>["conductor"];
  readonly runners: ReturnType<typeof createClients>["runners"];
  /** Closes the channel, so that the process can exit. */
  close(): void;
}

/** Opens a channel to `address`; calls connect on first use. */
export function connect(address: string): Connection {
  const channel = createChannel(address);
  return { address, ...createClients(channel), close: () => channel.close() };
}

function createClients(channel: Channel) {
  const factory = createClientFactory()
    .use(errorDetailsClientMiddleware)
    .use(deadlineMiddleware);
  return {
    conductor: factory.create(conductorDefinition, channel),
    runners: factory.create(runnerDefinition, channel),
  };
}

/** Returns the deadline CALL_TIMEOUT_MS plus `extraMs` from now. */
export function callDeadline(extraMs = 0): Date {
  return new Date(Date.now() + CALL_TIMEOUT_MS + extraMs);
}

/**
 * Names the server address in UNAVAILABLE errors of an unreachable server.
 * Other errors, including UNAVAILABLE from a server that is shutting down,
 * are returned unchanged.
 */
export function explainClientError(error: unknown, address: string): unknown {
  if (!(error instanceof ClientError) || error.code !== Status.UNAVAILABLE) {
    return error;
  }
  // The server gave its reason, so a hint about the address would mislead.
  if (errorReason(error) !== undefined) return error;
  return new CliError(
    `conductor server at ${address} is unavailable: ${error.details} ` +
      "(check --address or CONDUCTOR_ADDRESS, and that the server runs)",
    ExitCode.error,
  );
}

/** Describes a gRPC error in one line: its details and status name. */
export function describeClientError(error: ClientError): string {
  return `${error.details} (${Status[error.code] ?? error.code})`;
}
