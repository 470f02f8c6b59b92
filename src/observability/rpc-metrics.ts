import {
  type CallContext,
  ServerError,
  type ServerMiddleware,
  type ServerMiddlewareCall,
  Status,
} from "nice-grpc";
import { Counter, Histogram, type Registry } from "prom-client";

const LABELS = ["grpc_service", "grpc_method", "grpc_type"] as const;

type MethodType = "unary" | "client_stream" | "server_stream" | "bidi_stream";

/** The metric children of one method, looked up once per method. */
interface MethodMetrics {
  readonly started: Counter.Internal;
  readonly handlingSeconds: Histogram.Internal<string>;
  readonly handled: Counter<string>;
  readonly labels: readonly string[];
  /** Children of `handled` by status code. */
  readonly handledByCode: Map<Status, Counter.Internal>;
}

/**
 * Builds a server middleware that counts calls by method and status code,
 * and times them, under the metric names of go-grpc-prometheus:
 * grpc_server_started_total, grpc_server_handled_total and
 * grpc_server_handling_seconds. For streaming calls the time is the life of
 * the stream. Place it first, so that it sees the final status code.
 */
export function rpcMetricsMiddleware(registry: Registry): ServerMiddleware {
  const started = new Counter({
    name: "grpc_server_started_total",
    help: "RPCs started on the server.",
    labelNames: LABELS,
    registers: [registry],
  });
  const handled = new Counter({
    name: "grpc_server_handled_total",
    help: "RPCs completed on the server, by status code.",
    labelNames: [...LABELS, "grpc_code"],
    registers: [registry],
  });
  const handlingSeconds = new Histogram({
    name: "grpc_server_handling_seconds",
    help: "Time from the start of an RPC to its status, in seconds.",
    labelNames: LABELS,
    buckets: [0.001, 0.005, 0.025, 0.1, 0.5, 2.5, 10, 60, 300],
    registers: [registry],
  });
  const methods = new Map<string, MethodMetrics>();
  const metricsOf = (call: ServerMiddlewareCall<unknown, unknown>) => {
    let metrics = methods.get(call.method.path);
    if (!metrics) {
      const labels = methodLabels(call);
      metrics = {
        started: started.labels(...labels),
        handlingSeconds: handlingSeconds.labels(...labels),
        handled,
        labels,
        handledByCode: new Map(),
      };
      methods.set(call.method.path, metrics);
    }
    return metrics;
  };

  return async function* countCalls<Request, Response>(
    call: ServerMiddlewareCall<Request, Response>,
    context: CallContext,
  ) {
    const metrics = metricsOf(call as ServerMiddlewareCall<unknown, unknown>);
    const startMs = performance.now();
    metrics.started.inc();
    let code = Status.OK;
    try {
      return yield* call.next(call.request, context);
    } catch (error) {
      code = error instanceof ServerError ? error.code : Status.UNKNOWN;
      throw error;
    } finally {
      // The client went away: whatever the handler did, the call ended there.
      if (context.signal.aborted) code = Status.CANCELLED;
      metrics.handlingSeconds.observe((performance.now() - startMs) / 1000);
      handledChild(metrics, code).inc();
    }
  };
}

function handledChild(metrics: MethodMetrics, code: Status): Counter.Internal {
  let child = metrics.handledByCode.get(code);
  if (!child) {
    child = metrics.handled.labels(...metrics.labels, Status[code] ?? String(code));
    metrics.handledByCode.set(code, child);
  }
  return child;
}

/** Service, method and type labels from a path like /pkg.Service/Method. */
function methodLabels(call: ServerMiddlewareCall<unknown, unknown>): string[] {
  const [, service = "", method = ""] = call.method.path.split("/");
  return [service, method, methodType(call)];
}

function methodType(call: ServerMiddlewareCall<unknown, unknown>): MethodType {
  if (call.requestStream) return call.responseStream ? "bidi_stream" : "client_stream";
  return call.responseStream ? "server_stream" : "unary";
}
