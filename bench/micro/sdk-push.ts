import { binaryPayload, type Payload } from "../../clients/ts/src/index.js";
import { encodePushPipelineRequest } from "../../clients/ts/src/push-encoding.js";
import { Pusher } from "../../clients/ts/src/pusher.js";
import { median } from "../lib/stats.js";

/**
 * Times the runner SDK's side of pushing results, in one process and
 * without gRPC. The SDK's pusher sends to a stand-in for the PushPipeline
 * call, which encodes each message as the client does before sending it
 * and responds to it at once. Prints the median time per push call over five
 * rounds of 102,400 results of 64 B, at 1 and at 256 results per call, as
 * the ingest scenario's runner SDK rows push them.
 *
 * usage: node dist/benchmarks/bench/micro/sdk-push.js
 */

const RESULTS = 102_400;
const ROUNDS = 5;

type Client = ConstructorParameters<typeof Pusher>[0];
type Request = Parameters<typeof encodePushPipelineRequest>[0];

/** Stands in for the PushPipeline call: encodes every message and responds to it at once. */
const client = {
  pushPipeline(requests: AsyncIterable<Request>) {
    return (async function* () {
      let lastSequence = 0n;
      for await (const request of requests) {
        encodePushPipelineRequest(request);
        lastSequence += BigInt(request.results?.length ?? 0);
        yield { lastSequence };
      }
    })();
  },
} as unknown as Client;

const bytes = new Uint8Array(64).fill(1);
const payloads: Payload[] = Array.from({ length: RESULTS }, () => binaryPayload(bytes));

async function round(perPush: number): Promise<number> {
  const pusher = new Pusher(client, 1n, "lease", {
    signal: new AbortController().signal,
    onFailure: (error) => {
      throw error;
    },
  });
  const startMs = performance.now();
  let last: Promise<bigint> | undefined;
  for (let i = 0; i < RESULTS; i += perPush) {
    last = pusher.push(payloads.slice(i, i + perPush));
  }
  const lastSequence = await last;
  await pusher.flush();
  const microseconds = ((performance.now() - startMs) * 1000 * perPush) / RESULTS;
  if (lastSequence !== BigInt(RESULTS)) {
    throw new Error(
      `the last push reported sequence ${lastSequence}; expected ${RESULTS}`,
    );
  }
  return microseconds;
}

for (const perPush of [1, 256]) {
  await round(perPush);
  const times: number[] = [];
  for (let i = 0; i < ROUNDS; i++) times.push(await round(perPush));
  console.log(
    `push of ${perPush} result${perPush === 1 ? "" : "s"} of 64 B: ${median(times).toFixed(2)} µs per call`,
  );
}
