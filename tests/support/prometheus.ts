/**
 * A real Prometheus for the tests: finding Debian's `prometheus` and `promtool` on `PATH`
 * (`apt-get install prometheus`; `.ci/run` installs it when missing), starting one on loopback
 * with a throw-away data folder, and asking its HTTP API. Every fixture stops what it started
 * (`await using`).
 *
 * Requires `--allow-env=PATH`, `--allow-read`, `--allow-run` and `--allow-net` of the address it
 * listens on.
 *
 * @module
 */
import { stringify } from "yaml";
import { terminate } from "./process.ts";
import { parseYaml } from "./yaml.ts";

export { parseYaml };

/** The repository's root. */
export const ROOT: URL = new URL("../../", import.meta.url);

/** The path of an executable on `PATH`, or null. */
export function which(name: string): string | null {
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    if (dir === "") continue;
    const path = `${dir}/${name}`;
    try {
      const info = Deno.statSync(path);
      if (info.isFile && ((info.mode ?? 0o111) & 0o111) !== 0) return path;
    } catch { /* not here */ }
  }
  return null;
}

/** `prometheus` and `promtool`, when both are on `PATH`. */
export const PROMETHEUS_BIN: string | null = which("prometheus");
/** `promtool`, when on `PATH`. */
export const PROMTOOL_BIN: string | null = which("promtool");

/** What is missing to run Prometheus, or null. */
export const prometheusMissing: string | null = PROMETHEUS_BIN !== null && PROMTOOL_BIN !== null
  ? null
  : "Prometheus' prometheus and promtool on PATH (run: apt-get install prometheus)";

const inCi = Deno.env.get("CI") === "true";

/**
 * Declares a test that needs promtool or prometheus but no other server: skipped with a message
 * naming what to install when they are missing outside CI; under `CI=true` it runs and fails at
 * once, naming them.
 */
export function prometheusTest(name: string, fn: (t: Deno.TestContext) => Promise<void>): void {
  Deno.test({
    name,
    ignore: prometheusMissing !== null && !inCi,
    async fn(t) {
      if (prometheusMissing !== null) throw new Error(`this test needs ${prometheusMissing}`);
      await fn(t);
    },
  });
}

if (prometheusMissing !== null && !inCi) {
  console.warn(`Prometheus tests skipped: install ${prometheusMissing}`);
}

/** Reads a YAML file of the repository. */
export async function readYaml(path: string): Promise<unknown> {
  return parseYaml(await Deno.readTextFile(new URL(path, ROOT)));
}

/** Runs a command with `stdin`; its stdout, or an error with its stderr. */
async function run(command: string, args: string[], stdin = ""): Promise<string> {
  const child = new Deno.Command(command, { args, stdin: "piped", stdout: "piped", stderr: "piped" }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(stdin));
  await writer.close();
  const { code, stdout, stderr } = await child.output();
  const decode = (b: Uint8Array) => new TextDecoder().decode(b);
  if (code !== 0) throw new Error(`${command} ${args.join(" ")} failed: ${decode(stderr)}`);
  return decode(stdout);
}

/** Writes a value as YAML (through a subprocess: the tests run without --allow-write). */
async function writeYaml(path: string, value: unknown): Promise<void> {
  await run("bash", ["-c", 'cat >"$1"', "_", path], stringify(value));
}

/** Runs promtool with `args` in the repository's root: exit code and output. */
export async function promtool(...args: string[]): Promise<{ code: number; output: string }> {
  if (PROMTOOL_BIN === null) throw new Error(`promtool is missing: ${prometheusMissing}`);
  const { code, stdout, stderr } = await new Deno.Command(PROMTOOL_BIN, { args, cwd: ROOT }).output();
  const decode = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code, output: decode(stdout) + decode(stderr) };
}

/** A rule of a Prometheus rule file (alerting or recording). */
export interface Rule {
  /** An alerting rule's name. */
  alert?: string;
  /** A recording rule's name. */
  record?: string;
  /** PromQL. */
  expr: string;
  /** How long the condition must hold before the alert fires (`1m`); absent: at once. */
  for?: string;
  /** Labels added to the alert. */
  labels?: Record<string, string>;
  /** Annotations (`summary`, `runbook`). */
  annotations?: Record<string, string>;
}

/** A Prometheus rule file. */
export interface RuleFile {
  /** Its groups. */
  groups: { name: string; interval?: string; rules: Rule[] }[];
}

/** The shipped alert rule files: `prometheus/rules/*.yml`. */
export async function ruleFiles(): Promise<{ path: string; rules: RuleFile }[]> {
  const files: { path: string; rules: RuleFile }[] = [];
  for await (const entry of Deno.readDir(new URL("prometheus/rules/", ROOT))) {
    if (!entry.isFile || !entry.name.endsWith(".yml")) continue;
    const path = `prometheus/rules/${entry.name}`;
    files.push({ path, rules: (await readYaml(path)) as RuleFile });
  }
  return files.sort((a, b) => a.path.localeCompare(b.path));
}

