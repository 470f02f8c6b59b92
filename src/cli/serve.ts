import { constants } from "node:os";
import type { Logger } from "pino";
import { createLogger } from "../observability/logger.js";
import { type ConductorServer, startServer } from "../server.js";
import { CliError, ExitCode } from "./exit-codes.js";
import { type ServeSettings, settingsForLog } from "./serve-settings.js";

/**
 * Runs a server with `settings` until SIGTERM or SIGINT, then shuts it
 * down gracefully. Resolves once the shutdown is complete; a second signal
 * during the shutdown exits the process at once with 128 + the signal
 * number.
 */
export async function serve(settings: ServeSettings): Promise<void> {
  const logger = createLogger(settings.logLevel);
  const server = await startServer({
    ...settings,
    address: settings.listen,
    logger,
  }).catch((error: unknown) => {
    const reason = error instanceof Error ? error.message : String(error);
    throw new CliError(`cannot start the server: ${reason}`, ExitCode.error);
  });
  // Signal handlers come first, so that a signal sent as soon as the log
  // line appears finds them.
  const stopped = untilShutDown(server, settings.gracePeriodMs, logger);
  logger.info(
    {
      port: server.port,
      metricsPort: server.metricsPort,
      settings: settingsForLog(settings),
    },
    "server started",
  );
  await stopped;
}

function untilShutDown(server: ConductorServer, gracePeriodMs: number, logger: Logger) {
  return new Promise<void>((resolve, reject) => {
    let stopping = false;
    const onSignal = (signal: NodeJS.Signals) => {
      if (stopping) {
        logger.warn({ signal }, "second signal during shutdown: exiting at once");
        process.exit(128 + constants.signals[signal]);
      }
      stopping = true;
      logger.info({ signal, gracePeriodMs }, "shutdown started");
      server.shutdown(gracePeriodMs).then(
        () => {
          process.off("SIGINT", onSignal);
          process.off("SIGTERM", onSignal);
          logger.info("shutdown complete");
          resolve();
        },
        (error: unknown) => reject(error),
      );
    };
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
  });
}
