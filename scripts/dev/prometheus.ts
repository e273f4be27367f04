/**
 * A Prometheus for `deno task dev` on a machine without Docker (with Docker, the compose stack
 * runs one): Debian's `prometheus` when it is on the PATH (`apt-get install prometheus`), on
 * 127.0.0.1 at `--prometheus-port`, with the scrape jobs of prometheus/prometheus.yml pointed at
 * the programs' metrics ports on 127.0.0.1, the alert rules of prometheus/rules/, and its data in
 * `.cache/dev/prometheus/`. Without it dev runs as before and says how to get it.
 *
 * Requires `--allow-read=prometheus`, `--allow-write=.cache/dev`, `--allow-run=bash,setsid`
 * and `--allow-net=127.0.0.1`.
 *
 * @module
 */
import { parse, stringify } from "yaml";
import type { Running } from "./children.ts";
import { answers, onPath } from "./infra.ts";

/** The Prometheus configuration the compose stack runs, whose jobs dev's copy keeps. */
export const SHIPPED_CONFIG = "prometheus/prometheus.yml";

/** The scrape jobs' names, and which program each scrapes. */
export const JOBS = { "heartbeat-consumer": "consumer", "heartbeat-producer": "producer" } as const;

interface ScrapeConfig {
  job_name: string;
  static_configs?: { targets: string[] }[];
  [key: string]: unknown;
}

/**
 * dev's Prometheus configuration: `shipped` (prometheus/prometheus.yml, parsed) with each job's
 * targets replaced by its program's metrics address on 127.0.0.1, and the rule files at `rules`
 * (a glob). Every job of `shipped` must be one of {@link JOBS}, and every one of {@link JOBS} there.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { devPrometheusConfig } from "./prometheus.ts";
 * const shipped = {
 *   rule_files: ["/etc/prometheus/rules/*.yml"],
 *   scrape_configs: [
 *     { job_name: "heartbeat-consumer", static_configs: [{ targets: ["host.docker.internal:9464"] }] },
 *     { job_name: "heartbeat-producer", static_configs: [{ targets: ["host.docker.internal:9465"] }] },
 *   ],
 * };
 * const config = devPrometheusConfig(shipped, { consumer: 19464, producer: 19465 }, "/src/prometheus/rules/*.yml");
 * assert.deepEqual(config.rule_files, ["/src/prometheus/rules/*.yml"]);
 * ```
 */
export function devPrometheusConfig(
  shipped: unknown,
  ports: { consumer: number; producer: number },
  rules: string,
): { rule_files: string[]; scrape_configs: ScrapeConfig[]; [key: string]: unknown } {
  const config = shipped as { scrape_configs?: ScrapeConfig[]; [key: string]: unknown };
  const jobs = config.scrape_configs ?? [];
  const names = jobs.map((j) => j.job_name).sort();
  if (names.join(",") !== Object.keys(JOBS).sort().join(",")) {
    throw new RangeError(
      `Cannot configure dev's Prometheus: ${SHIPPED_CONFIG} has jobs ${names.join(", ")}, expected ${
        Object.keys(JOBS).join(", ")
      }`,
    );
  }
  return {
    ...config,
    rule_files: [rules],
    scrape_configs: jobs.map((job) => ({
      ...job,
      static_configs: [{ targets: [`127.0.0.1:${ports[JOBS[job.job_name as keyof typeof JOBS]]}`] }],
    })),
  };
}

/** What {@link startDevPrometheus} needs. */
export interface DevPrometheusOptions {
  /** Port to listen on (127.0.0.1); 0: start none. */
  port: number;
  /** The programs' metrics ports. */
  ports: { consumer: number; producer: number };
  /** The project root. */
  root: URL;
  /** Prints one line of dev's own. */
  say: (line: string) => void;
  /** Starts a process in dev's console (children.ts' startProcess with dev's options). */
  start: (command: string, argv: string[], marker: string) => Running;
}

/**
 * Starts dev's Prometheus and waits until it is ready; undefined (after saying why) when the port
 * is 0, `prometheus` is not installed, the port is taken, or it did not start.
 */
export async function startDevPrometheus(options: DevPrometheusOptions): Promise<Running | undefined> {
  const { port, root, say } = options;
  if (port === 0) return undefined;
  if (!(await onPath("prometheus", root))) {
    say(
      "no prometheus on the PATH: `apt-get install prometheus` (Debian, Ubuntu) gets the alert rules evaluated and the metrics kept; dev runs without it",
    );
    return undefined;
  }
  if (await answers(port)) {
    say(
      `127.0.0.1:${port} answers already (another Prometheus, such as the prometheus package's own service?): dev starts none; --prometheus-port gives dev's another port`,
    );
    return undefined;
  }
  const dir = new URL(".cache/dev/prometheus/", root);
  await Deno.mkdir(dir, { recursive: true });
  const shipped = parse(await Deno.readTextFile(new URL(SHIPPED_CONFIG, root)));
  const config = devPrometheusConfig(shipped, options.ports, `${new URL("prometheus/rules/", root).pathname}*.yml`);
  await Deno.writeTextFile(new URL("prometheus.yml", dir), stringify(config));
  const began = performance.now();
  // through bash, which dev may already run: `--allow-run=prometheus` would make Deno print a
  // notice at every dev start on a machine without it
  const prometheus = options.start("bash", [
    "-c",
    'exec prometheus "$@"',
    "prometheus",
    `--config.file=${dir.pathname}prometheus.yml`,
    `--storage.tsdb.path=${dir.pathname}data`,
    `--web.listen-address=127.0.0.1:${port}`,
    "--log.level=warn",
    "--log.format=json",
  ], dir.pathname);
  while (performance.now() - began < 30_000 && !prometheus.done) {
    const ready = await fetch(`http://127.0.0.1:${port}/-/ready`, { signal: AbortSignal.timeout(2_000) })
      .then((r) => r.body?.cancel().then(() => r.ok) ?? r.ok, () => false);
    if (ready) {
      say(`Prometheus is up on http://127.0.0.1:${port} in ${((performance.now() - began) / 1000).toFixed(1)} s`);
      return prometheus;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  say("warning: Prometheus did not get ready in 30 s (its lines are above): dev runs without it");
  prometheus.kill("SIGKILL");
  await prometheus.status;
  return undefined;
}
