/**
 * `deno task dev` and `deno task dev:down`: the services ({@link startInfra}), the schema, the
 * consumer and the producer in one console with a status line, then, on Ctrl-C, SIGTERM or
 * `dev:down`, the producer stopped, then the consumer, then what was started, in reverse.
 *
 * Requires `--allow-run=bash,deno,docker,setsid`, `--allow-net=127.0.0.1`,
 * `--allow-read=.cache/dev,prometheus`, `--allow-write=.cache/dev` and `--allow-env` for {@link PASSED_ENV},
 * {@link SCRIPT_ENV} and the dev options' names.
 *
 * @module
 */
import type { ConfigOf } from "../../lib/config/mod.ts";
import { consumerOptions, migrateOptions } from "../../lib/config/mod.ts";
import { type Running, startProcess, startProgram } from "./children.ts";
import { answers, type Infra, InfraError, onPath, seconds, startInfra, stopStarted } from "./infra.ts";
import type { devOptions } from "./options.ts";
import { isOurs, terminate } from "./processes.ts";
import { startDevPrometheus } from "./prometheus.ts";
import { ANSI, clock, NAME_WIDTH, type Paint, PLAIN } from "./render.ts";
import { type DevState, readState, removeState, writeState } from "./state.ts";
import { type Snapshot, snapshot, statusLine } from "./status.ts";

/** The environment the programs get from the caller's (everything else is set here or left out). */
export const PASSED_ENV = [
  "PATH",
  "HOME",
  "TMPDIR",
  "DENO_DIR",
  "XDG_CACHE_HOME",
  "TERM",
  "NO_COLOR",
  "LANG",
  "LC_ALL",
  "TZ",
  "LOG_LEVEL",
  "HEARTBEAT_KAFKAJS_PATCHES",
  "DATABASE_ADMIN_PASSWORD",
  "DATABASE_ADMIN_PASSWORD_FILE",
  "DATABASE_ADMIN_PASSFILE",
] as const;

/** The start scripts' settings, recorded so that `dev:down` stops the same Kafka and PostgreSQL. */
export const SCRIPT_ENV = [
  "KAFKA_DATA",
  "KAFKA_HOME",
  "KAFKA_CONTROLLER_PORT",
  "KAFKA_HEAP_OPTS",
  "KAFKA_START_TIMEOUT",
  "PG_DATA",
  "PG_BIN",
  "TMPDIR",
] as const;

/** The dev process's marker in its command line. */
const DEV_MARKER = "scripts/dev.ts";

type DevConfig = ConfigOf<typeof devOptions>;

/** Console output of dev's own. */
function console_(paint: Paint) {
  // a closed terminal must not stop dev halfway through stopping the rest
  const print = (line: string) => {
    try {
      console.log(line);
    } catch { /* the terminal is gone */ }
  };
  const say = (text: string) => print(`${clock()} ${paint.name("dev".padEnd(NAME_WIDTH), 4)} ${text}`);
  return { print, say };
}

const pick = (names: readonly string[], env: (n: string) => string | undefined) =>
  Object.fromEntries(names.flatMap((n) => env(n) === undefined ? [] : [[n, env(n)!]])) as Record<string, string>;

const withPort = (url: string, port: number) => {
  const u = new URL(url);
  u.port = String(port);
  return u.toString();
};

