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
import { splitHostPort } from "../observability/address.js";
import { conductorDefinition } from "../service/conductor-service.js";
import { serviceDefinition } from "../service/definition.js";
import { CliError, ExitCode, errorReason } from "./exit-codes.js";
import { escapeControlCharacters } from "./format.js";

/** Server address used when neither --address nor CONDUCTOR_ADDRESS is set. */
export const DEFAULT_ADDRESS = "127.0.0.1:50051";

/** Schemes of gRPC targets that --address passes to grpc-js unchecked. */
const TARGET_SCHEMES = ["dns:", "ipv4:", "ipv6:", "unix:", "unix-abstract:"];

/**
 * Checks a server address: host:port or [ipv6]:port with a port from 1 to
 * 65535, or a gRPC target that starts with a scheme grpc-js resolves, such
 * as unix:/run/conductor.sock. Returns the address unchanged; throws a
 * RangeError that names the expected forms.
 */
export function checkAddress(address: string): string {
  const scheme = TARGET_SCHEMES.find((prefix) => address.startsWith(prefix));
  if (scheme !== undefined && address.length > scheme.length) return address;
  let valid = false;
  try {
    const { host, port } = splitHostPort(address);
    valid = host !== "" && port >= 1;
  } catch (error) {
    if (!(error instanceof RangeError)) throw error;
  }
  if (!valid) {
    throw new RangeError(
      "must be host:port or [ipv6]:port with a port from 1 to 65535, or unix:PATH",
    );
  }
  return address;
}

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
    `conductor server at ${address} is unavailable: ` +
      `${escapeControlCharacters(error.details)} ` +
      "(check --address or CONDUCTOR_ADDRESS, and that the server runs)",
    ExitCode.error,
  );
}

/**
 * Describes a gRPC error in one line: its details, with control characters
 * escaped, and its status name.
 */
export function describeClientError(error: ClientError): string {
  const details = escapeControlCharacters(error.details);
  return `${details} (${Status[error.code] ?? error.code})`;
}
