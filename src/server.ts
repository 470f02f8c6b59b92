import { createServer, type Server } from "nice-grpc";
import { errorDetailsServerMiddleware } from "nice-grpc-error-details";
import {
  HealthDefinition,
  HealthServiceImpl,
  HealthState,
} from "nice-grpc-server-health";
import { type Logger, pino } from "pino";
import { Conductor } from "./core/conductor.js";
import { MemoryStore } from "./core/memory-store.js";
import {
  ConductorService,
  file_conductor_v1_conductor,
} from "./gen/conductor/v1/conductor_pb.js";
import { file_conductor_v1_runner } from "./gen/conductor/v1/runner_pb.js";
import { file_google_rpc_error_details } from "./gen/google/rpc/error_details_pb.js";
import { file_grpc_health_v1_health } from "./gen/grpc/health/v1/health_pb.js";
import { digestKind } from "./jobs/digest.js";
import { RunnerHub } from "./runner/hub.js";
import { runnerDefinition, runnerService } from "./runner/runner-service.js";
import {
  conductorDefinition,
  conductorService,
  DEFAULT_LIMITS,
} from "./service/conductor-service.js";
import { errorMiddleware } from "./service/error-middleware.js";
import { reflectionServices } from "./service/reflection.js";

/** Settings of a conductor server. */
export interface ServerOptions {
  /** Address to listen on, such as "127.0.0.1:50051"; port 0 picks one. */
  readonly address: string;
  /** Undelivered results held per ticket before pushes wait. */
  readonly maxData: number;
  /** How long a finished ticket lives after its end or last read. */
  readonly timeoutMs: number;
  /** Largest request message accepted, in bytes. */
  readonly maxMessageBytes: number;
  /** Directory the built-in digest kind may read. */
  readonly digestRoot: string;
  /** How long a job waits for a runner before it fails with UNAVAILABLE. */
  readonly queueTimeoutMs: number;
  /** Jobs that may wait for a runner at once; Exec beyond that fails. */
  readonly maxQueuedJobs: number;
  /** How long a runner may send nothing before its jobs count as lost. */
  readonly runnerTimeoutMs: number;
  /**
   * Kinds runners may serve. When set, Exec of a kind neither built in nor
   * listed fails at once; when unset, every such kind waits for a runner.
   */
  readonly runnerKinds?: readonly string[] | undefined;
  readonly logger?: Logger | undefined;
}

export const DEFAULT_OPTIONS: ServerOptions = {
  address: "127.0.0.1:50051",
  maxData: 1000,
  timeoutMs: 300_000,
  maxMessageBytes: 4 << 20,
  digestRoot: ".",
  queueTimeoutMs: 30_000,
  maxQueuedJobs: 10_000,
  runnerTimeoutMs: 5_000,
};

/** A running server and the conductor it serves. */
export interface ConductorServer {
  readonly port: number;
  readonly conductor: Conductor;
  readonly store: MemoryStore;
  readonly health: HealthState;
  /** Stops at once: open calls end with UNAVAILABLE. */
  close(): Promise<void>;
}

const SERVICE_NAMES = [
  ConductorService.typeName,
  "conductor.v1.RunnerService",
  "grpc.health.v1.Health",
];

/** Starts a conductor server on the in-memory store. */
export async function startServer(
  options: Partial<ServerOptions> = {},
): Promise<ConductorServer> {
  const settings = { ...DEFAULT_OPTIONS, ...options };
  const logger = settings.logger ?? pino({ level: "silent" });
  const store = new MemoryStore(settings);
  const conductor = new Conductor(store);
  conductor.register("digest", digestKind(settings.digestRoot));
  const hub = new RunnerHub(store, {
    ...settings,
    builtInKinds: conductor.builtInKinds,
    logger,
  });
  conductor.setDispatcher(hub);

  const server = createServer({
    "grpc.max_receive_message_length": settings.maxMessageBytes,
  })
    .use(errorDetailsServerMiddleware)
    .use(errorMiddleware(logger));
  const health = HealthState();
  addServices(server, conductor, health);
  server.add(runnerDefinition, runnerService(hub));
  const port = await server.listen(settings.address);
  for (const name of ["", ...SERVICE_NAMES]) health.setStatus("healthy", name);

  return {
    port,
    conductor,
    store,
    health,
    async close() {
      for (const name of ["", ...SERVICE_NAMES]) health.setStatus("unhealthy", name);
      hub.close();
      server.forceShutdown();
      await conductor.close();
    },
  };
}

function addServices(server: Server, conductor: Conductor, health: HealthState) {
  server.add(conductorDefinition, conductorService(conductor, DEFAULT_LIMITS));
  server.add(HealthDefinition, HealthServiceImpl(health));
  const files = [
    file_conductor_v1_conductor,
    file_conductor_v1_runner,
    file_grpc_health_v1_health,
    file_google_rpc_error_details,
  ];
  for (const { definition, implementation } of reflectionServices(files, SERVICE_NAMES)) {
    server.add(definition, implementation);
  }
}
