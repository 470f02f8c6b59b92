import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Logger } from "pino";
import { splitHostPort } from "./address.js";
import type { ConductorMetrics } from "./metrics.js";

/** An HTTP server that serves the metrics at GET /metrics. */
export interface MetricsServer {
  readonly port: number;
  /** Stops listening and closes every connection, idle or not. */
  close(): Promise<void>;
}

/**
 * Serves `metrics` in the Prometheus text format on `address` ("host:port";
 * port 0 picks one) to GET and HEAD. Other methods on /metrics get 405,
 * and every other path gets 404.
 */
export async function startMetricsServer(
  address: string,
  metrics: ConductorMetrics,
  logger: Logger,
): Promise<MetricsServer> {
  const { host, port } = splitHostPort(address);
  const server = createServer((request, response) => {
    const path = request.url?.split("?")[0];
    if (path !== "/metrics") {
      response.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
      return;
    }
    if (request.method !== "GET" && request.method !== "HEAD") {
      response
        .writeHead(405, { "content-type": "text/plain", allow: "GET, HEAD" })
        .end("method not allowed: use GET\n");
      return;
    }
    metrics.render().then(
      (text) =>
        response.writeHead(200, { "content-type": metrics.contentType }).end(text),
      (error: unknown) => {
        logger.error({ err: error }, "metrics scrape failed");
        response.writeHead(500, { "content-type": "text/plain" }).end("scrape failed\n");
      },
    );
  });
  await listen(server, host, port);
  return {
    port: (server.address() as AddressInfo).port,
    close: () => closeServer(server),
  };
}

function listen(server: Server, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
