import { describe, expect, it } from "vitest";
import { parseCompareArgs, UsageError } from "../bench/lib/compare-args.js";

describe("parseCompareArgs", () => {
  it("reads a workload, options and builds", () => {
    const args = [
      "single",
      "a",
      "--result-bytes",
      "4096",
      "--server-flag",
      "--trace-gc",
      "b",
    ];

    const parsed = parseCompareArgs(args);

    expect(parsed).toEqual({
      workload: "single",
      flags: ["--trace-gc"],
      builds: ["a", "b"],
      resultBytes: 4096,
    });
  });

  it("reads options before the workload", () => {
    const parsed = parseCompareArgs(["--result-bytes", "128", "ingest", "dist"]);

    expect(parsed).toMatchObject({
      workload: "ingest",
      builds: ["dist"],
      resultBytes: 128,
    });
  });

  it("leaves the result size unset when not given", () => {
    expect(parseCompareArgs(["ingest", "dist"]).resultBytes).toBeUndefined();
  });

  it.each([
    [[], /missing WORKLOAD/],
    [["bogus", "dist"], /unknown workload "bogus"/],
    [["single"], /missing BUILD/],
    [["single", "dist", "--server-flag"], /missing value after --server-flag/],
    [["single", "dist", "--result-bytes"], /missing value after --result-bytes/],
    [["pull", "--result-bytes", "64", "dist"], /does not apply to pull/],
    [["ingest", "--rounds", "3", "dist"], /unknown option --rounds/],
    [["--result-bytes", "0", "ingest", "dist"], /invalid --result-bytes "0"/],
  ])("rejects %j", (args, message) => {
    expect(() => parseCompareArgs(args)).toThrow(message);
  });

  it.each(["0", "-1", "1.5", "abc", "0x40", "1e2", "4097", "100000000", ""])(
    "rejects --result-bytes %j",
    (value) => {
      const parse = () => parseCompareArgs(["single", "--result-bytes", value, "dist"]);

      expect(parse).toThrow(UsageError);
    },
  );
});
