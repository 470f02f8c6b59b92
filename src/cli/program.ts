import { Command, InvalidArgumentError, Option } from "commander";
import { checkAddress, connect, DEFAULT_ADDRESS, explainClientError } from "./client.js";
import { CliError, ExitCode } from "./exit-codes.js";
import { DEFAULT_MAX_INPUT_BYTES, parseTicket } from "./input.js";
import { serve } from "./serve.js";
import { parseServeSettings, SERVE_SETTINGS } from "./serve-settings.js";
import {
  cancelJob,
  execJob,
  listRunners,
  listTickets,
  pullResults,
  STATE_NAMES,
  showStatus,
} from "./ticket-commands.js";
import { watchTicket } from "./watch.js";

const EXIT_CODES_HELP = `
Exit codes:
  0  success
  1  any other error, such as an unreachable server
  2  invalid flags, arguments, settings or request values
  3  the ticket does not exist or has expired
  4  the job failed or was cancelled (exec --watch, watch, pull)`;

/** Options every client command takes. */
interface ClientOptions {
  readonly address: string;
  readonly json?: boolean;
}

/** Builds the `conductor` command and its subcommands. */
export function createProgram(): Command {
  const program = new Command("conductor")
    .description(
      "Runs jobs in the background and streams their partial results over gRPC.",
    )
    .exitOverride()
    .showHelpAfterError("(add --help for usage)")
    .addHelpText("after", EXIT_CODES_HELP);
  for (const command of [serveCommand(), ...clientCommands()]) {
    // Settings such as exitOverride reach subcommands only when copied.
    program.addCommand(command.copyInheritedSettings(program));
  }
  return program;
}

function serveCommand(): Command {
  const command = new Command("serve").description(
    "Run a conductor server until SIGTERM or SIGINT. Every setting is a flag and an " +
      "environment variable; a flag wins over its variable.",
  );
  for (const setting of SERVE_SETTINGS) {
    const option = new Option(
      `${setting.flag} <${setting.valueName}>`,
      setting.description,
    )
      .env(setting.env)
      .default(setting.defaultRaw, setting.defaultText);
    command.addOption(option);
  }
  return command.action(async (_options, self: Command) => {
    const settings = parseSettings(self);
    await serve(settings);
  });
}

function parseSettings(command: Command) {
  const options = command.opts<Record<string, string>>();
  try {
    return parseServeSettings((setting) => ({
      value: options[setting.key] ?? setting.defaultRaw,
      source: sourceOf(command.getOptionValueSource(setting.key)),
    }));
  } catch (error) {
    if (!(error instanceof RangeError)) throw error;
    throw new CliError(error.message, ExitCode.usage);
  }
}

function sourceOf(source: string | undefined): "cli" | "env" | "default" {
  return source === "env" || source === "cli" ? source : "default";
}

