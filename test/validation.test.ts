import { create, toBinary } from "@bufbuild/protobuf";
import { createClient, createClientFactory, Status } from "nice-grpc";
import { errorDetailsClientMiddleware } from "nice-grpc-error-details";
import { describe, expect, it } from "vitest";
import { binaryPayload } from "../src/core/payloads.js";
import { PushRequestSchema } from "../src/gen/conductor/v1/conductor_pb.js";
import { startHarness } from "./support/harness.js";
import { errorInfo, grpcError, numbered, startExternalJob } from "./support/jobs.js";

describe("request validation", () => {
  it.each([
    ["Pull", (c: Client) => c.pull({ ticket: 0n })],
    [
      "Subscribe",
      (c: Client) => c.subscribe({ ticket: 0n })[Symbol.asyncIterator]().next(),
    ],
    ["Push", (c: Client) => c.push({ ticket: 0n, lease: "x" })],
    ["Cancel", (c: Client) => c.cancel({ ticket: 0n })],
    ["GetStatus", (c: Client) => c.getStatus({ ticket: 0n })],
  ])("%s rejects ticket 0 with INVALID_ARGUMENT", async (_name, call) => {
    const { client } = await startHarness();

    const error = await grpcError(call(client));

    expect(error.code).toBe(Status.INVALID_ARGUMENT);
    expect(errorInfo(error)?.metadata.field).toBe("ticket");
  });

  it("rejects an empty kind", async () => {
    const { client } = await startHarness();

    const error = await grpcError(client.exec({ kind: "" }));

    expect(error.code).toBe(Status.INVALID_ARGUMENT);
    expect(error.details).toBe("kind must not be empty");
  });

  it("rejects a kind longer than 128 characters", async () => {
    const { client } = await startHarness();

    const error = await grpcError(client.exec({ kind: "k".repeat(129) }));

    expect(error.code).toBe(Status.INVALID_ARGUMENT);
    expect(errorInfo(error)?.metadata.field).toBe("kind");
  });

  it.each([
    ["an escape sequence", "x\u001b[31mRED"],
    ["a newline", "two\nlines"],
    ["a NUL", "nul\u0000"],
  ])("rejects a kind with %s", async (_case, kind) => {
    const { client } = await startHarness();

    const error = await grpcError(client.exec({ kind }));

    expect(error.code).toBe(Status.INVALID_ARGUMENT);
    expect(error.details).toContain("control characters");
  });

  it("rejects a push without a lease", async () => {
    const harness = await startHarness();
    const { ticket } = await startExternalJob(harness);

    const error = await grpcError(harness.client.push({ ticket, results: numbered(1) }));

    expect(error.code).toBe(Status.INVALID_ARGUMENT);
    expect(errorInfo(error)?.metadata.field).toBe("lease");
  });

  it("rejects max_results above 1000", async () => {
    const harness = await startHarness();
    const { ticket } = await startExternalJob(harness);

    const error = await grpcError(harness.client.pull({ ticket, maxResults: 1001 }));

    expect(error.code).toBe(Status.INVALID_ARGUMENT);
    expect(error.details).toContain("max_results is 1001");
  });

  it.each([
    ["above 60 seconds", { seconds: 61n }],
    ["negative", { seconds: -1n }],
    ["with nanos out of range", { nanos: 2_000_000_000 }],
  ])("rejects a wait %s", async (_case, wait) => {
    const harness = await startHarness();
    const { ticket } = await startExternalJob(harness);

    const error = await grpcError(harness.client.pull({ ticket, wait }));

    expect(error.code).toBe(Status.INVALID_ARGUMENT);
    expect(errorInfo(error)?.metadata.field).toBe("wait");
  });

  it("rejects a page_size above 1000", async () => {
    const { client } = await startHarness();

    const error = await grpcError(client.listTickets({ pageSize: 5000 }));

    expect(error.code).toBe(Status.INVALID_ARGUMENT);
  });

  it("rejects an oversized message with RESOURCE_EXHAUSTED before storing", async () => {
    const harness = await startHarness({ maxMessageBytes: 64 * 1024 });
    const { ticket, lease } = await startExternalJob(harness);

    const error = await grpcError(
      harness.client.push({
        ticket,
        lease,
        results: [binaryPayload(new Uint8Array(100 * 1024))],
      }),
    );
    const { status } = await harness.client.getStatus({ ticket });

    expect(error.code).toBe(Status.RESOURCE_EXHAUSTED);
    expect(status?.pushedCount).toBe(0n);
  });

  it.each([
    ["a truncated varint", [0x08]],
    ["a field with the wrong wire type", [0x0d, 0x01, 0x02, 0x03, 0x04]],
  ])("rejects a message with %s as INVALID_ARGUMENT", async (_case, bytes) => {
    const harness = await startHarness();
    const raw = createClientFactory()
      .use(errorDetailsClientMiddleware)
      .create(rawPullDefinition, harness.channel);

    const error = await grpcError(raw.pull(Uint8Array.from(bytes)));

    expect(error.code).toBe(Status.INVALID_ARGUMENT);
    expect(errorInfo(error)?.reason).toBe("MALFORMED_REQUEST");
  });

  it("rejects non-UTF-8 lease as INVALID_ARGUMENT", async () => {
    const harness = await startHarness();
    const { ticket } = await startExternalJob(harness);
    const raw = createClientFactory()
      .use(errorDetailsClientMiddleware)
      .create(rawPushDefinition, harness.channel);
    // Field 1, ticket, then field 2, lease, with the bytes C3 28.
    const ticketField = toBinary(
      PushRequestSchema,
      create(PushRequestSchema, { ticket }),
    );
    const request = Buffer.concat([ticketField, Uint8Array.from([0x12, 2, 0xc3, 0x28])]);

    const error = await grpcError(raw.push(request));

    expect(error.code).toBe(Status.INVALID_ARGUMENT);
    expect(errorInfo(error)?.reason).toBe("MALFORMED_REQUEST");
  });

  it("keeps serving other calls after a malformed one", async () => {
    const harness = await startHarness();
    const raw = createClient(rawPullDefinition, harness.channel);
    await grpcError(raw.pull(Uint8Array.from([0x08])));

    const { ticket } = await startExternalJob(harness);
    const { status } = await harness.client.getStatus({ ticket });

    expect(status?.ticket).toBe(ticket);
  });
});

type Client = Awaited<ReturnType<typeof startHarness>>["client"];

/** A unary method of ConductorService that sends raw bytes, to send what no stub would. */
function rawMethod(name: string) {
  const bytes = (value: Uint8Array) => value;
  return {
    path: `/conductor.v1.ConductorService/${name}`,
    requestStream: false,
    responseStream: false,
    requestSerialize: bytes,
    requestDeserialize: bytes,
    responseSerialize: bytes,
    responseDeserialize: bytes,
    options: {},
  } as const;
}

const rawPullDefinition = { pull: rawMethod("Pull") } as const;
const rawPushDefinition = { push: rawMethod("Push") } as const;
