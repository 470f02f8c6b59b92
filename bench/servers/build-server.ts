import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { childSettings, serveCommands } from "../lib/child.js";

/** Settings of a server started from another build of conductor. */
export interface BuildServerSettings {
  /** A compiled `src` directory: `dist` after `npm run build`. */
  readonly build: string;
  /** Results of 64 B buffered in one job before the calls start. */
  readonly results: number;
}

const { build, results } = childSettings<BuildServerSettings>();
const load = (file: string) => import(pathToFileURL(resolve(build, file)).href);
const { startServer } = await load("server.js");
const { jsonPayload } = await load("core/payloads.js");

const server = await startServer({ address: "127.0.0.1:0", maxData: results });
const { conductor } = server;
const ticket: bigint = await conductor.store.create({
  kind: "bench",
  input: jsonPayload(null),
  maxRetries: 0,
});
const { lease } = await conductor.store.start(ticket);
const payload = { data: { case: "binary", value: Buffer.alloc(64, 7) } };
for (let pushed = 0; pushed < results; pushed += 100) {
  await conductor.push(ticket, lease, new Array(100).fill(payload));
}

serveCommands(server.port, {
  ticket: () => ticket,
});
