import { statSync } from "node:fs";
import path from "node:path";
import { DEFAULT_RETAIN_BYTES } from "../core/memory-store.js";
import { MAX_TIMER_MS } from "../core/timers.js";
import { splitHostPort } from "../observability/address.js";
import { LOG_LEVELS, type LogLevel } from "../observability/logger.js";
import { BUILT_IN_KINDS, DEFAULT_OPTIONS } from "../server.js";

/** Largest count or size setting; gRPC message limits are 32-bit too. */
const MAX_INT32 = 2 ** 31 - 1;

/** Every setting of `conductor serve`, parsed and checked. */
export interface ServeSettings {
  readonly listen: string;
  readonly timeoutMs: number;
  readonly maxData: number;
  readonly maxTickets: number;
  readonly maxQueuedJobs: number;
  readonly queueTimeoutMs: number;
  readonly runnerTimeoutMs: number;
  readonly runnerKinds: readonly string[] | undefined;
  readonly maxMessageBytes: number;
  readonly retainBytes: number;
  readonly digestRoot: string;
  readonly metricsAddress: string;
  readonly logLevel: LogLevel;
  readonly gracePeriodMs: number;
}

type Key = keyof ServeSettings;

/** One setting: its flag, environment variable, help text and parser. */
export interface SettingDefinition<K extends Key = Key> {
  readonly key: K;
  /** Long flag, such as "--timeout-ms"; commander names its value `key`. */
  readonly flag: string;
  /** Placeholder of the value in help text, usually its unit. */
  readonly valueName: string;
  readonly env: string;
  readonly description: string;
  /** The default as it is written on the command line. */
  readonly defaultRaw: string;
  /** The default as help text shows it. */
  readonly defaultText: string;
  /** Kept out of logs when true. */
  readonly secret?: boolean;
  /** Parses a raw value; throws a RangeError whose message states the allowed values. */
  readonly parse: (raw: string) => ServeSettings[K];
}

function define<K extends Key>(
  definition: Omit<SettingDefinition<K>, "defaultText"> & { defaultText?: string },
): SettingDefinition {
  const defaultText = definition.defaultText ?? definition.defaultRaw;
  return { ...definition, defaultText } as unknown as SettingDefinition;
}

/** The settings of `conductor serve`, in the order help shows them. */
export const SERVE_SETTINGS: readonly SettingDefinition[] = [
  define({
    key: "listen",
    flag: "--listen",
    valueName: "address",
    env: "CONDUCTOR_LISTEN",
    description:
      "gRPC listen address as host:port, [ipv6]:port or :port (all interfaces); port 0 picks a free port",
    defaultRaw: DEFAULT_OPTIONS.address,
    parse: (raw) => {
      splitHostPort(raw);
      return raw;
    },
  }),
  define({
    key: "timeoutMs",
    flag: "--timeout-ms",
    valueName: "ms",
    env: "CONDUCTOR_TIMEOUT_MS",
    description:
      "milliseconds a finished ticket lives after its job ended or it was last read",
    defaultRaw: String(DEFAULT_OPTIONS.timeoutMs),
    parse: integer(1, MAX_TIMER_MS, "milliseconds"),
  }),
  define({
    key: "maxData",
    flag: "--max-data",
    valueName: "results",
    env: "CONDUCTOR_MAX_DATA",
    description:
      "undelivered results held per ticket before pushes wait; as many delivered ones are kept for resumed streams",
    defaultRaw: String(DEFAULT_OPTIONS.maxData),
    parse: integer(1, MAX_INT32, "results"),
  }),
  define({
    key: "maxTickets",
    flag: "--max-tickets",
    valueName: "tickets",
    env: "CONDUCTOR_MAX_TICKETS",
    description: "live tickets before Exec fails with RESOURCE_EXHAUSTED",
    defaultRaw: String(DEFAULT_OPTIONS.maxTickets),
    parse: integer(1, MAX_INT32, "tickets"),
  }),
  define({
    key: "maxQueuedJobs",
    flag: "--max-queued-jobs",
    valueName: "jobs",
    env: "CONDUCTOR_MAX_QUEUED_JOBS",
    description:
      "jobs that may wait for a runner at once, over all kinds; Exec beyond that fails with RESOURCE_EXHAUSTED",
    defaultRaw: String(DEFAULT_OPTIONS.maxQueuedJobs),
    parse: integer(0, MAX_INT32, "jobs"),
  }),
  define({
    key: "queueTimeoutMs",
    flag: "--queue-timeout-ms",
    valueName: "ms",
    env: "CONDUCTOR_QUEUE_TIMEOUT_MS",
    description: "milliseconds a job waits for a runner before it fails with UNAVAILABLE",
    defaultRaw: String(DEFAULT_OPTIONS.queueTimeoutMs),
    parse: integer(1, MAX_TIMER_MS, "milliseconds"),
  }),
  define({
    key: "runnerTimeoutMs",
    flag: "--runner-timeout-ms",
    valueName: "ms",
    env: "CONDUCTOR_RUNNER_TIMEOUT_MS",
    description:
      "milliseconds a runner may send nothing before it counts as lost; runners are asked for a heartbeat three times as often",
    defaultRaw: String(DEFAULT_OPTIONS.runnerTimeoutMs),
    parse: integer(3, MAX_TIMER_MS, "milliseconds"),
  }),
  define({
    key: "runnerKinds",
    flag: "--runner-kinds",
    valueName: "kinds",
    env: "CONDUCTOR_RUNNER_KINDS",
    description:
      "comma-separated job kinds runners may serve, none of them built in; empty lets runners serve any kind that is not built in",
    defaultRaw: "",
    defaultText: '"" (any kind)',
    parse: kindList,
  }),
  define({
    key: "maxMessageBytes",
    flag: "--max-message-bytes",
    valueName: "bytes",
    env: "CONDUCTOR_MAX_MESSAGE_BYTES",
    description: "largest gRPC request message the server accepts, in bytes",
    defaultRaw: String(DEFAULT_OPTIONS.maxMessageBytes),
    defaultText: `${DEFAULT_OPTIONS.maxMessageBytes} (4 MiB)`,
    parse: integer(1024, MAX_INT32, "bytes"),
  }),
  define({
    key: "retainBytes",
    flag: "--retain-bytes",
    valueName: "bytes",
    env: "CONDUCTOR_RETAIN_BYTES",
    description:
      "payload bytes of delivered results kept per ticket so that a broken Subscribe can resume (at least max-data results are kept)",
    defaultRaw: String(DEFAULT_RETAIN_BYTES),
    defaultText: `${DEFAULT_RETAIN_BYTES} (1 MiB)`,
    parse: integer(0, MAX_INT32, "bytes"),
  }),
  define({
    key: "digestRoot",
    flag: "--digest-root",
    valueName: "dir",
    env: "CONDUCTOR_DIGEST_ROOT",
    description: "existing directory the built-in digest job kind may read",
    defaultRaw: DEFAULT_OPTIONS.digestRoot,
    defaultText: '"." (the working directory)',
    parse: directory,
  }),
  define({
    key: "metricsAddress",
    flag: "--metrics-address",
    valueName: "address",
    env: "CONDUCTOR_METRICS_ADDRESS",
    description:
      "host:port of the Prometheus endpoint GET /metrics; empty turns metrics off",
    defaultRaw: "",
    defaultText: '"" (off)',
    parse: (raw) => {
      if (raw !== "") splitHostPort(raw);
      return raw;
    },
  }),
  define({
    key: "logLevel",
    flag: "--log-level",
    valueName: "level",
    env: "CONDUCTOR_LOG_LEVEL",
    description: `least severe log level written: ${LOG_LEVELS.join(", ")}`,
    defaultRaw: "info",
    parse: (raw) => {
      const level = LOG_LEVELS.find((name) => name === raw);
      if (!level) throw new RangeError(`must be one of ${LOG_LEVELS.join(", ")}`);
      return level;
    },
  }),
  define({
    key: "gracePeriodMs",
    flag: "--grace-period-ms",
    valueName: "ms",
    env: "CONDUCTOR_GRACE_PERIOD_MS",
    description:
      "milliseconds running jobs and open Subscribe streams get to finish after SIGTERM or SIGINT",
    defaultRaw: "25000",
    parse: integer(0, MAX_TIMER_MS, "milliseconds"),
  }),
];

