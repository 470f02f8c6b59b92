import { InvalidArgumentError } from "../core/errors.js";
import type { Register } from "../gen/conductor/v1/runner_pb.js";
import type { Registration } from "./runner-connection.js";

const MAX_KIND_LENGTH = 128;
const MAX_NAME_LENGTH = 256;

/** The rules for the kinds runners may register. */
export interface KindPolicy {
  readonly builtInKinds: readonly string[];
  /** Kinds runners may serve; every kind not built in when unset. */
  readonly runnerKinds: ReadonlySet<string> | undefined;
}

/** Converts a Register message, dropping repeated kinds. */
export function registrationOf(register: Register): Registration {
  return {
    kinds: [...new Set(register.kinds)],
    concurrency: register.concurrency,
    name: register.name,
  };
}

/**
 * Throws InvalidArgumentError, naming the field, when the registration
 * lacks kinds or concurrency, or names a kind runners may not serve.
 */
export function validateRegistration(
  registration: Registration,
  policy: KindPolicy,
): void {
  if (registration.concurrency < 1) {
    throw new InvalidArgumentError(
      "register.concurrency",
      "register.concurrency must be at least 1",
    );
  }
  if (registration.name.length > MAX_NAME_LENGTH) {
    throw new InvalidArgumentError(
      "register.name",
      `register.name is ${registration.name.length} characters long; the limit is ${MAX_NAME_LENGTH}`,
    );
  }
  if (registration.kinds.length === 0) {
    throw new InvalidArgumentError(
      "register.kinds",
      "register.kinds must name at least one job kind",
    );
  }
  for (const kind of registration.kinds) validateKind(kind, policy);
}

function validateKind(kind: string, policy: KindPolicy): void {
  if (kind.length === 0 || kind.length > MAX_KIND_LENGTH) {
    throw new InvalidArgumentError(
      "register.kinds",
      `register.kinds contains a kind of ${kind.length} characters; kinds are 1 to ${MAX_KIND_LENGTH} characters long`,
    );
  }
  if (policy.builtInKinds.includes(kind)) {
    throw new InvalidArgumentError(
      "register.kinds",
      `kind "${kind}" is built into the server; runners cannot serve it`,
    );
  }
  if (policy.runnerKinds && !policy.runnerKinds.has(kind)) {
    throw new InvalidArgumentError(
      "register.kinds",
      `kind "${kind}" is not among the server's runner kinds: ${[...policy.runnerKinds].join(", ")}`,
    );
  }
}
