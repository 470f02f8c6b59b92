/**
 * A runner process for tests. argv[2] is JSON {address, name, kinds}: each
 * kind maps to a behaviour. Every event goes to stdout as one JSON line.
 *
 *   "count": pushes input.count numbered results without awaiting each,
 *            then returns, so the SDK must flush them before Finish.
 *   "hold":  pushes input.count numbered results, awaiting each, then
 *            waits until its signal aborts.
 *   "sigterm": pushes input.count numbered results, waits for SIGTERM,
 *            then pushes one more and returns. The runner drains on
 *            SIGTERM, so the process exits once that job has finished.
 */
import { toJson } from "@bufbuild/protobuf";
import { ValueSchema } from "@bufbuild/protobuf/wkt";
import {
  connectRunner,
  type JobContext,
  type JobHandler,
  jsonPayload,
  type Payload,
} from "../clients/ts/src/index.js";

export type Behaviour = "count" | "hold" | "sigterm";

interface ChildConfig {
  readonly address: string;
  readonly name: string;
  readonly kinds: Record<string, Behaviour>;
}

const config = JSON.parse(process.argv[2] ?? "{}") as ChildConfig;

function emit(event: Record<string, unknown>): void {
  process.stdout.write(
    `${JSON.stringify(event, (_, v) => (typeof v === "bigint" ? String(v) : v))}\n`,
  );
}

function countOf(input: Payload): number {
  if (input.data.case !== "json") return 0;
  const value = toJson(ValueSchema, input.data.value) as { count?: number };
  return value.count ?? 0;
}

function started(context: JobContext): void {
  emit({ event: "started", ticket: context.ticket, attempt: context.attempt });
}

const behaviours: Record<Behaviour, JobHandler> = {
  async count(input, context) {
    started(context);
    const count = countOf(input);
    for (let n = 1; n <= count; n++)
      void context.push(jsonPayload({ n })).catch(() => {});
  },
  async hold(input, context) {
    started(context);
    for (let n = 1; n <= countOf(input); n++) await context.push(jsonPayload({ n }));
    emit({ event: "pushed", ticket: context.ticket, count: countOf(input) });
    await new Promise((resolve) => context.signal.addEventListener("abort", resolve));
  },
  async sigterm(input, context) {
    started(context);
    const count = countOf(input);
    for (let n = 1; n <= count; n++) await context.push(jsonPayload({ n }));
    const terminated = new Promise((resolve) => process.once("SIGTERM", resolve));
    emit({ event: "pushed", ticket: context.ticket, count });
    await terminated;
    await context.push(jsonPayload({ n: count + 1 }));
  },
};

const kinds = Object.fromEntries(
  Object.entries(config.kinds).map(([kind, behaviour]) => [kind, behaviours[behaviour]]),
);
const runner = connectRunner({
  address: config.address,
  name: config.name,
  kinds,
  drainOnSigterm: true,
});
runner.registered.then((id) => emit({ event: "registered", id }));
runner.closed.then(
  () => emit({ event: "closed" }),
  (error: unknown) => emit({ event: "failed", message: String(error) }),
);
