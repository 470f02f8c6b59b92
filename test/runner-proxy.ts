import { connect, createServer, type Server, type Socket } from "node:net";
import { afterEach } from "vitest";

/** A TCP proxy on loopback whose connections can be made to stall. */
export interface StallingProxy {
  /** Address to connect to instead of the target, as host:port. */
  readonly address: string;
  /** Connections accepted so far. */
  readonly connectionCount: number;
  /**
   * Stops forwarding on every open connection, in both directions,
   * without closing any socket, as a vanished host or a broken middlebox
   * would. Connections accepted later are forwarded as usual.
   */
  stall(): void;
}

const open: { server: Server; sockets: Socket[] }[] = [];

afterEach(async () => {
  for (const { server, sockets } of open.splice(0)) {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => server.close(resolve));
  }
});

/**
 * Starts a proxy on 127.0.0.1 and a free port that forwards each
 * connection to `target` (host:port). It is closed after the test, with
 * every socket it opened.
 */
export async function startStallingProxy(target: string): Promise<StallingProxy> {
  const index = target.lastIndexOf(":");
  const host = target.slice(0, index);
  const port = Number(target.slice(index + 1));
  const sockets: Socket[] = [];
  let forwarding: [Socket, Socket][] = [];
  const server = createServer((client) => {
    const upstream = connect(port, host);
    sockets.push(client, upstream);
    forwarding.push([client, upstream]);
    // Sockets that a peer resets or the teardown destroys need no handling.
    client.on("error", () => {});
    upstream.on("error", () => {});
    client.pipe(upstream);
    upstream.pipe(client);
  });
  open.push({ server, sockets });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port: proxyPort } = server.address() as { port: number };
  return {
    address: `127.0.0.1:${proxyPort}`,
    get connectionCount() {
      return sockets.length / 2;
    },
    stall() {
      for (const [client, upstream] of forwarding) {
        client.unpipe(upstream);
        upstream.unpipe(client);
        client.pause();
        upstream.pause();
      }
      forwarding = [];
    },
  };
}