async function scrape(port: number, path = "/metrics"): Promise<{ ok: boolean; text: string } | undefined> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(2_000) });
    return { ok: res.ok, text: await res.text() };
  } catch {
    return undefined;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs the pipeline until stopped; resolves with the exit code. */
export async function runDev(config: DevConfig, env: (n: string) => string | undefined, root: URL): Promise<number> {
  const began = performance.now();
  const paint = Deno.stdout.isTerminal() && env("NO_COLOR") === undefined ? ANSI : PLAIN;
  const { print, say } = console_(paint);
  const previous = await readState(root);
  if (previous !== undefined) {
    if (await isOurs(previous.pid, DEV_MARKER)) {
      say(
        `error: a dev run is already going in this checkout (pid ${previous.pid}, since ${previous.startedAt}): deno task dev:down stops it`,
      );
      return 1;
    }
    say(`a previous dev run (pid ${previous.pid}) ended without stopping what it started: stopping that first`);
    await cleanUp(previous, root, say);
  }

  // a port in use would let dev read another process's /readyz and /metrics as the programs'
  for (
    const [port, whose, flag] of [
      [config.consumerMetricsPort, "the consumer's metrics port", "--consumer-metrics-port"],
      [config.producerMetricsPort, "the producer's metrics port", "--producer-metrics-port"],
    ] as const
  ) {
    if (await answers(port)) {
      console.error(
        `error: 127.0.0.1:${port} (${whose}) is in use: stop what listens there, or give ${flag} another port`,
      );
      return 1;
    }
  }

  let stopRequested = false, forced = false;
  let stopBegan: number | undefined;
  let wake: () => void = () => {};
  const stopped = new Promise<void>((resolve) => (wake = resolve));
  const programs: Running[] = [];
  let prometheus: Running | undefined;
  const onSignal = (name: Deno.Signal) => () => {
    if (stopRequested) {
      // `deno task` passes the terminal's Ctrl-C on as well: only a signal a second after the
      // first means "stop now"
      if (performance.now() - stopBegan! < 1_000) return;
      if (!forced) say(`second ${name}: killing the programs now`);
      forced = true;
      for (const p of programs) p.kill("SIGKILL");
      return;
    }
    stopRequested = true;
    stopBegan = performance.now();
    say(`${name}: stopping the producer, then the consumer, then what dev started`);
    wake();
  };
  // SIGHUP: the terminal closed; everything is stopped as for a Ctrl-C
  const handlers = (["SIGINT", "SIGTERM", "SIGHUP"] as const).map((s) => [s, onSignal(s)] as const);
  for (const [s, h] of handlers) Deno.addSignalListener(s, h);

  let infra: Infra = { mode: "local", started: [] };
  const state: DevState = { pid: Deno.pid, startedAt: new Date().toISOString(), programs: [], started: [] };
  let code = 0;
  try {
    try {
      infra = await startInfra({
        infra: config.infra,
        kafkaPort: config.kafkaPort,
        postgresPort: config.postgresPort,
        scriptEnv: pick(SCRIPT_ENV, env),
        say,
        root,
      });
    } catch (error) {
      if (error instanceof InfraError) {
        console.error(`error: ${error.message}`);
        return 1;
      }
      throw error;
    }
    state.started = infra.started;
    await writeState(root, state);
    const docker = infra.mode === "docker";
    const kafkaPort = docker ? 9092 : config.kafkaPort, postgresPort = docker ? 5432 : config.postgresPort;
    if (docker && (config.kafkaPort !== 9092 || config.postgresPort !== 5432)) {
      say(
        "the compose stack publishes Kafka on 9092 and PostgreSQL on 5432: --kafka-port and --postgres-port apply to --infra local",
      );
    }
    if (stopRequested) return 130;

    const base = pick(PASSED_ENV, env);
    // the compose Prometheus scrapes the programs through host.docker.internal: they must listen beyond loopback
    const brokers = {
      KAFKA_BROKERS: `127.0.0.1:${kafkaPort}`,
      ...(docker ? { HEARTBEAT_METRICS_HOST: "0.0.0.0" } : {}),
    };
    const setsid = await onPath("setsid", root);
    const start = (
      name: "db:migrate" | "consumer" | "producer",
      label: string,
      index: number,
      args: string[],
      extra: Record<string, string>,
    ) => {
      const p = startProgram(name, args, { label, index, env: { ...base, ...extra }, root, paint, print, setsid });
      programs.push(p);
      state.programs.push({ name: label, pid: p.pid, script: p.script });
      return p;
    };

    const migrateBegan = performance.now();
    const migrate = start("db:migrate", "migrate", 2, [], {
      DATABASE_ADMIN_URL: withPort(migrateOptions.databaseUrl.default, postgresPort),
    });
    const migrated = await migrate.status;
    programs.splice(programs.indexOf(migrate), 1);
    state.programs = state.programs.filter((p) => p.pid !== migrate.pid);
    if (!migrated.success) {
      say("error: deno task db:migrate failed (its lines are above)");
      return 1;
    }
    say(`schema ready in ${seconds(migrateBegan)}`);
    if (stopRequested) return 130;

    if (!docker) {
      prometheus = await startDevPrometheus({
        port: config.prometheusPort,
        ports: { consumer: config.consumerMetricsPort, producer: config.producerMetricsPort },
        root,
        say,
        start: (command, argv, marker) =>
          startProcess(command, argv, marker, {
            label: "prometheus",
            index: 3,
            env: pick(["PATH", "HOME", "TMPDIR", "TZ"], env),
            root,
            paint,
            print,
            setsid,
          }),
      });
      if (prometheus !== undefined) {
        state.programs.push({ name: "prometheus", pid: prometheus.pid, script: prometheus.script });
        await writeState(root, state);
        void prometheus.status.then((s) => {
          if (!stopRequested) say(`warning: Prometheus exited (code ${s.code}); the pipeline runs on without it`);
        });
      }
      if (stopRequested) return 130;
    }

    const consumer = start("consumer", "consumer", 0, [], {
      ...brokers,
      DATABASE_URL: withPort(consumerOptions.databaseUrl.default, postgresPort),
      HEARTBEAT_CONSUMER_METRICS_PORT: String(config.consumerMetricsPort),
    });
    await writeState(root, state);
    // the producer starts once the consumer holds its partitions (it creates the topic when missing)
    const readyBy = performance.now() + 60_000;
    let ready = false;
    while (!stopRequested && !consumer.done && performance.now() < readyBy) {
      if ((ready = (await scrape(config.consumerMetricsPort, "/readyz"))?.ok ?? false)) break;
      await sleep(500);
    }
    if (!stopRequested && !consumer.done) {
      say(
        `${
          ready ? "consumer ready" : "the consumer is not ready after 60 s (see its lines)"
        }; starting the producer: ${config.rate} readings/s from ${config.customers} simulated customers`,
      );
      start("producer", "producer", 1, [
        "--rate",
        String(config.rate),
        "--customers",
        String(config.customers),
      ], {
        ...brokers,
        HEARTBEAT_PRODUCER_METRICS_PORT: String(config.producerMetricsPort),
      });
      await writeState(root, state);
    }
    const died = Promise.race([...programs.map((p) => p.status.then(() => p))]);

    // first reading, then where to look, then the status line every statusEvery
    let before: Snapshot | undefined;
    let firstSeen = false;
    let nextStatus = performance.now() + config.statusEvery;
    let dead: Running | undefined;
    void died.then((p) => {
      if (!stopRequested) dead = p;
      wake();
    });
    while (!stopRequested && dead === undefined) {
      const [c, p] = await Promise.all([scrape(config.consumerMetricsPort), scrape(config.producerMetricsPort)]);
      const now = snapshot(performance.now(), c?.text, p?.text);
      if (!firstSeen && (now.stored ?? 0) > 0) {
        firstSeen = true;
        const prometheusAt = docker
          ? "http://127.0.0.1:9090 (the compose service)"
          : prometheus !== undefined
          ? `http://127.0.0.1:${config.prometheusPort}`
          : undefined;
        whereToLook(say, print, infra, { ...config, postgresPort, prometheusAt }, seconds(began));
        before = now;
        nextStatus = performance.now() + config.statusEvery;
      } else if (firstSeen && config.statusEvery > 0 && performance.now() >= nextStatus) {
        say(statusLine(now, before));
        before = now;
        nextStatus = performance.now() + config.statusEvery;
      }
      await Promise.race([stopped, sleep(firstSeen ? 1_000 : 500)]);
    }
    if (dead !== undefined) {
      say(`error: the ${dead.name} exited (code ${(await dead.status).code}) while the pipeline ran: stopping`);
      code = 1;
    } else {
      code = 0;
    }
    return code;
  } finally {
    stopBegan ??= performance.now();
    const ran = programs.length > 0 || prometheus !== undefined || infra.started.length > 0;
    const names = new Set(programs.map((p) => `the ${p.name}`));
    await stopAll(programs, prometheus, infra, root, say);
    await removeState(root);
    for (const [s, h] of handlers) Deno.removeSignalListener(s, h);
    if (ran) {
      const what = [
        names.size === 0 ? "" : [...names].join(" and "),
        prometheus === undefined ? "" : "Prometheus",
        ...infra.started.map(describe),
      ]
        .filter((w) => w !== "");
      const list = what.length > 1 ? `${what.slice(0, -1).join(", ")} and ${what.at(-1)}` : what[0] ?? "nothing";
      say(`stopped ${list} in ${seconds(stopBegan)}`);
    }
  }
}

function describe(s: Infra["started"][number]): string {
  return s.kind === "script" ? `${s.name} (${s.script})` : `the compose services ${s.services.join(", ")}`;
}

function whereToLook(
  say: (line: string) => void,
  print: (line: string) => void,
  infra: Infra,
  c: {
    postgresPort: number;
    consumerMetricsPort: number;
    producerMetricsPort: number;
    prometheusAt?: string | undefined;
  },
  after: string,
): void {
  say(`the pipeline runs: first reading stored ${after} after dev started. Where to look:`);
  const psql = infra.mode === "docker"
    ? `psql postgres://postgres@127.0.0.1:5432/heartbeat   (password: POSTGRES_PASSWORD of docker-compose.yml)`
    : `psql -h 127.0.0.1 -p ${c.postgresPort} -U postgres heartbeat`;
  const rows = [
    ["readings", `${psql} -c 'select * from readings order by recorded_at desc limit 5'`],
    [
      "metrics",
      `http://127.0.0.1:${c.consumerMetricsPort}/metrics (consumer), http://127.0.0.1:${c.producerMetricsPort}/metrics (producer)`,
    ],
    ["health", `http://127.0.0.1:${c.consumerMetricsPort}/readyz`],
    [
      "alerts",
      c.prometheusAt === undefined
        ? "no Prometheus (apt-get install prometheus; rules in prometheus/rules/)"
        : `${c.prometheusAt}/alerts (rules: prometheus/rules/heartbeat.yml)`,
    ],
    ["dashboard", infra.grafana ?? "Grafana runs with the compose stack (deno task dev on a machine with Docker)"],
    ["stop", "Ctrl-C here, or deno task dev:down from another terminal"],
  ];
  for (const [what, where] of rows) print(`    ${what!.padEnd(10)} ${where}`);
}

/** Stops the producer, then the consumer, then Prometheus, then the services, newest first. */
async function stopAll(
  programs: Running[],
  prometheus: Running | undefined,
  infra: Infra,
  root: URL,
  say: (line: string) => void,
): Promise<void> {
  for (const p of [...[...programs].reverse(), ...(prometheus === undefined ? [] : [prometheus])]) {
    p.kill("SIGTERM");
    const done = await Promise.race([
      p.status.then(() => true),
      sleep(p.name === "consumer" ? 30_000 : 20_000).then(() => false),
    ]);
    if (!done) {
      say(`the ${p.name} did not stop in time: killing it`);
      p.kill("SIGKILL");
      await p.status;
    }
  }
  for (const s of [...infra.started].reverse()) {
    if (!(await stopStarted(s, root))) say(`warning: could not stop ${describe(s)}`);
  }
}

/** Stops what a recorded run left: its programs (if still ours), then its services. */
async function cleanUp(state: DevState, root: URL, say: (line: string) => void): Promise<void> {
  for (const p of [...state.programs].reverse()) {
    const how = await terminate(p.pid, p.script, p.name === "consumer" ? 30_000 : 20_000);
    if (how !== "gone") say(`${p.name} (pid ${p.pid}) ${how}`);
  }
  for (const s of [...state.started].reverse()) {
    if (!(await stopStarted(s, root))) say(`warning: could not stop ${describe(s)}`);
  }
  await removeState(root);
}

/** `deno task dev:down`: stops the recorded dev run (asking it to stop itself while it lives). */
export async function devDown(root: URL): Promise<number> {
  const { say } = console_(PLAIN);
  const state = await readState(root);
  if (state === undefined) {
    say("no dev run is recorded in this checkout (.cache/dev/state.json): nothing to stop");
    return 0;
  }
  if (await isOurs(state.pid, DEV_MARKER)) {
    say(`asking the dev run (pid ${state.pid}) to stop`);
    const how = await terminate(state.pid, DEV_MARKER, 120_000);
    if (how !== "killed") {
      say("it stopped everything it started");
      return 0;
    }
    say("it did not stop within 120 s and was killed: stopping what it left");
  } else {
    say(`the dev run (pid ${state.pid}) is gone: stopping what it left`);
  }
  await cleanUp(state, root, say);
  say("done");
  return 0;
}
