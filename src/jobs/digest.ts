import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { lstat, opendir, realpath } from "node:fs/promises";
import path from "node:path";
import { type JsonValue, toJson } from "@bufbuild/protobuf";
import { type Value, ValueSchema } from "@bufbuild/protobuf/wkt";
import { InvalidArgumentError } from "../core/errors.js";
import { JobError, type JobKind } from "../core/job.js";
import { jsonPayload } from "../core/payloads.js";
import type { Payload } from "../gen/conductor/v1/payload_pb.js";

/** gRPC status codes the digest job ends with. */
const INVALID_ARGUMENT = 3;
const NOT_FOUND = 5;
const PERMISSION_DENIED = 7;
const UNKNOWN = 2;

/**
 * The built-in `digest` kind: walks a directory under `root` and pushes
 * one result per regular file, `{path, size, sha256}`, in path order, with
 * progress in files.
 *
 * Input is JSON `{"path": "some/dir"}` (relative to root; "." when absent).
 * A path that leaves the root is rejected at Exec, whether it leaves by
 * "..", by being absolute or through a symbolic link. Links met during the
 * walk are skipped. Messages name paths relative to the root only.
 */
export function digestKind(root: string): JobKind {
  const rootPath = path.resolve(root);
  return {
    validate: async (input) => {
      await resolveStart(rootPath, requestedPath(input));
    },
    run: async (input, context) => {
      const start = await resolveStart(rootPath, requestedPath(input)).catch(
        (error: unknown) => {
          if (!(error instanceof InvalidArgumentError)) throw error;
          throw new JobError(INVALID_ARGUMENT, error.message);
        },
      );
      const files = await listFiles(start, context.signal);
      await context.progress(0, files.length);
      for (const [index, file] of files.entries()) {
        context.signal.throwIfAborted();
        const { size, sha256 } = await hashFile(start, file, context.signal);
        await context.push(jsonPayload({ path: file.relative, size, sha256 }));
        await context.progress(index + 1, files.length);
      }
    },
  };
}

/** The walk's starting point: its real path and its name under the root. */
interface Start {
  readonly realRoot: string;
  readonly full: string;
  readonly relative: string;
}

interface FoundFile {
  readonly full: string;
  /** Path from the root, with "/" separators. */
  readonly relative: string;
}

function requestedPath(input: Payload): string {
  if (input.data.case === undefined) return ".";
  const value = input.data.case === "json" ? jsonOf(input.data.value) : null;
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new InvalidArgumentError(
      "input",
      'digest input must be a JSON object such as {"path": "docs"}',
    );
  }
  // A misspelt key would otherwise digest the whole root.
  const unknown = Object.keys(value).find((key) => key !== "path");
  if (unknown !== undefined) {
    throw new InvalidArgumentError(
      `input.${unknown}`,
      `digest input has an unknown field ${JSON.stringify(unknown)}; its only field is "path"`,
    );
  }
  const requested = value.path ?? ".";
  if (typeof requested !== "string") {
    throw new InvalidArgumentError("input.path", "input.path must be a string");
  }
  if (requested.includes("\0")) {
    throw new InvalidArgumentError("input.path", "input.path must not contain NUL bytes");
  }
  return requested;
}

/** Converts a Value to JSON; a Value with no kind set is invalid input. */
function jsonOf(value: Value): JsonValue {
  try {
    return toJson(ValueSchema, value);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new InvalidArgumentError("input", `input is not valid JSON: ${reason}`);
  }
}

/**
 * Resolves `requested` under the root, rejecting a path that leaves it,
 * lexically or through a symbolic link in any of its parts. A path that
 * does not exist resolves lexically; the walk then fails with NOT_FOUND.
 */
async function resolveStart(root: string, requested: string): Promise<Start> {
  const outside = new InvalidArgumentError(
    "input.path",
    `input.path "${requested}" is outside the digest root`,
  );
  const lexical = path.resolve(root, requested);
  if (path.isAbsolute(requested) || !isInside(root, lexical)) throw outside;
  const realRoot = await realpath(root).catch(() => {
    throw new JobError(NOT_FOUND, "the digest root does not exist");
  });
  const real = await realpath(lexical).catch(() => undefined);
  if (real === undefined) {
    return { realRoot, full: lexical, relative: toSlashes(path.relative(root, lexical)) };
  }
  if (!isInside(realRoot, real)) throw outside;
  return { realRoot, full: real, relative: toSlashes(path.relative(realRoot, real)) };
}

function isInside(root: string, candidate: string): boolean {
  const relative = path.relative(root, candidate);
  return (
    relative !== ".." &&
    !relative.startsWith(`..${path.sep}`) &&
    !path.isAbsolute(relative)
  );
}

function toSlashes(relative: string): string {
  return relative.split(path.sep).join("/") || ".";
}

/** Lists regular files under the start, sorted, without following links. */
async function listFiles(start: Start, signal: AbortSignal): Promise<FoundFile[]> {
  const stat = await lstat(start.full).catch((error: unknown) => {
    throw fileError(error, start.relative);
  });
  const found = (full: string) => ({
    full,
    relative: toSlashes(path.relative(start.realRoot, full)),
  });
  if (stat.isFile()) return [found(start.full)];
  if (!stat.isDirectory()) {
    throw new JobError(
      INVALID_ARGUMENT,
      `"${start.relative}" is not a regular file or directory`,
    );
  }
  const files: FoundFile[] = [];
  const pending = [start.full];
  for (let dir = pending.pop(); dir !== undefined; dir = pending.pop()) {
    signal.throwIfAborted();
    const entries = await opendir(dir).catch((error: unknown) => {
      throw fileError(error, found(dir).relative);
    });
    for await (const entry of entries) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) pending.push(full);
      else if (entry.isFile()) files.push(found(full));
    }
  }
  return files.sort(byRelativePath);
}

/** Orders files by path in UTF-16 code unit order, the same on every machine. */
function byRelativePath(a: FoundFile, b: FoundFile): number {
  if (a.relative === b.relative) return 0;
  return a.relative < b.relative ? -1 : 1;
}

async function hashFile(start: Start, file: FoundFile, signal: AbortSignal) {
  const hash = createHash("sha256");
  let size = 0;
  try {
    for await (const chunk of createReadStream(file.full, { signal })) {
      hash.update(chunk as Buffer);
      size += (chunk as Buffer).byteLength;
    }
  } catch (error) {
    if (signal.aborted) throw error;
    throw fileError(error, file.relative || start.relative);
  }
  return { size, sha256: hash.digest("hex") };
}

/**
 * Turns a file system error into a job error that names the path relative
 * to the root and the error code, never the server's absolute paths.
 */
function fileError(error: unknown, relative: string): JobError {
  const code = (error as NodeJS.ErrnoException)?.code ?? "EUNKNOWN";
  if (code === "ENOENT") return new JobError(NOT_FOUND, `"${relative}" does not exist`);
  if (code === "EACCES" || code === "EPERM") {
    return new JobError(PERMISSION_DENIED, `"${relative}" cannot be read: ${code}`);
  }
  const shown = relative.length > 200 ? `${relative.slice(0, 200)}...` : relative;
  return new JobError(UNKNOWN, `"${shown}" cannot be read: ${code}`);
}
