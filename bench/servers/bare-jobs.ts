import { create, toBinary } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { PushPipelineResponseSchema } from "../../src/gen/conductor/v1/conductor_pb.js";
import { BARE_PATHS } from "../lib/bare-paths.js";
import { encodeSubscribeResponses } from "../lib/messages.js";
import { failCall, keepBytes, passBytes } from "../lib/plain-grpc.js";

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
 * A job whose runner leaves before Finish fails its watch with UNAVAILABLE.
 */

/**
 * The message a push sends the watcher: one result of 64 B, the size
 * scenario 5 pushes. The relay decodes no push, so it sends no bytes it
 * received, only a message of their size.
 */
const RESULT_MESSAGE = encodeSubscribeResponses(1, 1, 64)[0] as Uint8Array;
const PUSH_RESPONSE = toBinary(
  PushPipelineResponseSchema,
  create(PushPipelineResponseSchema, { lastSequence: 1n }),
);
const EMPTY = new Uint8Array(0);

type RunnerCall = grpc.ServerDuplexStream<Buffer, Uint8Array>;
type WatchCall = grpc.ServerWritableStream<Buffer, Uint8Array>;

interface JobEnd {
  readonly code: grpc.status;
  readonly details: string;
}

interface Job {
  readonly runner: RunnerCall;
  /** Result messages sent before the job had a watcher. */
  readonly early: Uint8Array[];
  watcher: WatchCall | undefined;
  /** OK once finished; another status once its runner left without finishing. */
  end: JobEnd | undefined;
}

/** Registers the relay's methods on `server`. */
export function registerBareJobs(server: grpc.Server): void {
  const jobs = new Map<string, Job>();
  const runners: RunnerCall[] = [];
  let nextJob = 1;
  let nextRunner = 0;

  /** Ends the job's watch with its end status and removes the job. */
  const close = (id: string, job: Job) => {
    const { watcher, end } = job;
    if (!watcher || !end) return;
    if (end.code === grpc.status.OK) watcher.end();
    else failCall(watcher, end.code, end.details);
    jobs.delete(id);
  };

  const exec = (
    _call: grpc.ServerUnaryCall<Buffer, Uint8Array>,
    callback: grpc.sendUnaryData<Uint8Array>,
  ) => {
    if (runners.length === 0) {
      callback({ code: grpc.status.UNAVAILABLE, details: "no runner is connected" });
      return;
    }
    const id = String(nextJob++);
    const runner = runners[nextRunner++ % runners.length] as RunnerCall;
    jobs.set(id, { runner, early: [], watcher: undefined, end: undefined });
    runner.write(Buffer.from(id));
    callback(null, Buffer.from(id));
  };

  const connectRunner = (call: RunnerCall) => {
    runners.push(call);
    let left = false;
    const leave = () => {
      if (left) return;
      left = true;
      runners.splice(runners.indexOf(call), 1);
      for (const [id, job] of jobs) {
        if (job.runner !== call || job.end) continue;
        job.end = {
          code: grpc.status.UNAVAILABLE,
          details: `the runner of job ${id} left`,
        };
        close(id, job);
      }
    };
    call.on("data", () => {});
    call.on("end", () => {
      leave();
      call.end();
    });
    call.on("error", leave);
    call.on("cancelled", leave);
  };

  const push = (call: RunnerCall) => {
    const id = String(call.metadata.get("job")[0]);
    const job = jobs.get(id);
    if (!job) {
      failCall(call, grpc.status.NOT_FOUND, `job ${id} not found`);
      return;
    }
    call.on("data", () => {
      if (job.end) {
        failCall(call, grpc.status.FAILED_PRECONDITION, `job ${id} has ended`);
        return;
      }
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
    if (!job || job.end) {
      callback({ code: grpc.status.NOT_FOUND, details: `no running job ${id}` });
      return;
    }
    job.end = { code: grpc.status.OK, details: "OK" };
    close(id, job);
    callback(null, EMPTY);
  };

  const watch = (call: WatchCall) => {
    const id = call.request.toString();
    const job = jobs.get(id);
    if (!job) {
      failCall(call, grpc.status.NOT_FOUND, `job ${id} not found`);
      return;
    }
    if (job.watcher) {
      failCall(call, grpc.status.ALREADY_EXISTS, `job ${id} is watched already`);
      return;
    }
    for (const message of job.early) call.write(message);
    job.early.length = 0;
    job.watcher = call;
    // No one reads the results of a job whose watcher left, so the job ends.
    call.on("cancelled", () => {
      job.end ??= { code: grpc.status.CANCELLED, details: `the watch of job ${id} left` };
      jobs.delete(id);
    });
    close(id, job);
  };

  server.register(BARE_PATHS.exec, exec, passBytes, keepBytes, "unary");
  server.register(BARE_PATHS.jobs, connectRunner, passBytes, keepBytes, "bidi");
  server.register(BARE_PATHS.push, push, passBytes, keepBytes, "bidi");
  server.register(BARE_PATHS.finish, finish, passBytes, keepBytes, "unary");
  server.register(BARE_PATHS.watch, watch, passBytes, keepBytes, "serverStream");
}
