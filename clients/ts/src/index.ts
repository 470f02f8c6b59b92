export type { Payload } from "./gen/conductor/v1/payload_pb.js";
export { JobError } from "./job-error.js";
export type { JobContext, JobHandler } from "./job-run.js";
export { binaryPayload, jsonPayload, textPayload } from "./payloads.js";
export { PushAfterEndError } from "./pusher.js";
export { connectRunner, Runner, type RunnerOptions } from "./runner.js";
