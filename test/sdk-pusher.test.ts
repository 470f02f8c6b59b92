import { createChannel, createClient, createServer } from "nice-grpc";
import { afterEach, describe, expect, it } from "vitest";
import { clientDefinition } from "../clients/ts/src/definition.js";
import { ConductorService } from "../clients/ts/src/gen/conductor/v1/conductor_pb.js";
import { binaryPayload } from "../clients/ts/src/payloads.js";
import { Pusher } from "../clients/ts/src/pusher.js";

const cleanups: (() => void)[] = [];

afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup();
});

/**
 * Starts a server whose PushPipeline responds to the first message and
 * then ends the stream with OK, as no conductor server does, and returns
 * a Pusher connected to it.
 */
async function pusherOfEarlyEndingServer(): Promise<Pusher> {
  const definition = clientDefinition(ConductorService);
  const server = createServer();
  server.add(
    { pushPipeline: definition.pushPipeline },
    {
      async *pushPipeline(requests: AsyncIterable<unknown>) {
        for await (const _ of requests) {
          yield { lastSequence: 1n };
          return;
        }
      },
    },
  );
  const port = await server.listen("127.0.0.1:0");
  const channel = createChannel(`127.0.0.1:${port}`);
  cleanups.push(() => {
    channel.close();
    server.forceShutdown();
  });
  const client = createClient(definition, channel);
  return new Pusher(client, 1n, "lease", {
    signal: new AbortController().signal,
    onFailure: () => {},
  });
}

describe("runner SDK pusher", () => {
  it("fails pushes after the server ends the stream early", async () => {
    const pusher = await pusherOfEarlyEndingServer();
    await pusher.push([binaryPayload(new Uint8Array([1]))]);
    // Gives the end of the stream time to arrive before the next push.
    await new Promise((resolve) => setTimeout(resolve, 200));

    const error = await pusher
      .push([binaryPayload(new Uint8Array([2]))])
      .catch((e: unknown) => e);

    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toContain("ended before every push was stored");
  });
});
