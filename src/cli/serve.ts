import { constants } from "node:os";
import { format } from "node:util";
import { setLogger } from "@grpc/grpc-js";
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
  routeGrpcLogs(logger);
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

/**
 * Sends the log lines of grpc-js, such as "No address added" when the
 * port is taken, to `logger` as JSON lines marked `component: "grpc-js"`,
 * instead of as plain text on stderr. grpc-js keeps one logger per
 * process, so this affects every server and client in it.
 */
function routeGrpcLogs(logger: Logger): void {
  const grpcLogger = logger.child({ component: "grpc-js" });
  setLogger({
    error: (...args: unknown[]) => grpcLogger.error(format(...args)),
    info: (...args: unknown[]) => grpcLogger.info(format(...args)),
    debug: (...args: unknown[]) => grpcLogger.debug(format(...args)),
  });
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
