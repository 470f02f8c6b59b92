import * as grpc from "@grpc/grpc-js";
import { BARE_PATHS } from "../lib/bare-paths.js";
import { encodeSubscribeResponses } from "../lib/messages.js";

/**
 * The baseline of scenario 5: jobs relayed from callers to runners and
 * their results back, in the calls and messages conductor uses, on plain
 * grpc-js with encoded bytes. It keeps what routing needs (which job a
 * call is about) and nothing else: no tickets, leases, sequences,
 * buffers with limits, retries or expiry.
 *
 * Per job, the caller's Exec writes the job's number to a runner's Jobs
 * stream. The runner pushes on a Push stream of its own, named by the
 * `job` header, and gets a response to each push. Each push also sends
 * the job's watcher one result message, and Finish ends the Watch stream.
 */

const RESULT_MESSAGE = encodeSubscribeResponses(1, 1, 64)[0] as Uint8Array;
const PUSH_RESPONSE = new Uint8Array([8, 1]);
const EMPTY = new Uint8Array(0);

interface Job {
  /** Result messages sent before the job had a watcher. */
  readonly early: Uint8Array[];
  watcher: grpc.ServerWritableStream<Buffer, Uint8Array> | undefined;
  finished: boolean;
}

const toBuffer = (bytes: Uint8Array) =>
  Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
const keep = (bytes: Buffer) => bytes;

/** Registers the relay's methods on `server`. */
export function registerBareJobs(server: grpc.Server): void {
  const jobs = new Map<string, Job>();
  const runners: grpc.ServerDuplexStream<Buffer, Uint8Array>[] = [];
  let nextJob = 1;
  let nextRunner = 0;

  const exec = (
    _call: grpc.ServerUnaryCall<Buffer, Uint8Array>,
    callback: grpc.sendUnaryData<Uint8Array>,
  ) => {
    if (runners.length === 0) {
      callback({ code: grpc.status.UNAVAILABLE, details: "no runner is connected" });
      return;
    }
    const id = String(nextJob++);
    jobs.set(id, { early: [], watcher: undefined, finished: false });
    const runner = runners[nextRunner++ % runners.length] as (typeof runners)[number];
    runner.write(Buffer.from(id));
    callback(null, Buffer.from(id));
  };

  const connectRunner = (call: grpc.ServerDuplexStream<Buffer, Uint8Array>) => {
    runners.push(call);
    const leave = () => {
      const index = runners.indexOf(call);
      if (index >= 0) runners.splice(index, 1);
    };
    call.on("data", () => {});
    call.on("end", () => {
      leave();
      call.end();
    });
    call.on("error", leave);
  };

  const push = (call: grpc.ServerDuplexStream<Buffer, Uint8Array>) => {
    const id = String(call.metadata.get("job")[0]);
    const job = jobs.get(id);
    if (!job) {
      call.destroy(new Error(`job ${id} not found`));
      return;
    }
    call.on("data", () => {
      if (job.watcher) job.watcher.write(RESULT_MESSAGE);
      else job.early.push(RESULT_MESSAGE);
      call.write(PUSH_RESPONSE);
    });
    call.on("end", () => call.end());
  };

  const finish = (
    call: grpc.ServerUnaryCall<Buffer, Uint8Array>,
    callback: grpc.sendUnaryData<Uint8Array>,
  ) => {
    const id = call.request.toString();
    const job = jobs.get(id);
    if (!job) {
      callback({ code: grpc.status.NOT_FOUND, details: `no job ${id}` });
      return;
    }
    job.finished = true;
    if (job.watcher) {
      job.watcher.end();
      jobs.delete(id);
    }
    callback(null, EMPTY);
  };

  const watch = (call: grpc.ServerWritableStream<Buffer, Uint8Array>) => {
    const id = call.request.toString();
    const job = jobs.get(id);
    if (!job || job.watcher) {
      call.emit("error", {
        code: grpc.status.NOT_FOUND,
        details: `no job ${id} to watch`,
      });
      return;
    }
    for (const message of job.early) call.write(message);
    job.early.length = 0;
    if (job.finished) {
      call.end();
      jobs.delete(id);
    } else {
      job.watcher = call;
    }
  };

  server.register(BARE_PATHS.exec, exec, toBuffer, keep, "unary");
  server.register(BARE_PATHS.jobs, connectRunner, toBuffer, keep, "bidi");
  server.register(BARE_PATHS.push, push, toBuffer, keep, "bidi");
  server.register(BARE_PATHS.finish, finish, toBuffer, keep, "unary");
  server.register(BARE_PATHS.watch, watch, toBuffer, keep, "serverStream");
}
