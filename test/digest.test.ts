import { createHash } from "node:crypto";
import { mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { toJson } from "@bufbuild/protobuf";
import { ValueSchema } from "@bufbuild/protobuf/wkt";
import { Status } from "nice-grpc";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { jsonPayload } from "../src/core/payloads.js";
import type { SubscribeResponse } from "../src/gen/conductor/v1/conductor_pb.js";
import { startHarness } from "./support/harness.js";
import { drain, errorInfo, grpcError } from "./support/jobs.js";

let root: string;
let outside: string;

beforeEach(async () => {
  const base = await mkdtemp(path.join(tmpdir(), "conductor-digest-"));
  root = path.join(base, "root");
  outside = path.join(base, "outside");
  await mkdir(path.join(root, "docs", "deep"), { recursive: true });
  await mkdir(outside);
  await writeFile(path.join(root, "a.txt"), "alpha");
  await writeFile(path.join(root, "docs", "b.txt"), "bravo!");
  await writeFile(path.join(root, "docs", "deep", "c.bin"), Buffer.alloc(70_000, 7));
  await writeFile(path.join(outside, "secret.txt"), "secret");
});

afterEach(async () => {
  await rm(path.dirname(root), { recursive: true, force: true });
});

function sha256(data: string | Buffer): string {
  return createHash("sha256").update(data).digest("hex");
}

function resultsOf(messages: SubscribeResponse[]) {
  return messages.flatMap((m) =>
    m.results.map((r) =>
      r.payload?.data.case === "json" ? toJson(ValueSchema, r.payload.data.value) : null,
    ),
  );
}

describe("digest job", () => {
  it("streams path, size and SHA-256 of every file under the path", async () => {
    const { client } = await startHarness({ digestRoot: root });

    const { ticket } = await client.exec({
      kind: "digest",
      input: jsonPayload({ path: "." }),
    });
    const { messages, code } = await drain(client.subscribe({ ticket }));

    expect(code).toBe(Status.OK);
    expect(resultsOf(messages)).toEqual([
      { path: "a.txt", size: 5, sha256: sha256("alpha") },
      { path: "docs/b.txt", size: 6, sha256: sha256("bravo!") },
      { path: "docs/deep/c.bin", size: 70_000, sha256: sha256(Buffer.alloc(70_000, 7)) },
    ]);
  });

  it("reports progress as files are done", async () => {
    const { client } = await startHarness({ digestRoot: root });

    const { ticket } = await client.exec({
      kind: "digest",
      input: jsonPayload({ path: "docs" }),
    });
    await drain(client.subscribe({ ticket }));
    const { status } = await client.getStatus({ ticket });

    expect(status?.progress).toMatchObject({ done: 2n, total: 2n });
  });

  it.each([
    ["a parent path", "../outside"],
    ["a path that climbs out midway", "docs/../../outside"],
    ["an absolute path", "/etc"],
  ])("rejects %s with INVALID_ARGUMENT", async (_case, requested) => {
    const { client } = await startHarness({ digestRoot: root });

    const error = await grpcError(
      client.exec({ kind: "digest", input: jsonPayload({ path: requested }) }),
    );

    expect(error.code).toBe(Status.INVALID_ARGUMENT);
    expect(errorInfo(error)?.metadata.field).toBe("input.path");
  });

  it("does not follow a symbolic link out of the root", async () => {
    await symlink(outside, path.join(root, "escape"));
    const { client } = await startHarness({ digestRoot: root });

    const { ticket } = await client.exec({ kind: "digest", input: jsonPayload({}) });
    const { messages } = await drain(client.subscribe({ ticket }));

    const paths = resultsOf(messages).map((r) => (r as { path: string }).path);
    expect(paths).toEqual(["a.txt", "docs/b.txt", "docs/deep/c.bin"]);
  });

  it("fails with NOT_FOUND for a missing path", async () => {
    const { client } = await startHarness({ digestRoot: root });

    const { ticket } = await client.exec({
      kind: "digest",
      input: jsonPayload({ path: "missing" }),
    });
    const { code } = await drain(client.subscribe({ ticket }));

    expect(code).toBe(Status.NOT_FOUND);
  });

  it("rejects input that is not JSON", async () => {
    const { client } = await startHarness({ digestRoot: root });

    const error = await grpcError(
      client.exec({ kind: "digest", input: { data: { case: "text", value: "." } } }),
    );

    expect(error.code).toBe(Status.INVALID_ARGUMENT);
  });

  it("rejects a path that leaves the root through a linked directory", async () => {
    await symlink(outside, path.join(root, "link"));
    const { client } = await startHarness({ digestRoot: root });

    const error = await grpcError(
      client.exec({ kind: "digest", input: jsonPayload({ path: "link/secret.txt" }) }),
    );

    expect(error.code).toBe(Status.INVALID_ARGUMENT);
    expect(error.details).not.toContain(outside);
  });

  it.each([
    ["a string", "docs"],
    ["an array", ["docs"]],
  ])("rejects JSON input that is %s", async (_case, value) => {
    const { client } = await startHarness({ digestRoot: root });

    const error = await grpcError(
      client.exec({ kind: "digest", input: jsonPayload(value) }),
    );

    expect(error.code).toBe(Status.INVALID_ARGUMENT);
    expect(errorInfo(error)?.metadata.field).toBe("input");
  });

  it("rejects an unknown input field", async () => {
    const { client } = await startHarness({ digestRoot: root });

    const error = await grpcError(
      client.exec({ kind: "digest", input: jsonPayload({ paths: ["docs"] }) }),
    );

    expect(error.code).toBe(Status.INVALID_ARGUMENT);
    expect(errorInfo(error)?.metadata.field).toBe("input.paths");
  });

  it("names missing paths relative to the root", async () => {
    const { client } = await startHarness({ digestRoot: root });

    const { ticket } = await client.exec({
      kind: "digest",
      input: jsonPayload({ path: "docs/missing" }),
    });
    const { error } = await drain(client.subscribe({ ticket }));

    expect(error?.details).toBe('"docs/missing" does not exist');
  });

  it("rejects a JSON value with no kind set", async () => {
    const { client } = await startHarness({ digestRoot: root });

    const error = await grpcError(
      client.exec({ kind: "digest", input: { data: { case: "json", value: {} } } }),
    );

    expect(error.code).toBe(Status.INVALID_ARGUMENT);
    expect(errorInfo(error)?.metadata.field).toBe("input");
  });

  it("cuts an error message that quotes a huge path", async () => {
    const { client } = await startHarness({ digestRoot: root });

    const error = await grpcError(
      client.exec({
        kind: "digest",
        input: jsonPayload({ path: `/${"x".repeat(200_000)}` }),
      }),
    );

    expect(error.code).toBe(Status.INVALID_ARGUMENT);
    expect(error.details.length).toBeLessThanOrEqual(1024);
    expect(error.details).toMatch(/\(truncated\)$/);
  });
});
