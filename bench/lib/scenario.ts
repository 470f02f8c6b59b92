import { join } from "node:path";
import { Child } from "./child.js";
import type { RatioRange, Section } from "./report.js";
import { median } from "./stats.js";

/** Settings of the whole run, from the command line. */
export interface RunOptions {
  /** Fewer rounds and smaller workloads, for a first look. */
  readonly quick: boolean;
  /** Rounds per figure; each figure is the median over them. */
  readonly rounds: number;
  /** When set, server processes record CPU profiles into this directory. */
  readonly profileDir: string | undefined;
}

/** One numbered benchmark scenario. */
export interface Scenario {
  /** Short name used to pick the scenario on the command line. */
  readonly name: string;
  run(options: RunOptions): Promise<Section>;
}

const CONDUCTOR_SERVER = new URL("../servers/conductor-server.js", import.meta.url);
const BARE_SERVER = new URL("../servers/bare-server.js", import.meta.url);

/** Node flags that make a child record a CPU profile when profiling is on. */
export function profileFlags(options: RunOptions, name: string): string[] {
  if (!options.profileDir) return [];
  // One directory per process: V8 names the files by time and process id.
  return ["--cpu-prof", `--cpu-prof-dir=${join(options.profileDir, name)}`];
}

/** Starts a conductor server process with the given store limits. */
export function startConductor(
  options: RunOptions,
  name: string,
  settings: { maxData: number; timeoutMs?: number },
): Promise<Child> {
  return Child.start(
    CONDUCTOR_SERVER,
    { timeoutMs: 2000, ...settings },
    { nodeFlags: profileFlags(options, `${name}-conductor`) },
  );
}

/** Starts a bare grpc-js server process. */
export function startBare(options: RunOptions, name: string): Promise<Child> {
  return Child.start(
    BARE_SERVER,
    {},
    { nodeFlags: profileFlags(options, `${name}-bare`) },
  );
}

/** One round's figure and the CPU time the server spent per unit of work. */
export interface Sample {
  /** Units of work per second: results, calls or jobs. */
  readonly perSecond: number;
  /** Server process CPU time, user and system, per unit of work. */
  readonly cpuUsPerUnit: number;
}

/** Medians of the conductor and reference samples of one comparison. */
export interface Comparison {
  readonly conductor: Sample;
  readonly reference: Sample;
  /** Lowest and highest ratio of conductor's rate to the reference's in one round. */
  readonly roundRatios: RatioRange;
}

/**
 * Times `body`, which does `units` units of work against `server`, and
 * measures the server's CPU time meanwhile.
 */
export async function sample(
  server: Child,
  units: number,
  body: () => Promise<void>,
): Promise<Sample> {
  const cpuBeforeUs = await server.request<number>("cpuUsage");
  const startMs = performance.now();
  await body();
  const elapsedMs = performance.now() - startMs;
  const cpuUs = (await server.request<number>("cpuUsage")) - cpuBeforeUs;
  return { perSecond: (units / elapsedMs) * 1000, cpuUsPerUnit: cpuUs / units };
}

/** Returns the median of each field of `samples`. */
export function medianSample(samples: readonly Sample[]): Sample {
  return {
    perSecond: median(samples.map((s) => s.perSecond)),
    cpuUsPerUnit: median(samples.map((s) => s.cpuUsPerUnit)),
  };
}

/**
 * Runs `conductorRound` and `referenceRound` alternately, `rounds` times
 * each after one warm-up round each, starting with a different one each
 * round so that drift in the machine's speed affects both alike. Returns
 * the median of each.
 */
export async function compare(
  rounds: number,
  conductorRound: () => Promise<Sample>,
  referenceRound: () => Promise<Sample>,
): Promise<Comparison> {
  // The first rounds run before the JIT has optimized the hot paths.
  await conductorRound();
  await referenceRound();
  const conductor: Sample[] = [];
  const reference: Sample[] = [];
  for (let round = 0; round < rounds; round++) {
    if (round % 2 === 0) {
      conductor.push(await conductorRound());
      reference.push(await referenceRound());
    } else {
      reference.push(await referenceRound());
      conductor.push(await conductorRound());
    }
  }
  return {
    conductor: medianSample(conductor),
    reference: medianSample(reference),
    roundRatios: ratioRange(conductor, reference),
  };
}

/**
 * Returns the spread of the ratios of rounds run next to each other. It
 * shows how far one run's median ratio can be trusted, since the reference
 * moves as much as conductor on this machine.
 */
function ratioRange(
  conductor: readonly Sample[],
  reference: readonly Sample[],
): RatioRange {
  const ratios = conductor.map(
    (sample, round) => sample.perSecond / (reference[round] as Sample).perSecond,
  );
  return { low: Math.min(...ratios), high: Math.max(...ratios) };
}

/** Returns the loopback address of a child server. */
export function addressOf(child: Child): string {
  return `127.0.0.1:${child.port}`;
}

/** The directory CPU profiles go to when --profile is given without one. */
export const DEFAULT_PROFILE_DIR = join(process.cwd(), "bench-profiles");
