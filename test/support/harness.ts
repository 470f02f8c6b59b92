import { type Channel, createChannel, createClientFactory } from "nice-grpc";
import { deadlineMiddleware } from "nice-grpc-client-middleware-deadline";
import { errorDetailsClientMiddleware } from "nice-grpc-error-details";
import { afterEach } from "vitest";
import {
  type ConductorServer,
  type ServerOptions,
  startServer,
} from "../../src/server.js";
import { conductorDefinition } from "../../src/service/conductor-service.js";

/** A server on a free loopback port and a client channel to it. */
export interface Harness {
  readonly server: ConductorServer;
  readonly address: string;
  readonly channel: Channel;
  readonly client: ReturnType<typeof conductorClient>;
}

const open: Harness[] = [];

afterEach(async () => {
  const harnesses = open.splice(0);
  await Promise.all(
    harnesses.map(async ({ server, channel }) => {
      channel.close();
      await server.close();
    }),
  );
});

/**
 * Starts a server for the current test. It and its channel are closed
 * after the test, whether it passed or not.
 */
export async function startHarness(
  options: Partial<ServerOptions> = {},
): Promise<Harness> {
  const server = await startServer({ address: "127.0.0.1:0", ...options });
  const address = `127.0.0.1:${server.port}`;
  const channel = createChannel(address);
  const harness = { server, address, channel, client: conductorClient(channel) };
  open.push(harness);
  return harness;
}

/**
 * Creates a ConductorService client that decodes google.rpc error details and
 * takes a `deadline` call option.
 */
export function conductorClient(channel: Channel) {
  return createClientFactory()
    .use(errorDetailsClientMiddleware)
    .use(deadlineMiddleware)
    .create(conductorDefinition, channel);
}
