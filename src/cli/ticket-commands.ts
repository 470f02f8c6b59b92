import { create } from "@bufbuild/protobuf";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { ClientError, Status } from "nice-grpc";
import {
  CancelResponseSchema,
  ExecResponseSchema,
  ListTicketsResponseSchema,
  type PullResponse,
  PullResponseSchema,
  type TicketStatus,
  TicketStatusSchema,
} from "../gen/conductor/v1/conductor_pb.js";
import { JobState } from "../gen/conductor/v1/payload_pb.js";
import { ListRunnersResponseSchema } from "../gen/conductor/v1/runner_pb.js";
import { type Connection, callDeadline } from "./client.js";
import { CliError, ExitCode, errorReason } from "./exit-codes.js";
import {
  escapeControlCharacters,
  formatAge,
  formatProgress,
  formatResult,
  formatStatus,
  formatTable,
  stateName,
} from "./format.js";
import { type InputOptions, readInput } from "./input.js";
import { printJson } from "./json.js";

/** Output format shared by the client commands. */
export interface OutputOptions {
  readonly json: boolean;
}

/** Starts a job and prints its ticket. */
export async function execJob(
  connection: Connection,
  kind: string,
  options: InputOptions & OutputOptions & { readonly maxRetries: number },
): Promise<bigint> {
  const input = await readInput(options);
  const { ticket } = await connection.conductor.exec(
    { kind, input, maxRetries: options.maxRetries },
    { deadline: callDeadline() },
  );
  if (options.json) printJson(ExecResponseSchema, create(ExecResponseSchema, { ticket }));
  else process.stdout.write(`${ticket}\n`);
  return ticket;
}

/** Prints a ticket's status without consuming anything. */
export async function showStatus(
  connection: Connection,
  ticket: bigint,
  options: OutputOptions,
): Promise<void> {
  const { status } = await connection.conductor.getStatus(
    { ticket },
    { deadline: callDeadline() },
  );
  const shown = status ?? create(TicketStatusSchema, { ticket });
  if (options.json) printJson(TicketStatusSchema, shown);
  else process.stdout.write(formatStatus(shown, Date.now()));
}

/** Filters and paging of `list`. */
export interface ListOptions extends OutputOptions {
  readonly state?: string | undefined;
  readonly kind?: string | undefined;
  /** Tickets per page. */
  readonly limit: number;
  /** Token of the first page to fetch, printed by an earlier `list`. */
  readonly pageToken?: string | undefined;
  /** Fetch page after page until no ticket is left. */
  readonly all: boolean;
}

/**
 * Prints one page of live tickets, newest first, or every page with
 * `all`. When more tickets exist, human-readable output ends with a hint
 * on stderr that names the next page token; JSON output carries it as
 * nextPageToken.
 */
export async function listTickets(connection: Connection, options: ListOptions) {
  const request = {
    state: options.state ? stateFromName(options.state) : JobState.UNSPECIFIED,
    kind: options.kind ?? "",
    pageSize: options.limit,
  };
  const fetchPage = (pageToken: string) =>
    connection.conductor.listTickets(
      { ...request, pageToken },
      { deadline: callDeadline() },
    );
  let page = await fetchPage(options.pageToken ?? "");
  const tickets = [...page.tickets];
  // This server never sends an empty page with a token, but such a page
  // would make the loop run forever.
  while (options.all && page.nextPageToken !== "" && page.tickets.length > 0) {
    page = await fetchPage(page.nextPageToken);
    tickets.push(...page.tickets);
  }
  const response = create(ListTicketsResponseSchema, {
    tickets,
    nextPageToken: options.all ? "" : page.nextPageToken,
  });
  if (options.json) {
    printJson(ListTicketsResponseSchema, response);
    return;
  }
  printTicketTable(response.tickets);
  if (response.nextPageToken !== "") {
    process.stderr.write(
      `more tickets exist: add --page-token ` +
        `${escapeControlCharacters(response.nextPageToken)} for the next ` +
        "page, or --all for every page\n",
    );
  }
}

