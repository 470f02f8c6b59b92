import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { childSettings, serveCommands } from "../lib/child.js";

/** Settings of a server started from another build of conductor. */
export interface BuildServerSettings {
  /** A compiled `src` directory: `dist` after `npm run build`. */
  readonly build: string;
  /** Results of 64 B buffered in one job for Pull calls; 0 for none. */
  readonly results: number;
  /** The server's maxData; room for a Subscribe backlog when not given. */
  readonly maxData?: number | undefined;
}

interface JobArgs {
  readonly ticket: bigint;
  readonly lease: string;
}

interface ProduceArgs extends JobArgs {
  readonly count: number;
  readonly sizeBytes: number;
}

const { build, results, maxData } = childSettings<BuildServerSettings>();
const load = (file: string) => import(pathToFileURL(resolve(build, file)).href);
const { startServer } = await load("server.js");
const { jsonPayload } = await load("core/payloads.js");

// By default, room for a Subscribe backlog of up to 100,000 results.
const server = await startServer({
  address: "127.0.0.1:0",
  maxData: maxData ?? Math.max(results, 100_000),
});
const { conductor } = server;

/** Creates a running job and returns the ticket and lease a runner would hold. */
async function job(): Promise<JobArgs> {
  const input = jsonPayload(null);
  const ticket: bigint = await conductor.store.create({
    kind: "bench",
    input,
    maxRetries: 0,
  });
  const { lease } = await conductor.store.start(ticket);
  return { ticket, lease };
}

const pullJob = await job();
const payload = { data: { case: "binary", value: Buffer.alloc(64, 7) } };
for (let pushed = 0; pushed < results; pushed += 100) {
  await conductor.push(pullJob.ticket, pullJob.lease, new Array(100).fill(payload));
}

serveCommands(server.port, {
  ticket: () => pullJob.ticket,
  job,
  async finish({ ticket, lease }: JobArgs): Promise<void> {
    await conductor.finish(ticket, lease);
  },
  /**
   * Pushes `count` results of `sizeBytes` one at a time, each push waiting
   * for room, then finishes.
   */
  async produce({ ticket, lease, count, sizeBytes }: ProduceArgs): Promise<void> {
    const result = { data: { case: "binary", value: Buffer.alloc(sizeBytes, 7) } };
    for (let i = 0; i < count; i++) await conductor.push(ticket, lease, [result]);
    await conductor.finish(ticket, lease);
  },
});
