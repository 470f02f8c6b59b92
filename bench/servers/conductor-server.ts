import { jsonPayload } from "../../src/core/payloads.js";
import type { Payload } from "../../src/gen/conductor/v1/payload_pb.js";
import { startServer } from "../../src/server.js";
import { childSettings, serveCommands } from "../lib/child.js";
import { binaryPayloads } from "../lib/messages.js";

/** Settings of the conductor server under test. */
export interface ConductorServerSettings {
  readonly maxData: number;
  readonly timeoutMs: number;
}

interface JobArgs {
  readonly ticket: bigint;
  readonly lease: string;
}

interface ProduceArgs extends JobArgs {
  readonly count: number;
  readonly sizeBytes: number;
}

/** Distinct payloads a producing job cycles through. */
const PRODUCED_PAYLOADS = 1024;

/**
 * Payloads made once per size and kept across rounds. The bare server
 * encodes its messages before a round starts, so making 4 MiB of payloads
 * inside each timed round would charge conductor for work the reference
 * does not do.
 */
const payloadsBySize = new Map<number, Payload[]>();

function payloadsOf(sizeBytes: number): Payload[] {
  let payloads = payloadsBySize.get(sizeBytes);
  if (!payloads) {
    payloads = binaryPayloads(PRODUCED_PAYLOADS, sizeBytes);
    payloadsBySize.set(sizeBytes, payloads);
  }
  return payloads;
}

const settings = childSettings<ConductorServerSettings>();
const server = await startServer({ address: "127.0.0.1:0", ...settings });
const { conductor } = server;

serveCommands(server.port, {
  /** Creates a running job and returns the ticket and lease a runner would hold. */
  async job(): Promise<JobArgs> {
    const input = jsonPayload(null);
    const ticket = await conductor.store.create({ kind: "bench", input, maxRetries: 0 });
    const { lease } = await conductor.store.start(ticket);
    return { ticket, lease };
  },

  async finish({ ticket, lease }: JobArgs): Promise<void> {
    await conductor.finish(ticket, lease);
  },

  /**
   * Pushes `count` results one at a time from inside the server, each push
   * waiting for the previous one, then finishes the job.
   */
  async produce({ ticket, lease, count, sizeBytes }: ProduceArgs): Promise<void> {
    const payloads = payloadsOf(sizeBytes);
    for (let i = 0; i < count; i++) {
      await conductor.push(ticket, lease, [payloads[i % payloads.length]!]);
    }
    await conductor.finish(ticket, lease);
  },
});