function clientCommands(): Command[] {
  const exec = clientCommand("exec <kind>", "Start a job of KIND and print its ticket.")
    .option("--input <json>", 'job input as JSON text; "-" reads standard input')
    .option(
      "--input-file <path>",
      'file holding the job input as JSON; "-" reads standard input',
    )
    .addOption(
      new Option(
        "--max-retries <count>",
        "times the job is started again when its runner is lost",
      )
        .default(0)
        .argParser(wholeNumber(0, 2 ** 32 - 1)),
    )
    .addOption(
      new Option(
        "--max-input-bytes <bytes>",
        "largest job input read, in bytes; no more than the server's --max-message-bytes",
      )
        .default(DEFAULT_MAX_INPUT_BYTES)
        .argParser(wholeNumber(1, 2 ** 31 - 1)),
    )
    .option("--watch", "follow the job's results like `watch` after starting it")
    .addOption(maxReconnectsOption())
    .action(
      withConnection(async (connection, kind: string, options) => {
        const ticket = await execJob(connection, kind, {
          ...options,
          json: Boolean(options.json),
        });
        if (options.watch) await watchTicket(connection, ticket, watchOptions(options));
      }),
    );

  const watch = clientCommand(
    "watch <ticket>",
    "Follow a job's results and progress until it ends, resuming broken streams. " +
      "Writes JSON lines when standard output is not a terminal.",
  )
    .addOption(maxReconnectsOption())
    .action(
      withConnection(async (connection, ticket: string, options) => {
        await watchTicket(connection, parseTicket(ticket), watchOptions(options));
      }),
    );

  const pull = clientCommand("pull <ticket>", "Take the next results of a job, once.")
    .addOption(
      new Option("--max-results <count>", "most results to take")
        .default(100)
        .argParser(wholeNumber(1, 1000)),
    )
    .addOption(
      new Option("--wait-ms <ms>", "milliseconds to wait for a result while the job runs")
        .default(0)
        .argParser(wholeNumber(0, 60_000)),
    )
    .addOption(
      new Option(
        "--after-sequence <sequence>",
        "take again the retained results after this sequence, as after a lost pull",
      ).argParser(sequence),
    )
    .action(
      withConnection(async (connection, ticket: string, options) => {
        await pullResults(connection, parseTicket(ticket), {
          ...options,
          json: Boolean(options.json),
        });
      }),
    );

  const status = clientCommand(
    "status <ticket>",
    "Show a ticket's state, counts and progress.",
  ).action(
    withConnection(async (connection, ticket: string, options) => {
      await showStatus(connection, parseTicket(ticket), { json: Boolean(options.json) });
    }),
  );

  const list = clientCommand("list", "List the live tickets, newest first.")
    .addOption(
      new Option("--state <state>", "only tickets in this state").choices(STATE_NAMES),
    )
    .option("--kind <kind>", "only tickets of this job kind")
    .addOption(
      new Option("--limit <count>", "most tickets to list, or per page with --all")
        .default(100)
        .argParser(wholeNumber(1, 1000)),
    )
    .option(
      "--page-token <token>",
      "start at the page that an earlier list named in its hint or nextPageToken",
    )
    .option("--all", "list every matching ticket, fetching page after page")
    .action(
      withConnection(async (connection, options) => {
        await listTickets(connection, {
          ...options,
          all: Boolean(options.all),
          json: Boolean(options.json),
        });
      }),
    );

  const cancel = clientCommand(
    "cancel <ticket>",
    "Cancel a queued or running job.",
  ).action(
    withConnection(async (connection, ticket: string, options) => {
      await cancelJob(connection, parseTicket(ticket), { json: Boolean(options.json) });
    }),
  );

  const runners = clientCommand("runners", "List the connected runners.").action(
    withConnection(async (connection, options) => {
      await listRunners(connection, { json: Boolean(options.json) });
    }),
  );

  return [exec, watch, pull, status, list, cancel, runners];
}

function clientCommand(nameAndArgs: string, description: string): Command {
  const [name = nameAndArgs, ...args] = nameAndArgs.split(" ");
  const command = new Command(name);
  if (args.length > 0) command.arguments(args.join(" "));
  return command
    .description(description)
    .addOption(
      new Option(
        "--address <address>",
        "conductor server as host:port, [ipv6]:port or unix:PATH",
      )
        .env("CONDUCTOR_ADDRESS")
        .default(DEFAULT_ADDRESS)
        .argParser(usageCheck(checkAddress)),
    )
    .option("--json", "write JSON instead of human-readable text");
}

function maxReconnectsOption(): Option {
  return new Option(
    "--max-reconnects <count>",
    "times in a row a broken stream is resumed before giving up",
  )
    .default(5)
    .argParser(wholeNumber(0, 100));
}

function watchOptions(options: { json?: boolean; maxReconnects: number }) {
  return {
    json: Boolean(options.json) || !process.stdout.isTTY,
    maxReconnects: options.maxReconnects,
    stdout: process.stdout,
    stderr: process.stderr,
  };
}

/**
 * Wraps a command action: connects to --address first and closes the
 * channel afterwards, naming the address in UNAVAILABLE errors.
 */
function withConnection<Args extends any[]>(
  action: (connection: ReturnType<typeof connect>, ...args: Args) => Promise<void>,
) {
  return async (...args: unknown[]) => {
    const options = args.at(-2) as ClientOptions;
    const connection = connect(options.address);
    try {
      await action(connection, ...(args.slice(0, -1) as Args));
    } catch (error) {
      throw explainClientError(error, options.address);
    } finally {
      connection.close();
    }
  };
}

/** Turns the RangeError of `check` into the error commander reports as usage. */
function usageCheck<T>(check: (raw: string) => T) {
  return (raw: string): T => {
    try {
      return check(raw);
    } catch (error) {
      if (!(error instanceof RangeError)) throw error;
      throw new InvalidArgumentError(error.message);
    }
  };
}

/** Parses a sequence: a whole number from 0 to 2^64 - 1. */
function sequence(raw: string): bigint {
  if (!/^\d{1,20}$/.test(raw) || BigInt(raw) >= 2n ** 64n) {
    throw new InvalidArgumentError("must be a whole number from 0 to 2^64 - 1");
  }
  return BigInt(raw);
}

function wholeNumber(min: number, max: number) {
  return (raw: string): number => {
    const value = /^\d+$/.test(raw) ? Number(raw) : Number.NaN;
    if (!(value >= min && value <= max)) {
      throw new InvalidArgumentError(`must be a whole number from ${min} to ${max}`);
    }
    return value;
  };
}
