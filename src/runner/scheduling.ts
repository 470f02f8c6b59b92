import type { JobQueue, QueuedJob } from "./job-queue.js";
import type { RunnerConnection } from "./runner-connection.js";

/**
 * Picks the runner with room for a job of `kind` that has the lowest share
 * of its concurrency in use. On a tie it picks the one that got a job least
 * recently, so equal runners take turns. Returns undefined when none has
 * room.
 */
export function freeRunner(
  runners: Iterable<RunnerConnection>,
  kind: string,
): RunnerConnection | undefined {
  let best: RunnerConnection | undefined;
  for (const runner of runners) {
    if (!runner.accepts(kind)) continue;
    if (!best || isPreferred(runner, best)) best = runner;
  }
  return best;
}

function isPreferred(runner: RunnerConnection, other: RunnerConnection): boolean {
  if (runner.load !== other.load) return runner.load < other.load;
  return runner.lastAssignment < other.lastAssignment;
}

/**
 * Picks the oldest waiting job, over all kinds, that some runner has room
 * for, and the runner to give it to. Returns undefined when no waiting job
 * can be assigned now.
 */
export function nextAssignment(
  queue: JobQueue,
  runners: ReadonlyMap<string, RunnerConnection>,
): { job: QueuedJob; runner: RunnerConnection } | undefined {
  let best: { job: QueuedJob; runner: RunnerConnection } | undefined;
  for (const kind of queue.kinds()) {
    const job = queue.peek(kind);
    if (!job || (best && best.job.order < job.order)) continue;
    const runner = freeRunner(runners.values(), kind);
    if (runner) best = { job, runner };
  }
  return best;
}
