import { readFile } from "node:fs/promises";
import { createChannel, createClient } from "nice-grpc";
import { HealthDefinition } from "nice-grpc-server-health";
import { afterEach, describe, expect, it } from "vitest";
import {
  SERVE_SETTINGS,
  type ServeSettings,
  type SettingDefinition,
  settingsForLog,
} from "../src/cli/serve-settings.js";
import { jsonLines, runCli, startServe } from "./support/cli.js";
import { startHarness } from "./support/harness.js";

const channels: { close(): void }[] = [];
afterEach(() => {
  for (const channel of channels.splice(0)) channel.close();
});

describe("conductor serve settings", () => {
  const invalid: [string, string[], Record<string, string>, string][] = [
    [
      "timeout",
      ["--timeout-ms", "abc"],
      {},
      'invalid --timeout-ms "abc": must be a whole number of milliseconds from 1 to 2147483647',
    ],
    [
      "timeout past the timer limit",
      ["--timeout-ms", "2147483648"],
      {},
      "from 1 to 2147483647",
    ],
    [
      "max data",
      ["--max-data", "0"],
      {},
      'invalid --max-data "0": must be a whole number of results from 1 to 2147483647',
    ],
    ["queue limit", ["--max-queued-jobs", "-1"], {}, 'invalid --max-queued-jobs "-1"'],
    ["runner timeout", ["--runner-timeout-ms", "2"], {}, "from 3 to 2147483647"],
    ["message size", ["--max-message-bytes", "10"], {}, "bytes from 1024 to 2147483647"],
    ["retained bytes", ["--retain-bytes", "-1"], {}, 'invalid --retain-bytes "-1"'],
    [
      "listen address",
      ["--listen", "localhost"],
      {},
      'invalid --listen "localhost": address "localhost" must be host:port',
    ],
    [
      "listen host with a space",
      ["--listen", " 127.0.0.1:0"],
      {},
      'invalid --listen " 127.0.0.1:0": host " 127.0.0.1" in address " 127.0.0.1:0" ' +
        "is not a host name or IPv4 address; the address must be host:port, " +
        "[ipv6]:port or :port",
    ],
    [
      "listen IPv4 address out of range",
      ["--listen", "256.1.1.1:0"],
      {},
      'invalid --listen "256.1.1.1:0": host "256.1.1.1"',
    ],
    [
      "listen host name",
      ["--listen", "a b:0"],
      {},
      'invalid --listen "a b:0": host "a b"',
    ],
    [
      "listen IPv6 address",
      [],
      { CONDUCTOR_LISTEN: "[fe80::zz]:0" },
      'invalid CONDUCTOR_LISTEN (--listen) "[fe80::zz]:0": "fe80::zz" in address ' +
        '"[fe80::zz]:0" is not an IPv6 address; the address must be host:port',
    ],
    [
      "metrics host",
      ["--metrics-address", "999.0.0.1:0"],
      {},
      'invalid --metrics-address "999.0.0.1:0": host "999.0.0.1"',
    ],
    [
      "metrics port",
      ["--metrics-address", "127.0.0.1:70000"],
      {},
      "port from 0 to 65535",
    ],
    [
      "digest root",
      ["--digest-root", "/no/such/dir"],
      {},
      "must be an existing directory",
    ],
    [
      "log level",
      [],
      { CONDUCTOR_LOG_LEVEL: "loud" },
      'invalid CONDUCTOR_LOG_LEVEL (--log-level) "loud": must be one of trace, debug',
    ],
    [
      "grace period",
      [],
      { CONDUCTOR_GRACE_PERIOD_MS: "1.5" },
      "invalid CONDUCTOR_GRACE_PERIOD_MS",
    ],
    ["runner kinds", ["--runner-kinds", "a,,b"], {}, "with no empty kind"],
    [
      "runner kind that is built in",
      [],
      { CONDUCTOR_RUNNER_KINDS: "alpha,digest" },
      'invalid CONDUCTOR_RUNNER_KINDS (--runner-kinds) "alpha,digest": must leave ' +
        "out built-in kinds, which the server runs itself: digest",
    ],
  ];

  it.each(invalid)(
    "rejects an invalid %s with exit code 2",
    async (_, args, env, message) => {
      const result = await runCli(["serve", ...args], { env });

      expect(result.code).toBe(2);
      expect(result.stderr).toContain(message);
      expect(result.stdout).toBe("");
    },
  );

  it("reports every invalid setting at once", async () => {
    const result = await runCli(["serve", "--max-data", "x", "--timeout-ms", "y"]);

    expect(result.code).toBe(2);
    expect(result.stderr).toContain("invalid --max-data");
    expect(result.stderr).toContain("invalid --timeout-ms");
  });

  it("rejects an unknown flag with exit code 2", async () => {
    const result = await runCli(["serve", "--no-such-flag"]);

    expect(result.code).toBe(2);
    expect(result.stderr).toContain("unknown option '--no-such-flag'");
  });

  it("help names each flag, variable and default", async () => {
    const result = await runCli(["serve", "--help"]);

    expect(result.code).toBe(0);
    const help = result.stdout.replace(/\s+/g, " ");
    for (const setting of SERVE_SETTINGS) {
      expect(help).toContain(`${setting.flag} <${setting.valueName}>`);
      expect(help).toContain(`default: ${setting.defaultText}, env: ${setting.env}`);
    }
  });

  it("operations guide lists the log messages of serve", async () => {
    const guide = await readFile(
      new URL("../docs/operations.md", import.meta.url),
      "utf8",
    );
    const messages = [
      "server started",
      "shutdown started",
      "grace period ended: ending the calls still open",
      "second signal during shutdown: exiting at once",
      "shutdown complete",
      "handler failed",
      "handler ended after its call ended",
    ];

    for (const message of messages) expect(guide).toContain(`\`${message}\``);
  });

  it("operations guide documents each flag and variable", async () => {
    const guide = await readFile(
      new URL("../docs/operations.md", import.meta.url),
      "utf8",
    );

    for (const setting of SERVE_SETTINGS) {
      expect(guide).toContain(`\`${setting.flag}\``);
      expect(guide).toContain(`\`${setting.env}\``);
    }
  });
});

