import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import type { JobState, TicketStore } from "../core/ticket-store.js";
import type { JobOutcome, StoreObserver } from "./observed-store.js";

const JOB_STATES: readonly JobState[] = [
  "queued",
  "running",
  "succeeded",
  "failed",
  "cancelled",
];

/**
 * Distinct job kinds, beyond the built-in and configured ones, that get a
 * `kind` label of their own. Without --runner-kinds any client can choose
 * kinds, and each kind adds six series (created, started, requeued and
 * three outcomes). A deployment typically runs a handful of kinds, so 100
 * leaves room for many while keeping what clients can add to about 600
 * series.
 */
export const MAX_KIND_LABELS = 100;

/** The `kind` label of jobs whose kind came after MAX_KIND_LABELS others. */
export const OVERFLOW_KIND = "_overflow";

/** Sources of the gauges read at scrape time. */
export interface MetricSources {
  /** Scanned once per scrape for ticket counts and buffered results. */
  readonly store: TicketStore;
  /** Open Subscribe streams. */
  readonly subscriberCount: () => number;
  /** Connected runners; the gauge reads 0 when absent. */
  readonly runnerCount?: (() => number) | undefined;
}

/** Settings of ConductorMetrics: process metrics, and kinds always labelled. */
export interface ConductorMetricsOptions {
  /** Adds prom-client's default metrics of the process; true when unset. */
  readonly processMetrics?: boolean;
  /**
   * Kinds that always get a `kind` label of their own, outside the
   * MAX_KIND_LABELS limit: the built-in ones and those in --runner-kinds.
   */
  readonly knownKinds?: readonly string[];
}

/**
 * The conductor's Prometheus metrics, in a registry of their own so that
 * several servers in one process do not share values.
 *
 * Counters on the result path are plain numbers added to the Prometheus
 * counters at scrape time, so a push or read costs one addition. Gauges are
 * read from their sources at scrape time instead of being kept up to date.
 */
export class ConductorMetrics implements StoreObserver {
  readonly registry = new Registry();
  readonly #sources: MetricSources;
  readonly #knownKinds: ReadonlySet<string>;
  /** Other kinds with a label of their own, at most MAX_KIND_LABELS. */
  readonly #labelledKinds = new Set<string>();
  #pushed = 0;
  #delivered = 0;
  #replayed = 0;
  #expired = 0;

