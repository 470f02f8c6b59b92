#!/usr/bin/env node
import { parseArgs } from "node:util";
import { pino } from "pino";
import { DEFAULT_OPTIONS, startServer } from "../server.js";

const USAGE = `usage: conductor serve [options]

  --listen ADDRESS        address to listen on (CONDUCTOR_LISTEN, default ${DEFAULT_OPTIONS.address})
  --timeout-ms MS         life of a finished ticket after its end or last read (CONDUCTOR_TIMEOUT_MS, default ${DEFAULT_OPTIONS.timeoutMs})
  --max-data N            undelivered results held per ticket (CONDUCTOR_MAX_DATA, default ${DEFAULT_OPTIONS.maxData})
  --digest-root DIR       directory the digest job kind may read (CONDUCTOR_DIGEST_ROOT, default ${DEFAULT_OPTIONS.digestRoot})
`;

async function main(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      listen: { type: "string" },
      "timeout-ms": { type: "string" },
      "max-data": { type: "string" },
      "digest-root": { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help || positionals[0] !== "serve") {
    process.stdout.write(USAGE);
    process.exitCode = values.help ? 0 : 2;
    return;
  }
  const env = process.env;
  const logger = pino();
  const server = await startServer({
    address: values.listen ?? env.CONDUCTOR_LISTEN ?? DEFAULT_OPTIONS.address,
    timeoutMs: positive("timeout-ms", values["timeout-ms"] ?? env.CONDUCTOR_TIMEOUT_MS, DEFAULT_OPTIONS.timeoutMs),
    maxData: positive("max-data", values["max-data"] ?? env.CONDUCTOR_MAX_DATA, DEFAULT_OPTIONS.maxData),
    digestRoot: values["digest-root"] ?? env.CONDUCTOR_DIGEST_ROOT ?? DEFAULT_OPTIONS.digestRoot,
    logger,
  });
  logger.info({ port: server.port }, "conductor listening");
  const stop = () => {
    logger.info("conductor stopping");
    void server.close();
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
}

function positive(name: string, raw: string | undefined, fallback: number) {
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new Error(`invalid --${name} ${JSON.stringify(raw)}: must be a whole number of 1 or more`);
  }
  return value;
}

main(process.argv.slice(2)).catch((error: unknown) => {
  process.stderr.write(`conductor: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 2;
});
