import { mkdirSync, writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { parseArgs } from "node:util";
import { formatSection, type Section } from "./lib/report.js";
import { DEFAULT_PROFILE_DIR, type RunOptions, type Scenario } from "./lib/scenario.js";
import { ingestScenario } from "./scenarios/ingest.js";
import { latencyScenario } from "./scenarios/latency.js";
import { manyJobsScenario } from "./scenarios/many-jobs.js";
import { memoryScenario } from "./scenarios/memory.js";
import { peerScenario } from "./scenarios/peer.js";
import { pullScenario } from "./scenarios/pull.js";
import { subscribeScenario } from "./scenarios/subscribe.js";

const SCENARIOS: Scenario[] = [
  subscribeScenario,
  ingestScenario,
  pullScenario,
  latencyScenario,
  manyJobsScenario,
  memoryScenario,
  peerScenario,
];

const USAGE = `usage: npm run bench -- [options] [scenario ...]

Runs every scenario, or the named ones: ${SCENARIOS.map((s) => s.name).join(", ")}.

options:
  --quick            smaller workloads and 3 rounds instead of 5
  --rounds N         rounds per figure; each figure is the median
  --profile          record CPU profiles of the server processes
  --profile-dir DIR  where profiles go (default bench-profiles/)
  --json FILE        also write the tables as JSON to FILE
  --help             print this text`;

function parseOptions() {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      quick: { type: "boolean", default: false },
      rounds: { type: "string" },
      profile: { type: "boolean", default: false },
      "profile-dir": { type: "string" },
      json: { type: "string" },
      help: { type: "boolean", default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  let rounds = values.quick ? 3 : 5;
  if (values.rounds !== undefined) rounds = Number(values.rounds);
  if (!Number.isInteger(rounds) || rounds < 1) {
    throw new Error(`--rounds must be a positive integer; got ${values.rounds}`);
  }
  const profileDir =
    values.profile || values["profile-dir"]
      ? (values["profile-dir"] ?? DEFAULT_PROFILE_DIR)
      : undefined;
  const options: RunOptions = { quick: values.quick, rounds, profileDir };
  return { options, names: positionals, jsonPath: values.json };
}

function selectScenarios(names: string[]): Scenario[] {
  if (names.length === 0) return SCENARIOS;
  return names.map((name) => {
    const scenario = SCENARIOS.find((s) => s.name === name);
    if (!scenario) {
      const known = SCENARIOS.map((s) => s.name).join(", ");
      throw new Error(`unknown scenario ${name}; expected one of: ${known}`);
    }
    return scenario;
  });
}

function machineLine(): string {
  const cpu = cpus()[0]?.model ?? "unknown CPU";
  return `node ${process.version}, ${cpus().length} CPUs (${cpu})`;
}

/** The load averages, which show whether other work shared the machine. */
function loadLine(): string {
  const [one, five] = loadavg().map((load) => load.toFixed(2));
  return `load average ${one} (1 min), ${five} (5 min)`;
}

async function main(): Promise<void> {
  const { options, names, jsonPath } = parseOptions();
  const scenarios = selectScenarios(names);
  // Writing the file now finds a bad path before minutes of measuring.
  if (jsonPath) writeFileSync(jsonPath, "[]\n");
  if (options.profileDir) mkdirSync(options.profileDir, { recursive: true });
  console.log(`conductor benchmarks: ${machineLine()}; ${loadLine()}`);
  console.log(
    `${options.rounds} rounds per figure${options.quick ? ", quick mode" : ""}\n`,
  );
  const sections: Section[] = [];
  const startMs = performance.now();
  for (const scenario of scenarios) {
    const section = await scenario.run(options);
    sections.push(section);
    console.log(`${formatSection(section)}\n`);
  }
  const elapsedS = (performance.now() - startMs) / 1000;
  console.log(`finished in ${elapsedS.toFixed(0)} s; ${loadLine()}`);
  if (jsonPath) writeFileSync(jsonPath, `${JSON.stringify(sections, null, 2)}\n`);
  if (options.profileDir) console.log(`CPU profiles are in ${options.profileDir}/`);
}

try {
  await main();
} catch (error) {
  const message = error instanceof Error ? error.message : String(error);
  console.error(`bench: ${message}`);
  process.exitCode = 1;
}