function printTicketTable(tickets: readonly TicketStatus[]): void {
  if (tickets.length === 0) {
    process.stdout.write("no tickets\n");
    return;
  }
  const nowMs = Date.now();
  const header = [
    "TICKET",
    "KIND",
    "STATE",
    "AGE",
    "PUSHED",
    "DELIVERED",
    "BUFFERED",
    "PROGRESS",
  ];
  const rows = tickets.map((status) => [
    String(status.ticket),
    escapeControlCharacters(status.kind),
    stateName(status.state),
    status.createTime ? formatAge(nowMs - timestampMs(status.createTime)) : "-",
    String(status.pushedCount),
    String(status.deliveredCount),
    String(status.bufferedCount),
    formatProgress(status.progress),
  ]);
  process.stdout.write(formatTable([header, ...rows]));
}

/** Job state names `list --state` takes. */
export const STATE_NAMES = ["queued", "running", "succeeded", "failed", "cancelled"];

function stateFromName(name: string): JobState {
  const state = JobState[name.toUpperCase() as keyof typeof JobState];
  if (state === undefined || !STATE_NAMES.includes(name)) {
    throw new CliError(
      `invalid state "${name}": must be one of ${STATE_NAMES.join(", ")}`,
      ExitCode.usage,
    );
  }
  return state;
}

/** Cancels a job and prints its state afterwards. */
export async function cancelJob(
  connection: Connection,
  ticket: bigint,
  options: OutputOptions,
): Promise<void> {
  const response = await connection.conductor.cancel(
    { ticket },
    { deadline: callDeadline() },
  );
  if (options.json) {
    printJson(CancelResponseSchema, response);
    return;
  }
  const state = stateName(response.state);
  const note =
    response.state === JobState.CANCELLED ? "" : " (the job had already ended)";
  process.stdout.write(`ticket ${ticket}: ${state}${note}\n`);
}

/** Settings of `pull`. */
export interface PullOptions extends OutputOptions {
  readonly maxResults: number;
  readonly waitMs: number;
  readonly afterSequence?: bigint | undefined;
}

/**
 * Takes one batch of results and prints it. A job that succeeded with
 * every result delivered is reported as such and is no error.
 */
export async function pullResults(
  connection: Connection,
  ticket: bigint,
  options: PullOptions,
): Promise<void> {
  const request = {
    ticket,
    afterSequence: options.afterSequence,
    maxResults: options.maxResults,
    wait: {
      seconds: BigInt(Math.floor(options.waitMs / 1000)),
      nanos: (options.waitMs % 1000) * 1e6,
    },
  };
  let response: PullResponse;
  try {
    response = await connection.conductor.pull(request, {
      deadline: callDeadline(options.waitMs),
    });
  } catch (error) {
    if (!(error instanceof ClientError) || errorReason(error) !== "NO_DATA_LEFT")
      throw error;
    response = create(PullResponseSchema, { state: JobState.SUCCEEDED });
    if (!options.json) {
      process.stderr.write(
        "no results left: the job succeeded and every result was delivered\n",
      );
      return;
    }
  }
  if (options.json) {
    printJson(PullResponseSchema, response);
    return;
  }
  for (const result of response.results)
    process.stdout.write(`${formatResult(result)}\n`);
  if (response.results.length === 0) {
    process.stderr.write(`no results yet: the job is ${stateName(response.state)}\n`);
  }
}

/** Prints the connected runners. */
export async function listRunners(connection: Connection, options: OutputOptions) {
  const response = await connection.runners
    .listRunners({}, { deadline: callDeadline() })
    .catch((error: unknown) => {
      if (error instanceof ClientError && error.code === Status.UNIMPLEMENTED) {
        throw new CliError(
          `the server at ${connection.address} does not serve conductor.v1.RunnerService, ` +
            "so it has no remote runners",
          ExitCode.error,
        );
      }
      throw error;
    });
  if (options.json) {
    printJson(ListRunnersResponseSchema, response);
    return;
  }
  if (response.runners.length === 0) {
    process.stdout.write("no runners connected\n");
    return;
  }
  const nowMs = Date.now();
  const header = [
    "RUNNER",
    "NAME",
    "KINDS",
    "ACTIVE",
    "CONCURRENCY",
    "DRAINING",
    "CONNECTED",
  ];
  const rows = response.runners.map((runner) => [
    escapeControlCharacters(runner.runnerId),
    escapeControlCharacters(runner.name),
    escapeControlCharacters(runner.kinds.join(",")),
    String(runner.activeJobs),
    String(runner.concurrency),
    runner.draining ? "yes" : "no",
    runner.connectTime
      ? `${formatAge(nowMs - timestampMs(runner.connectTime))} ago`
      : "-",
  ]);
  process.stdout.write(formatTable([header, ...rows]));
}
