import { ServerInterceptingCall, type ServerInterceptor } from "@grpc/grpc-js";
import { Status } from "nice-grpc";
import { Counter, Histogram, type Registry } from "prom-client";

const LABELS = ["grpc_service", "grpc_method", "grpc_type"] as const;

type MethodType = "unary" | "client_stream" | "server_stream" | "bidi_stream";

/** The parts of a method that name and type its metrics. */
interface Method {
  readonly path: string;
  readonly requestStream: boolean;
  readonly responseStream: boolean;
}

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
 * streaming calls the time is the life of the stream. Calls are counted
 * by the grpc-js interceptor that `interceptor` returns.
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

  /**
   * Returns a grpc-js server interceptor that counts each call with the
   * status the server sends. A call that ends before the server sends a
   * status counts as CANCELLED: its client cancelled it or went away, or
   * grpc-js ended it on its own, as when its deadline passed.
   *
   * NOTE: a grpc-js client ends its request stream just before it resets a
   * call it cancels, so the handler can finish as if the stream were
   * complete. When its status goes out before the reset arrives, as it
   * often does for PushStream and PushPipeline, the call counts with that
   * status, usually OK. grpc-js keeps the reset code in a private field.
   */
  interceptor(): ServerInterceptor {
    return (method, call) => {
      const end = this.#start(method);
      let ended = false;
      const endOnce = (code: Status) => {
        if (ended) return;
        ended = true;
        end(code);
      };
      return new ServerInterceptingCall(call, {
        // grpc-js reports a cancel after every call, so only a cancel that
        // comes before the status counts.
        start: (next) => next({ onCancel: () => endOnce(Status.CANCELLED) }),
        sendStatus: (status, next) => {
          endOnce(status.code as number as Status);
          next(status);
        },
      });
    };
  }

  /** Counts a call as started; call the function it returns with its final status. */
  #start(method: Method): (code: Status) => void {
    const metrics = this.#metricsOf(method);
    const startMs = performance.now();
    metrics.started.inc();
    return (code) => {
      metrics.handlingSeconds.observe((performance.now() - startMs) / 1000);
      handledChild(metrics, code).inc();
    };
  }

  #metricsOf(method: Method): MethodMetrics {
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
function methodLabels(method: Method): string[] {
  const [, service = "", name = ""] = method.path.split("/");
  return [service, name, methodType(method)];
}

function methodType(method: Method): MethodType {
  if (method.requestStream)
    return method.responseStream ? "bidi_stream" : "client_stream";
  return method.responseStream ? "server_stream" : "unary";
}
