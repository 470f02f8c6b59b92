/** gRPC status code UNKNOWN, for errors that carry no code of their own. */
export const UNKNOWN = 2;

/** Highest gRPC status code, UNAUTHENTICATED. */
const MAX_CODE = 16;

/**
 * An error a job handler throws to choose the gRPC status code its job
 * ends with. Consumers get the code and message after the job's results.
 */
export class JobError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
    this.name = "JobError";
  }
}

/**
 * Returns the code and message a job ends with when its handler threw
 * `error`: the error's own `code` when it is a gRPC status code from 1 to
 * 16 (as on a JobError or a nice-grpc ClientError), else UNKNOWN.
 */
export function failureOf(error: unknown): { code: number; message: string } {
  const code = (error as { code?: unknown } | null)?.code;
  const valid = typeof code === "number" && Number.isInteger(code);
  const message = error instanceof Error ? error.message : String(error);
  return {
    code: valid && code >= 1 && code <= MAX_CODE ? code : UNKNOWN,
    message: message || "job failed",
  };
}
