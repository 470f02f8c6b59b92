import { createServer, type Server } from "nice-grpc";
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
import {
  file_grpc_reflection_v1_reflection,
  ServerReflection as ServerReflectionServiceV1,
} from "./gen/grpc/reflection/v1/reflection_pb.js";
import {
  file_grpc_reflection_v1alpha_reflection,
  ServerReflection as ServerReflectionServiceV1alpha,
} from "./gen/grpc/reflection/v1alpha/reflection_pb.js";
import { digestKind } from "./jobs/digest.js";
import { JobLog } from "./observability/logger.js";
import { ConductorMetrics } from "./observability/metrics.js";
import {
  type MetricsServer,
  startMetricsServer,
} from "./observability/metrics-server.js";
import { ObservedStore } from "./observability/observed-store.js";
import { RpcMetrics } from "./observability/rpc-metrics.js";
import { RunnerHub } from "./runner/hub.js";
import { runnerDefinition, runnerService } from "./runner/runner-service.js";
import { callGuard } from "./service/call-guard.js";
import {
  conductorDefinition,
  conductorService,
  DEFAULT_LIMITS,
} from "./service/conductor-service.js";
import { serverDefinition } from "./service/definition.js";
import { reflectionServices } from "./service/reflection.js";
import { ShutdownGate } from "./service/shutdown-gate.js";

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
  /** Live tickets before Exec fails with RESOURCE_EXHAUSTED. */
  readonly maxTickets: number;
  /**
   * Delivered results kept per ticket so that a broken Subscribe can
   * resume: at least this many (maxData when unset), and more while they
   * weigh under `retainBytes`.
   */
  readonly retainDelivered?: number | undefined;
  /** Payload bytes of delivered results kept per ticket; 1 MiB when unset. */
  readonly retainBytes?: number | undefined;
  /** Address of the Prometheus endpoint, such as "127.0.0.1:9464"; empty is off. */
  readonly metricsAddress?: string | undefined;
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
  maxTickets: 100_000,
};

/** Job kinds the server runs itself; runners cannot serve them. */
export const BUILT_IN_KINDS: readonly string[] = ["digest"];

/**
 * Time that calls ended by a shutdown get to send their status, and that
 * connections get to close, before the server closes them by force.
 */
const SHUTDOWN_FLUSH_MS = 2_000;

/** A running server and the conductor it serves. */
export interface ConductorServer {
  readonly port: number;
  readonly conductor: Conductor;
  readonly store: MemoryStore;
  readonly health: HealthState;
  /** Port of the metrics endpoint; undefined when metrics are off. */
  readonly metricsPort: number | undefined;
  /** Stops at once: open calls end with UNAVAILABLE. */
  close(): Promise<void>;
  /**
   * Stops gracefully. Health turns NOT_SERVING and Exec and runner Connect
   * calls fail with UNAVAILABLE at once. Running jobs and open Subscribe
   * streams get up to `graceMs` to finish. Then every call still open ends
   * with UNAVAILABLE "server is shutting down: REASON". REASON is "no job
   * is running and no Subscribe stream is open" or "the grace period of N
   * ms ended". Resolves once the server has let go of every socket and
   * timer.
   */
  shutdown(graceMs: number): Promise<void>;
}

const SERVICE_NAMES = [
  ConductorService.typeName,
  "conductor.v1.RunnerService",
  "grpc.health.v1.Health",
];

/** Services that reflection lists: the health-checked ones and itself. */
const REFLECTED_SERVICE_NAMES = [
  ...SERVICE_NAMES,
  ServerReflectionServiceV1.typeName,
  ServerReflectionServiceV1alpha.typeName,
];