describe("conductor serve", () => {
  it("logs its settings and reports SERVING", async () => {
    const serve = await startServe(["--max-data", "7"], {
      env: { CONDUCTOR_TIMEOUT_MS: "9000" },
    });
    const channel = createChannel(serve.address);
    channels.push(channel);

    const health = await createClient(HealthDefinition, channel).check({ service: "" });

    expect(health.status).toBe(1); // SERVING
    serve.child.kill("SIGTERM");
    const result = await serve.exited;
    const [started] = jsonLines(result.stdout);
    expect(started?.msg).toBe("server started");
    expect(started?.level).toBe("info");
    expect(started?.settings).toMatchObject({
      maxData: 7,
      timeoutMs: 9000,
      logLevel: "info",
      runnerKinds: null,
    });
    expect(Object.keys(started?.settings as object)).toEqual(
      SERVE_SETTINGS.map((setting) => setting.key),
    );
    expect(result.code).toBe(0);
  });

  it("takes a flag over its environment variable", async () => {
    const serve = await startServe(["--max-data", "9"], {
      env: { CONDUCTOR_MAX_DATA: "7" },
    });
    serve.child.kill("SIGTERM");
    const result = await serve.exited;

    const [started] = jsonLines(result.stdout);
    expect(started?.settings).toMatchObject({ maxData: 9 });
    expect(result.code).toBe(0);
  });

  it("logs job failures and expiry sweeps", async () => {
    const serve = await startServe(["--log-level", "debug", "--timeout-ms", "20"]);

    const exec = await runCli([
      "exec",
      "digest",
      "--input",
      '{"path":"no-such-dir"}',
      "--address",
      serve.address,
    ]);
    const ticket = exec.stdout.trim();
    const failed = await serve.line((line) => line.includes('"job failed"'));
    const expired = await serve.line((line) => line.includes('"tickets expired"'));

    expect(JSON.parse(failed)).toMatchObject({
      level: "warn",
      ticket,
      kind: "digest",
      code: 5,
      error: expect.stringContaining("no-such-dir"),
    });
    expect(JSON.parse(expired)).toMatchObject({ level: "debug", count: 1 });
  });

  it("exits 1 when the address is in use", async () => {
    const harness = await startHarness();

    const result = await runCli(["serve", "--listen", harness.address]);

    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^conductor: cannot start the server: [^\n]*\n$/);
    expect(jsonLines(result.stdout)).toEqual([
      expect.objectContaining({
        level: "error",
        component: "grpc-js",
        msg: expect.stringContaining("No address added"),
      }),
    ]);
  });

  it("rejects an unknown command with exit code 2", async () => {
    const result = await runCli(["no-such-command"]);

    expect(result.code).toBe(2);
    expect(result.stderr).toContain("unknown command 'no-such-command'");
  });
});

describe("settingsForLog", () => {
  it("replaces secret settings", () => {
    const [listen] = SERVE_SETTINGS;
    const settings = { listen: "127.0.0.1:1" } as ServeSettings;
    const secret = { ...(listen as SettingDefinition), secret: true };

    expect(settingsForLog(settings, [secret])).toEqual({ listen: "[redacted]" });
    expect(settingsForLog(settings, [listen as SettingDefinition])).toEqual({
      listen: "127.0.0.1:1",
    });
  });
});
