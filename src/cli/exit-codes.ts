import { ClientError, Status } from "nice-grpc";
import { RichClientError } from "nice-grpc-error-details";

/** Exit codes of the conductor command. */
export const ExitCode = {
  ok: 0,
  /** Any error without a code of its own, such as an unreachable server. */
  error: 1,
  /** Invalid flags, arguments, settings or request values. */
  usage: 2,
  /** The ticket does not exist or has expired. */
  notFound: 3,
  /** The job failed or was cancelled. */
  jobFailed: 4,
} as const;

export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/** An error the command reports with its message and exits on. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: ExitCode,
  ) {
    super(message);
  }
}

/** Returns the google.rpc.ErrorInfo reason of a server error, if any. */
export function errorReason(error: ClientError): string | undefined {
  if (!(error instanceof RichClientError)) return undefined;
  for (const detail of error.extra) {
    if (detail.$type === "google.rpc.ErrorInfo") return detail.reason;
  }
  return undefined;
}

/**
 * Returns the exit code for an error: a job's own failure or cancellation is
 * `jobFailed` whatever status code the job chose, so its reason is checked
 * before the code.
 */
export function exitCodeOf(error: unknown): ExitCode {
  if (error instanceof CliError) return error.exitCode;
  if (!(error instanceof ClientError)) return ExitCode.error;
  const reason = errorReason(error);
  if (reason === "JOB_FAILED" || reason === "JOB_CANCELLED") return ExitCode.jobFailed;
  if (error.code === Status.NOT_FOUND) return ExitCode.notFound;
  if (error.code === Status.INVALID_ARGUMENT) return ExitCode.usage;
  return ExitCode.error;
}