/** Starts a conductor server on the in-memory store. */
export async function startServer(
  options: Partial<ServerOptions> = {},
): Promise<ConductorServer> {
  const settings = { ...DEFAULT_OPTIONS, ...options };
  const logger = settings.logger ?? pino({ level: "silent" });
  const jobLog = new JobLog(logger);
  let metrics: ConductorMetrics | undefined;
  const memoryStore = new MemoryStore({
    ...settings,
    onExpire: () => {
      jobLog.ticketExpired();
      metrics?.ticketExpired();
    },
  });
  const store = new ObservedStore(memoryStore, [jobLog]);
  const conductor = new Conductor(store);
  conductor.register("digest", digestKind(settings.digestRoot));
  const hub = new RunnerHub(store, {
    ...settings,
    builtInKinds: conductor.builtInKinds,
    logger,
  });
  conductor.setDispatcher(hub);
  const gate = new ShutdownGate();
  metrics = settings.metricsAddress
    ? new ConductorMetrics(
        {
          store,
          subscriberCount: () => gate.subscriberCount,
          runnerCount: () => hub.list().length,
        },
        { knownKinds: [...conductor.builtInKinds, ...(settings.runnerKinds ?? [])] },
      )
    : undefined;
  if (metrics) store.observe(metrics);

  const server = createServer({
    "grpc.max_receive_message_length": settings.maxMessageBytes,
    // grpc-js's own server option, passed through by nice-grpc.
    interceptors: metrics ? [new RpcMetrics(metrics.registry).interceptor()] : [],
  }).use(callGuard({ gate, logger }));
  const health = HealthState();
  addServices(server, conductor, health);
  server.add(serverDefinition(runnerDefinition), runnerService(hub));
  const port = await server.listen(settings.address);
  let metricsServer: MetricsServer | undefined;
  if (metrics && settings.metricsAddress) {
    metricsServer = await startMetricsServer(
      settings.metricsAddress,
      metrics,
      logger,
    ).catch(async (error: unknown) => {
      hub.close();
      server.forceShutdown();
      await conductor.close();
      throw error;
    });
  }
  const setHealth = (status: "healthy" | "unhealthy") => {
    for (const name of ["", ...SERVICE_NAMES]) health.setStatus(status, name);
  };
  setHealth("healthy");

  let shutdown: Promise<void> | undefined;
  return {
    port,
    conductor,
    store: memoryStore,
    health,
    metricsPort: metricsServer?.port,
    async close() {
      setHealth("unhealthy");
      hub.close();
      server.forceShutdown();
      await metricsServer?.close();
      await conductor.close();
    },
    shutdown(graceMs) {
      const parts = { server, gate, store, hub, conductor, metricsServer, logger };
      shutdown ??= shutdownGracefully(parts, setHealth, graceMs);
      return shutdown;
    },
  };
}

/** What a graceful shutdown stops, in the order it stops them. */
interface ServerParts {
  readonly server: Server;
  readonly gate: ShutdownGate;
  readonly store: ObservedStore;
  readonly hub: RunnerHub;
  readonly conductor: Conductor;
  readonly metricsServer: MetricsServer | undefined;
  readonly logger: Logger;
}

/** Implements ConductorServer.shutdown. */
async function shutdownGracefully(
  parts: ServerParts,
  setHealth: (status: "unhealthy") => void,
  graceMs: number,
): Promise<void> {
  const { server, gate, store, logger } = parts;
  setHealth("unhealthy");
  gate.startDraining();
  const drained = await withinMs(
    graceMs,
    Promise.all([store.whenNoJobRunning(), gate.whenNoSubscribers()]),
  );
  if (!drained) {
    logger.warn(
      {
        graceMs,
        runningJobs: store.runningCount,
        openSubscribeStreams: gate.subscriberCount,
      },
      "grace period ended: ending the calls still open",
    );
  }

  gate.endCalls(
    drained
      ? "server is shutting down: no job is running and no Subscribe stream is open"
      : `server is shutting down: the grace period of ${graceMs} ms ended`,
  );
  parts.hub.close();
  await withinMs(SHUTDOWN_FLUSH_MS, gate.whenNoCalls());
  // A failed graceful close is followed by the forced one below.
  await withinMs(
    SHUTDOWN_FLUSH_MS,
    server.shutdown().catch(() => undefined),
  );
  server.forceShutdown();
  await parts.metricsServer?.close();
  await parts.conductor.close();
}

/**
 * Waits for `promise` at most `ms` milliseconds; returns whether it
 * settled in time. The timer is cleared either way.
 */
async function withinMs(ms: number, promise: Promise<unknown>): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([promise.then(() => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function addServices(server: Server, conductor: Conductor, health: HealthState) {
  server.add(
    serverDefinition(conductorDefinition),
    conductorService(conductor, DEFAULT_LIMITS),
  );
  server.add(HealthDefinition, HealthServiceImpl(health));
  const files = [
    file_conductor_v1_conductor,
    file_conductor_v1_runner,
    file_grpc_health_v1_health,
    file_google_rpc_error_details,
    file_grpc_reflection_v1_reflection,
    file_grpc_reflection_v1alpha_reflection,
  ];
  const reflection = reflectionServices(files, REFLECTED_SERVICE_NAMES);
  for (const { definition, implementation } of reflection) {
    server.add(definition, implementation);
  }
}
