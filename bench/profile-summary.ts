import { readFileSync } from "node:fs";
import { basename } from "node:path";
import { parseArgs } from "node:util";
import { sourceGroup } from "./lib/source-group.js";

/**
 * Prints the functions that took the most time in a V8 .cpuprofile file,
 * as written by `node --cpu-prof`, with the share of all samples each
 * took: self time by default, time including callees with --inclusive.
 * With --by-source it adds up the self time of each source instead: an npm
 * package, a file of this project or a Node.js module.
 */

const USAGE =
  "usage: node dist/benchmarks/bench/profile-summary.js [--inclusive | --by-source] [--top N] FILE";

interface ProfileNode {
  readonly id: number;
  readonly callFrame: {
    readonly functionName: string;
    readonly url: string;
    readonly lineNumber: number;
  };
  readonly children?: number[];
}

interface Profile {
  readonly nodes: ProfileNode[];
  readonly samples: number[];
}

function frameName(node: ProfileNode): string {
  const { functionName, url, lineNumber } = node.callFrame;
  const file = url ? `${basename(url)}:${lineNumber + 1}` : "native";
  return `${functionName || "(anonymous)"} ${file}`;
}

type Grouping = "self" | "inclusive" | "source";

/**
 * Samples per function name, where each sample was taken (self), also
 * for its callers (inclusive), or per source of the function it was taken in.
 */
function countSamples(profile: Profile, grouping: Grouping): Map<string, number> {
  const parents = new Map<number, number>();
  for (const node of profile.nodes) {
    for (const child of node.children ?? []) parents.set(child, node.id);
  }
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const counts = new Map<string, number>();
  for (const id of profile.samples) {
    // A recursive function counts once per sample.
    const names = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parents.get(at)) {
      const node = byId.get(at);
      if (node) {
        names.add(grouping === "source" ? sourceGroup(node.callFrame) : frameName(node));
      }
      if (grouping !== "inclusive") break;
    }
    for (const name of names) counts.set(name, (counts.get(name) ?? 0) + 1);
  }
  return counts;
}

function summarize(path: string, top: number, grouping: Grouping): string[] {
  const profile = JSON.parse(readFileSync(path, "utf8")) as Profile;
  const counts = countSamples(profile, grouping);
  const total = profile.samples.length;
  const idle = countSamples(profile, "self").get("(idle) native") ?? 0;
  const busyShare = ((total - idle) / total) * 100;
  const lines = [`${path}: ${total} samples, ${busyShare.toFixed(1)}% not idle`];
  const sorted = [...counts].sort((a, b) => b[1] - a[1]).slice(0, top);
  for (const [name, samples] of sorted) {
    lines.push(`${((samples / total) * 100).toFixed(1).padStart(5)}%  ${name}`);
  }
  return lines;
}

function parseOptions() {
  try {
    return parseArgs({
      allowPositionals: true,
      options: {
        inclusive: { type: "boolean", default: false },
        "by-source": { type: "boolean", default: false },
        top: { type: "string", default: "30" },
        help: { type: "boolean", short: "h", default: false },
      },
    });
  } catch (error) {
    console.error((error as Error).message);
    console.error(USAGE);
    process.exit(2);
  }
}

const { values, positionals } = parseOptions();
if (values.help) {
  console.log(USAGE);
  process.exit(0);
}
const [path] = positionals;
if (values.inclusive && values["by-source"]) {
  console.error("--inclusive and --by-source cannot be combined");
  console.error(USAGE);
  process.exit(2);
}
const grouping: Grouping = values["by-source"]
  ? "source"
  : values.inclusive
    ? "inclusive"
    : "self";
const top = /^[0-9]+$/.test(values.top) ? Number(values.top) : Number.NaN;
if (!(top >= 1)) {
  console.error(
    `invalid --top ${JSON.stringify(values.top)}: expected a positive integer`,
  );
  console.error(USAGE);
  process.exit(2);
}
if (!path) {
  console.error("missing FILE: pass a .cpuprofile file");
  console.error(USAGE);
  process.exit(2);
}
try {
  console.log(summarize(path, top, grouping).join("\n"));
} catch (error) {
  const message = error instanceof Error ? error.message : String(error);
  console.error(`profile-summary: failed to read ${path}: ${message}`);
  process.exit(1);
}
