/** The workloads compare-builds.js runs. */
export const WORKLOAD_NAMES = ["pull", "subscribe", "ingest", "single"] as const;
export type WorkloadName = (typeof WORKLOAD_NAMES)[number];

/** Payload size of the results of subscribe, ingest and single unless given. */
export const DEFAULT_RESULT_BYTES = 64;
/**
 * Largest --result-bytes. A round then stores 20,000 results, 82 MB
 * in all, and a PushStream message of 256 of them takes 1 MiB.
 */
export const MAX_RESULT_BYTES = 4096;

/** The arguments of compare-builds.js. */
export interface CompareArgs {
  readonly workload: WorkloadName;
  /** Node flags for the servers. */
  readonly flags: string[];
  readonly builds: string[];
  /** Undefined when --result-bytes is not given. */
  readonly resultBytes: number | undefined;
}

/** An invalid command line; the message names the argument and what is expected. */
export class UsageError extends Error {
  override readonly name = "UsageError";
}

/**
 * Parses the arguments of compare-builds.js: a workload and builds, with
 * options anywhere among them. Throws UsageError for a missing, unknown
 * or invalid one.
 */
export function parseCompareArgs(args: readonly string[]): CompareArgs {
  const flags: string[] = [];
  const positionals: string[] = [];
  let resultBytes: number | undefined;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    if (!arg.startsWith("-")) {
      positionals.push(arg);
      continue;
    }
    if (arg !== "--server-flag" && arg !== "--result-bytes") {
      throw new UsageError(`unknown option ${arg}`);
    }
    const value = args[++i];
    if (value === undefined) throw new UsageError(`missing value after ${arg}`);
    if (arg === "--server-flag") flags.push(value);
    else resultBytes = parseResultBytes(value);
  }
  const [name, ...builds] = positionals;
  const workloads = WORKLOAD_NAMES.join(", ");
  if (name === undefined) throw new UsageError(`missing WORKLOAD: use ${workloads}`);
  if (!isWorkloadName(name)) {
    throw new UsageError(`unknown workload ${JSON.stringify(name)}: use ${workloads}`);
  }
  if (name === "pull" && resultBytes !== undefined) {
    throw new UsageError("--result-bytes does not apply to pull, whose results are 64 B");
  }
  if (builds.length === 0) {
    throw new UsageError("missing BUILD: pass the dist directory of a checkout");
  }
  return { workload: name, flags, builds, resultBytes };
}

function isWorkloadName(name: string): name is WorkloadName {
  return (WORKLOAD_NAMES as readonly string[]).includes(name);
}

/** Reads a --result-bytes value: decimal digits only, from 1 to MAX_RESULT_BYTES. */
function parseResultBytes(value: string): number {
  const bytes = /^[0-9]+$/.test(value) ? Number(value) : Number.NaN;
  if (!(bytes >= 1 && bytes <= MAX_RESULT_BYTES)) {
    throw new UsageError(
      `invalid --result-bytes ${JSON.stringify(value)}: expected an integer from 1 to ${MAX_RESULT_BYTES}`,
    );
  }
  return bytes;
}