  readonly #jobsCreated = this.#counter(
    "conductor_jobs_created_total",
    "Tickets created by Exec.",
    ["kind"],
  );
  readonly #jobsStarted = this.#counter(
    "conductor_jobs_started_total",
    "Job attempts started: first attempts and retries after a lost runner.",
    ["kind"],
  );
  readonly #jobsRequeued = this.#counter(
    "conductor_jobs_requeued_total",
    "Running jobs put back in the queue because their runner was lost.",
    ["kind"],
  );
  readonly #jobsFinished = this.#counter(
    "conductor_jobs_finished_total",
    "Jobs that ended, by outcome: succeeded, failed or cancelled.",
    ["kind", "outcome"],
  );
  readonly #resultsPushed = this.#counter(
    "conductor_results_pushed_total",
    "Results stored by pushes.",
  );
  readonly #resultsDelivered = this.#counter(
    "conductor_results_delivered_total",
    "Results handed to consumers by Pull and Subscribe for the first time.",
  );
  readonly #resultsReplayed = this.#counter(
    "conductor_results_replayed_total",
    "Results sent again to Subscribe streams that resumed after a break.",
  );
  readonly #ticketsExpired = this.#counter(
    "conductor_tickets_expired_total",
    "Finished tickets removed after their timeout.",
  );
  readonly #pushWait = new Histogram({
    name: "conductor_push_wait_seconds",
    help: "Time from a push call to the storing of its last result; above 0 when the ticket's buffer was full.",
    buckets: [0.001, 0.01, 0.1, 0.5, 1, 5, 15, 60],
    registers: [this.registry],
  });
  readonly #ticketsLive = this.#gauge(
    "conductor_tickets_live",
    "Live tickets by job state; queued is the queue depth.",
    ["state"],
  );
  readonly #resultsBuffered = this.#gauge(
    "conductor_results_buffered",
    "Results pushed and not yet delivered, over all tickets.",
  );
  readonly #subscribers = this.#gauge(
    "conductor_subscribers_active",
    "Open Subscribe streams.",
  );
  readonly #runners = this.#gauge("conductor_runners_connected", "Connected runners.");

  constructor(sources: MetricSources, options: ConductorMetricsOptions = {}) {
    this.#sources = sources;
    this.#knownKinds = new Set(options.knownKinds);
    if (options.processMetrics ?? true) {
      collectDefaultMetrics({ register: this.registry });
    }
  }

  /** Content-Type of the text that render returns. */
  get contentType(): string {
    return this.registry.contentType;
  }

  /** Reads the scrape-time values and returns every metric as text. */
  async render(): Promise<string> {
    this.#flushCounters();
    await this.#collectTickets();
    this.#subscribers.set(this.#sources.subscriberCount());
    this.#runners.set(this.#sources.runnerCount?.() ?? 0);
    return this.registry.metrics();
  }

  jobCreated(kind: string): void {
    this.#jobsCreated.labels(this.#kindLabel(kind)).inc();
  }

  jobStarted(_ticket: bigint, kind: string): void {
    this.#jobsStarted.labels(this.#kindLabel(kind)).inc();
  }

  jobRequeued(_ticket: bigint, kind: string): void {
    this.#jobsRequeued.labels(this.#kindLabel(kind)).inc();
  }

  jobEnded(_ticket: bigint, kind: string, outcome: JobOutcome): void {
    this.#jobsFinished.labels(this.#kindLabel(kind), outcome).inc();
  }

  resultsPushed(count: number, elapsedMs: number): void {
    this.#pushed += count;
    this.#pushWait.observe(elapsedMs / 1000);
  }

  resultsRead(count: number, replayed: boolean): void {
    if (replayed) this.#replayed += count;
    else this.#delivered += count;
  }

  /** Counts a ticket removed because its timeout passed. */
  ticketExpired(): void {
    this.#expired += 1;
  }

  /**
   * Returns the `kind` label of a job: its kind while fewer than
   * MAX_KIND_LABELS other kinds have labels, OVERFLOW_KIND after that.
   * A kind keeps the label it first got, so its jobs stay in one series.
   */
  #kindLabel(kind: string): string {
    if (this.#knownKinds.has(kind) || this.#labelledKinds.has(kind)) return kind;
    if (this.#labelledKinds.size >= MAX_KIND_LABELS) return OVERFLOW_KIND;
    this.#labelledKinds.add(kind);
    return kind;
  }

  #flushCounters(): void {
    this.#resultsPushed.inc(this.#pushed);
    this.#resultsDelivered.inc(this.#delivered);
    this.#resultsReplayed.inc(this.#replayed);
    this.#ticketsExpired.inc(this.#expired);
    this.#pushed = 0;
    this.#delivered = 0;
    this.#replayed = 0;
    this.#expired = 0;
  }

  /**
   * Counts live tickets by state and their buffered results.
   * NOTE: this lists every ticket, so a scrape costs time in proportion to
   * the live tickets; the store offers no running totals.
   */
  async #collectTickets(): Promise<void> {
    const snapshots = await this.#sources.store.list({ limit: Number.POSITIVE_INFINITY });
    const byState = new Map<JobState, number>(JOB_STATES.map((state) => [state, 0]));
    let buffered = 0;
    for (const snapshot of snapshots) {
      byState.set(snapshot.state, (byState.get(snapshot.state) ?? 0) + 1);
      buffered += snapshot.bufferedCount;
    }
    for (const [state, count] of byState) this.#ticketsLive.labels(state).set(count);
    this.#resultsBuffered.set(buffered);
  }

  #counter<L extends string>(name: string, help: string, labelNames: L[] = []) {
    return new Counter<L>({ name, help, labelNames, registers: [this.registry] });
  }

  #gauge<L extends string>(name: string, help: string, labelNames: L[] = []) {
    return new Gauge<L>({ name, help, labelNames, registers: [this.registry] });
  }
}
