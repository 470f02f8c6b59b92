/**
 * A runner process that serves the job kind "remote-digest": the work of
 * the built-in digest kind, run outside the server. Each result is
 * {path, size, sha256} for one regular file under the requested path.
 *
 *   npx tsx examples/digest-runner.ts --address 127.0.0.1:50051 --root .
 *
 * SIGTERM or SIGINT drains the runner: it takes no new jobs, finishes the
 * ones it holds, then exits.
 */
import { parseArgs } from "node:util";
import { connectRunner, JobError } from "../clients/ts/src/index.js";
import { InvalidArgumentError } from "../src/core/errors.js";
import { digestKind } from "../src/jobs/digest.js";

const INVALID_ARGUMENT = 3;

const USAGE = `usage: digest-runner [options]

  --address HOST:PORT   conductor server to serve (default 127.0.0.1:50051)
  --root DIR            directory the jobs may read (default .)
  --concurrency N       jobs run at once (default 2)
  --name NAME           runner name shown by ListRunners (default host name and pid)
`;

const { values } = parseArgs({
  options: {
    address: { type: "string", default: "127.0.0.1:50051" },
    root: { type: "string", default: "." },
    concurrency: { type: "string", default: "2" },
    name: { type: "string" },
    help: { type: "boolean", short: "h" },
  },
});
if (values.help) {
  process.stdout.write(USAGE);
  process.exit(0);
}
const concurrency = Number(values.concurrency);
if (!Number.isSafeInteger(concurrency) || concurrency < 1) {
  process.stderr.write(
    `invalid --concurrency ${values.concurrency}: must be 1 or more\n`,
  );
  process.exit(2);
}

const digest = digestKind(values.root);
const runner = connectRunner({
  address: values.address,
  name: values.name,
  concurrency,
  drainOnSigterm: true,
  kinds: {
    "remote-digest": async (input, context) => {
      try {
        await digest.validate?.(input);
      } catch (error) {
        // The server cannot check the input of a remote kind at Exec, so
        // a bad input ends the job with the same code instead.
        if (error instanceof InvalidArgumentError) {
          throw new JobError(INVALID_ARGUMENT, error.message);
        }
        throw error;
      }
      await digest.run(input, context);
    },
  },
  onError: (error) => {
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(`digest-runner: ${message}\n`);
  },
});
process.once("SIGINT", () => void runner.drain());

runner.registered.then((id) => {
  process.stdout.write(`digest-runner: registered as ${id} with ${values.address}\n`);
});
runner.closed.then(
  () => process.stdout.write("digest-runner: stopped\n"),
  (error: unknown) => {
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(`digest-runner: ${message}\n`);
    process.exitCode = 1;
  },
);
