import { InvalidArgumentError } from "../core/errors.js";
import { validateKind } from "../core/kind.js";
import type { Register } from "../gen/conductor/v1/runner_pb.js";
import type { Registration } from "./runner-connection.js";

const MAX_NAME_LENGTH = 256;
/**
 * Maximum kinds one runner may serve. With kinds of at most 128 characters
 * this bounds the size of a runner's entry in ListRunners.
 */
export const MAX_KINDS_PER_RUNNER = 64;

/** The rules for the kinds runners may register. */
export interface KindPolicy {
  readonly builtInKinds: readonly string[];
  /** Kinds runners may serve; every kind not built in when unset. */
  readonly runnerKinds: ReadonlySet<string> | undefined;
}

/** Converts a Register message. */
export function registrationOf(register: Register): Registration {
  return {
    kinds: register.kinds,
    concurrency: register.concurrency,
    name: register.name,
  };
}

/**
 * Throws InvalidArgumentError, naming the field, when the registration
 * lacks kinds or concurrency, has too many kinds, repeats a kind, or names
 * a kind that runners may not serve or that Exec would reject. Messages
 * about one kind give its index in `register.kinds`.
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
  validateKindCount(registration.kinds.length);
  const seen = new Set<string>();
  for (const [index, kind] of registration.kinds.entries()) {
    validateRunnerKind(kind, index, policy);
    if (seen.has(kind)) {
      throw new InvalidArgumentError(
        "register.kinds",
        `register.kinds[${index}] repeats kind "${kind}"; list each kind once`,
      );
    }
    seen.add(kind);
  }
}

function validateKindCount(count: number): void {
  if (count === 0) {
    throw new InvalidArgumentError(
      "register.kinds",
      "register.kinds must name at least one job kind",
    );
  }
  if (count > MAX_KINDS_PER_RUNNER) {
    throw new InvalidArgumentError(
      "register.kinds",
      `register.kinds names ${count} kinds; a runner may serve at most ${MAX_KINDS_PER_RUNNER}`,
    );
  }
}

function validateRunnerKind(kind: string, index: number, policy: KindPolicy): void {
  const field = `register.kinds[${index}]`;
  try {
    validateKind(kind, field);
  } catch (error) {
    // Every kind error names the list, as the other registration errors do.
    if (!(error instanceof InvalidArgumentError)) throw error;
    throw new InvalidArgumentError("register.kinds", error.message);
  }
  if (policy.builtInKinds.includes(kind)) {
    throw new InvalidArgumentError(
      "register.kinds",
      `${field} is "${kind}", a kind built into the server; runners cannot serve it`,
    );
  }
  if (policy.runnerKinds && !policy.runnerKinds.has(kind)) {
    throw new InvalidArgumentError(
      "register.kinds",
      `${field} is "${kind}", which is not among the server's runner kinds: ${[...policy.runnerKinds].join(", ")}`,
    );
  }
}