/** One scrape job of a Prometheus configuration. */
export interface ScrapeConfig {
  /** Its name: the `job` label. */
  job_name: string;
  /** How often it scrapes. */
  scrape_interval?: string;
  /** The targets. */
  static_configs?: { targets: string[]; labels?: Record<string, string> }[];
}

/** A Prometheus configuration file, as far as these tests go. */
export interface PrometheusConfig {
  /** Defaults. */
  global?: { scrape_interval?: string; evaluation_interval?: string } & Record<string, unknown>;
  /** Rule file globs. */
  rule_files?: string[];
  /** Scrape jobs. */
  scrape_configs: ScrapeConfig[];
}

/** A state of an alert as `/api/v1/alerts` lists it. */
export interface ApiAlert {
  /** Its labels, `alertname` among them. */
  labels: Record<string, string>;
  /** Its annotations. */
  annotations: Record<string, string>;
  /** `pending` or `firing`. */
  state: "pending" | "firing";
  /** When its condition began to hold (RFC 3339). */
  activeAt: string;
  /** The expression's value. */
  value: string;
}

/** A series of a range query's result. */
export interface RangeSeries {
  /** Its labels. */
  metric: Record<string, string>;
  /** [unix seconds, value as text] pairs. */
  values: [number, string][];
}

/** A running Prometheus. */
export interface RunningPrometheus extends AsyncDisposable {
  /** Its base URL, `http://127.0.0.1:<port>`. */
  url: string;
  /** Its log so far. */
  log(): string;
  /** `GET /api/v1/<path>?<params>`; throws unless the API answers `success`. */
  api<T>(path: string, params?: Record<string, string>): Promise<T>;
}

/**
 * Starts `prometheus` on `127.0.0.1:<port>` with a configuration and rule files written into a
 * temporary folder (also its data folder; made, written and removed by subprocesses, so the tests
 * need no `--allow-write`), and waits until it is ready. Stopped (SIGTERM, then
 * SIGKILL) and its folder deleted on dispose.
 */
export async function startPrometheus(
  options: { port: number; config: PrometheusConfig; rules: Record<string, RuleFile> },
): Promise<RunningPrometheus> {
  if (PROMETHEUS_BIN === null) throw new Error(`prometheus is missing: ${prometheusMissing}`);
  const dir = (await run("mktemp", ["-d", "-t", "heartbeat-prometheus.XXXXXXXX"])).trim();
  const ruleFiles: string[] = [];
  for (const [name, rules] of Object.entries(options.rules)) {
    const path = `${dir}/${name}`;
    await writeYaml(path, rules);
    ruleFiles.push(path);
  }
  const configPath = `${dir}/prometheus.yml`;
  await writeYaml(configPath, { ...options.config, rule_files: ruleFiles });
  const url = `http://127.0.0.1:${options.port}`;
  const child = new Deno.Command(PROMETHEUS_BIN, {
    args: [
      `--config.file=${configPath}`,
      `--storage.tsdb.path=${dir}/data`,
      `--web.listen-address=127.0.0.1:${options.port}`,
      "--log.level=warn",
    ],
    stdout: "piped",
    stderr: "piped",
    clearEnv: true,
  }).spawn();
  let log = "";
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) log += chunk;
  };
  const pumps = Promise.all([pump(child.stdout), pump(child.stderr)]);
  let exited = false;
  const status = child.status.then(async (s) => {
    exited = true;
    await pumps;
    return s;
  });
  const stop = async () => {
    if (!exited) await terminate(child, status, 10_000);
    await run("rm", ["-rf", "--", dir]).catch(() => {});
  };
  const running: RunningPrometheus = {
    url,
    log: () => log,
    async api<T>(path: string, params: Record<string, string> = {}): Promise<T> {
      const response = await fetch(`${url}/api/v1/${path}?${new URLSearchParams(params)}`);
      const body = await response.json() as { status: string; data: T; error?: string; errorType?: string };
      if (body.status !== "success") {
        throw new Error(`Prometheus ${path} ${JSON.stringify(params)}: ${body.errorType}: ${body.error}`);
      }
      return body.data;
    },
    [Symbol.asyncDispose]: stop,
  };
  try {
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (exited) throw new Error(`prometheus exited at start:\n${log}`);
      const ready = await fetch(`${url}/-/ready`).then((r) => r.body?.cancel().then(() => r.ok), () => false);
      if (ready) break;
      if (Date.now() > deadline) throw new Error(`prometheus not ready on ${url} after 30 s:\n${log}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  } catch (error) {
    await stop();
    throw error;
  }
  return running;
}

/** Go-style durations as Prometheus writes them (`1m`, `30s`, `1h5m`), in milliseconds. */
export function durationMs(text: string): number {
  const units: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };
  const parts = [...text.matchAll(/(\d+)(ms|s|m|h|d|w)/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join("") !== text) {
    throw new RangeError(`Cannot parse duration '${text}': expected e.g. 30s, 1m, 1h5m`);
  }
  return parts.reduce((sum, [, n, unit]) => sum + Number(n) * units[unit!]!, 0);
}
