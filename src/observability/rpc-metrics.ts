import { type MethodDescriptor, Status } from "nice-grpc";
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
 * Counts calls by method and status code, and times them, under the
 * metric names of go-grpc-prometheus: grpc_server_started_total,
 * grpc_server_handled_total and grpc_server_handling_seconds. For
 * streaming calls the time is the life of the stream.
 */
export class RpcMetrics {
  readonly #started: Counter<string>;
  readonly #handled: Counter<string>;
  readonly #handlingSeconds: Histogram<string>;
  readonly #methods = new Map<string, MethodMetrics>();

  constructor(registry: Registry) {
    this.#started = new Counter({
      name: "grpc_server_started_total",
      help: "RPCs started on the server.",
      labelNames: LABELS,
      registers: [registry],
    });
    this.#handled = new Counter({
      name: "grpc_server_handled_total",
      help: "RPCs completed on the server, by status code.",
      labelNames: [...LABELS, "grpc_code"],
      registers: [registry],
    });
    this.#handlingSeconds = new Histogram({
      name: "grpc_server_handling_seconds",
      help: "Time from the start of an RPC to its status, in seconds.",
      labelNames: LABELS,
      buckets: [0.001, 0.005, 0.025, 0.1, 0.5, 2.5, 10, 60, 300],
      registers: [registry],
    });
  }

  /** Counts a call as started; call the function it returns with its final status. */
  start(method: MethodDescriptor): (code: Status) => void {
    const metrics = this.#metricsOf(method);
    const startMs = performance.now();
    metrics.started.inc();
    return (code) => {
      metrics.handlingSeconds.observe((performance.now() - startMs) / 1000);
      handledChild(metrics, code).inc();
    };
  }

  #metricsOf(method: MethodDescriptor): MethodMetrics {
    let metrics = this.#methods.get(method.path);
    if (!metrics) {
      const labels = methodLabels(method);
      metrics = {
        started: this.#started.labels(...labels),
        handlingSeconds: this.#handlingSeconds.labels(...labels),
        handled: this.#handled,
        labels,
        handledByCode: new Map(),
      };
      this.#methods.set(method.path, metrics);
    }
    return metrics;
  }
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
function methodLabels(method: MethodDescriptor): string[] {
  const [, service = "", name = ""] = method.path.split("/");
  return [service, name, methodType(method)];
}

function methodType(method: MethodDescriptor): MethodType {
  if (method.requestStream)
    return method.responseStream ? "bidi_stream" : "client_stream";
  return method.responseStream ? "server_stream" : "unary";
}