/** A raw setting value and where it came from. */
export interface RawSetting {
  readonly value: string;
  readonly source: "cli" | "env" | "default";
}

/**
 * Parses every setting and returns them, or throws a RangeError that lists
 * each invalid one by the flag or variable it came from.
 */
export function parseServeSettings(raw: (definition: SettingDefinition) => RawSetting) {
  const settings: Record<string, unknown> = {};
  const problems: string[] = [];
  for (const definition of SERVE_SETTINGS) {
    const { value, source } = raw(definition);
    try {
      settings[definition.key] = definition.parse(value);
    } catch (error) {
      const name =
        source === "env" ? `${definition.env} (${definition.flag})` : definition.flag;
      const reason = error instanceof Error ? error.message : String(error);
      problems.push(`invalid ${name} ${JSON.stringify(value)}: ${reason}`);
    }
  }
  if (problems.length > 0) throw new RangeError(problems.join("\n"));
  return settings as unknown as ServeSettings;
}

/**
 * Returns the settings as the start-up log shows them: secrets replaced,
 * and unset ones (an empty --runner-kinds) as null, because JSON drops
 * undefined values.
 */
export function settingsForLog(
  settings: ServeSettings,
  definitions: readonly SettingDefinition[] = SERVE_SETTINGS,
): Record<string, unknown> {
  const shown: Record<string, unknown> = {};
  for (const { key, secret } of definitions) {
    shown[key] = secret ? "[redacted]" : (settings[key] ?? null);
  }
  return shown;
}

function integer(min: number, max: number, unit: string) {
  return (raw: string): number => {
    const value = /^\d+$/.test(raw) ? Number(raw) : Number.NaN;
    if (!(value >= min && value <= max)) {
      throw new RangeError(`must be a whole number of ${unit} from ${min} to ${max}`);
    }
    return value;
  };
}

function kindList(raw: string): readonly string[] | undefined {
  if (raw.trim() === "") return undefined;
  const kinds = raw.split(",").map((kind) => kind.trim());
  if (kinds.some((kind) => kind === "")) {
    throw new RangeError("must be job kinds separated by commas, with no empty kind");
  }
  const builtIn = kinds.filter((kind) => BUILT_IN_KINDS.includes(kind));
  if (builtIn.length > 0) {
    throw new RangeError(
      `must leave out built-in kinds, which the server runs itself: ${builtIn.join(", ")}`,
    );
  }
  return kinds;
}

function directory(raw: string): string {
  const resolved = path.resolve(raw);
  const stat = statSync(resolved, { throwIfNoEntry: false });
  if (!stat?.isDirectory()) throw new RangeError("must be an existing directory");
  return resolved;
}
