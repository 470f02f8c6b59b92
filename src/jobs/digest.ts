import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { lstat, opendir, realpath } from "node:fs/promises";
import path from "node:path";
import { toJson } from "@bufbuild/protobuf";
import { ValueSchema } from "@bufbuild/protobuf/wkt";
import { InvalidArgumentError } from "../core/errors.js";
import { JobError, type JobKind } from "../core/job.js";
import { jsonPayload } from "../core/payloads.js";
import type { Payload } from "../gen/conductor/v1/payload_pb.js";

/** gRPC status codes the digest job ends with. */
const NOT_FOUND = 5;
const INVALID_ARGUMENT = 3;

/**
 * The built-in `digest` kind: walks a directory under `root` and pushes
 * one result per regular file, `{path, size, sha256}`, in a stable order.
 *
 * Input is JSON `{"path": "some/dir"}` (relative to root; "." when absent).
 * Paths that leave the root, absolute paths included, are rejected at Exec.
 * Symbolic links are not followed, so a link cannot lead out of the root.
 */
export function digestKind(root: string): JobKind {
  const rootPath = path.resolve(root);
  return {
    validate: (input) => {
      resolveInside(rootPath, requestedPath(input));
    },
    run: async (input, context) => {
      const realRoot = await realpath(rootPath).catch(() => {
        throw new JobError(NOT_FOUND, `digest root ${rootPath} does not exist`);
      });
      const start = resolveInside(realRoot, requestedPath(input));
      const files = await listFiles(start, context.signal);
      await context.progress(0, files.length);
      for (const [index, file] of files.entries()) {
        context.signal.throwIfAborted();
        const { size, sha256 } = await hashFile(file, context.signal);
        const relative = path.relative(realRoot, file).split(path.sep).join("/");
        await context.push(jsonPayload({ path: relative, size, sha256 }));
        await context.progress(index + 1, files.length);
      }
    },
  };
}

function requestedPath(input: Payload): string {
  if (input.data.case === undefined) return ".";
  if (input.data.case !== "json") {
    throw new InvalidArgumentError(
      "input",
      'digest input must be JSON such as {"path": "docs"}',
    );
  }
  const value = toJson(ValueSchema, input.data.value);
  const requested = (value as { path?: unknown } | null)?.path ?? ".";
  if (typeof requested !== "string" || requested.includes("\0")) {
    throw new InvalidArgumentError("input.path", "input.path must be a string");
  }
  return requested;
}

/** Resolves `requested` under `root`, rejecting paths that leave it. */
function resolveInside(root: string, requested: string): string {
  const resolved = path.resolve(root, requested);
  const relative = path.relative(root, resolved);
  const leaves = relative === ".." || relative.startsWith(`..${path.sep}`);
  if (path.isAbsolute(requested) || leaves) {
    throw new InvalidArgumentError(
      "input.path",
      `input.path "${requested}" is outside the digest root`,
    );
  }
  return resolved;
}

/** Lists regular files under `start`, sorted, without following links. */
async function listFiles(start: string, signal: AbortSignal) {
  const stat = await lstat(start).catch(() => undefined);
  if (!stat) throw new JobError(NOT_FOUND, `path ${start} does not exist`);
  if (stat.isFile()) return [start];
  if (!stat.isDirectory()) {
    throw new JobError(INVALID_ARGUMENT, `path ${start} is not a directory or file`);
  }
  const files: string[] = [];
  const pending = [start];
  for (let dir = pending.pop(); dir !== undefined; dir = pending.pop()) {
    signal.throwIfAborted();
    for await (const entry of await opendir(dir)) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) pending.push(full);
      else if (entry.isFile()) files.push(full);
    }
  }
  return files.sort();
}

async function hashFile(file: string, signal: AbortSignal) {
  const hash = createHash("sha256");
  let size = 0;
  for await (const chunk of createReadStream(file, { signal })) {
    hash.update(chunk as Buffer);
    size += (chunk as Buffer).byteLength;
  }
  return { size, sha256: hash.digest("hex") };
}
