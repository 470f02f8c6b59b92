import { Status } from "nice-grpc";
import { describe, expect, it, vi } from "vitest";
import { JobState } from "../src/gen/conductor/v1/payload_pb.js";
import { startHarness } from "./support/harness.js";
import { errorInfo, grpcError, startExternalJob } from "./support/jobs.js";

describe("ListTickets paging", () => {
  it("pages through every ticket, newest first", async () => {
    const harness = await startHarness();
    const jobs = [];
    for (let i = 0; i < 5; i++) jobs.push(await startExternalJob(harness));
    const newestFirst = jobs.map((job) => job.ticket).reverse();

    const pages: bigint[][] = [];
    let pageToken = "";
    do {
      const page = await harness.client.listTickets({ pageSize: 2, pageToken });
      pages.push(page.tickets.map((status) => status.ticket));
      pageToken = page.nextPageToken;
    } while (pageToken !== "" && pages.length < 10);

    expect(pages).toEqual([
      newestFirst.slice(0, 2),
      newestFirst.slice(2, 4),
      newestFirst.slice(4),
    ]);
  });

  it("sets no token when the page ends the list", async () => {
    const harness = await startHarness();
    await startExternalJob(harness);
    await startExternalJob(harness);

    const page = await harness.client.listTickets({ pageSize: 2 });

    expect(page.tickets).toHaveLength(2);
    expect(page.nextPageToken).toBe("");
  });

  it("continues after the last listed ticket expired", async () => {
    const harness = await startHarness({ timeoutMs: 20 });
    const [oldest, middle, newest] = [
      await startExternalJob(harness),
      await startExternalJob(harness),
      await startExternalJob(harness),
    ];

    const first = await harness.client.listTickets({ pageSize: 1 });
    await harness.server.conductor.cancel(newest.ticket);
    await vi.waitFor(() => {
      expect(harness.server.store.size).toBe(2);
    });
    const second = await harness.client.listTickets({
      pageSize: 1,
      pageToken: first.nextPageToken,
    });
    const third = await harness.client.listTickets({
      pageSize: 1,
      pageToken: second.nextPageToken,
    });

    expect(first.tickets.map((status) => status.ticket)).toEqual([newest.ticket]);
    expect(second.tickets.map((status) => status.ticket)).toEqual([middle.ticket]);
    expect(third.tickets.map((status) => status.ticket)).toEqual([oldest.ticket]);
    expect(third.nextPageToken).toBe("");
  });

  it("leaves out tickets created after the first page", async () => {
    const harness = await startHarness();
    const older = await startExternalJob(harness);
    await startExternalJob(harness);

    const first = await harness.client.listTickets({ pageSize: 1 });
    await startExternalJob(harness);
    const second = await harness.client.listTickets({
      pageSize: 1,
      pageToken: first.nextPageToken,
    });

    expect(second.tickets.map((status) => status.ticket)).toEqual([older.ticket]);
    expect(second.nextPageToken).toBe("");
  });

  it("filters every page by state", async () => {
    const harness = await startHarness();
    const jobs = [];
    for (let i = 0; i < 4; i++) jobs.push(await startExternalJob(harness));
    await harness.server.conductor.cancel(jobs[1]?.ticket ?? 0n);
    await harness.server.conductor.cancel(jobs[3]?.ticket ?? 0n);

    const first = await harness.client.listTickets({
      state: JobState.RUNNING,
      pageSize: 1,
    });
    const second = await harness.client.listTickets({
      state: JobState.RUNNING,
      pageSize: 1,
      pageToken: first.nextPageToken,
    });

    expect(first.tickets.map((status) => status.ticket)).toEqual([jobs[2]?.ticket]);
    expect(second.tickets.map((status) => status.ticket)).toEqual([jobs[0]?.ticket]);
    expect(second.nextPageToken).toBe("");
  });

  it("rejects a page token it did not make", async () => {
    const harness = await startHarness();

    const error = await grpcError(harness.client.listTickets({ pageToken: "12345" }));

    expect(error.code).toBe(Status.INVALID_ARGUMENT);
    expect(error.details).toBe(
      'page_token "12345" is not a next_page_token from ListTickets',
    );
    expect(errorInfo(error)?.metadata.field).toBe("page_token");
  });
});
