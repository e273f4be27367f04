/**
 * `deno task dev` as a newcomer runs it on a machine without Docker: it starts Kafka
 * (scripts/kafka.sh) and a throw-away PostgreSQL (scripts/postgres.sh) because nothing answers on
 * their ports, migrates, runs the consumer and a producer, stores readings, says where to look,
 * and when stopped (Ctrl-C to its process group, or `deno task dev:down` from elsewhere) leaves no
 * broker, database, consumer or producer process behind. Its own ports, data folders and a
 * Docker-free `--infra local`, so that it never touches the services the other tests use.
 */
import assert from "node:assert/strict";
// @ts-types="@types/pg"
import pg from "pg";
import { integrationTest, waitUntil } from "./support/helpers.ts";
import { answers } from "../scripts/dev/infra.ts";

const ROOT = new URL("..", import.meta.url);
const PORTS = { kafka: 19292, controller: 19293, postgres: 5444, consumer: 19464, producer: 19465 };

/** Every process: pid, parent and command line. */
async function processTable(): Promise<{ pid: number; ppid: number; args: string }[]> {
  const out = await new Deno.Command("ps", { args: ["-e", "-o", "pid=,ppid=,args="], stdout: "piped" }).output();
  return new TextDecoder().decode(out.stdout).split("\n").flatMap((line) => {
    const m = /^\s*(\d+)\s+(\d+)\s+(.*)$/.exec(line);
    return m === null ? [] : [{ pid: Number(m[1]), ppid: Number(m[2]), args: m[3]! }];
  });
}

/** The processes under `root`, and those whose pid files the start scripts wrote. */
async function devProcesses(root: number, dir: string): Promise<Map<number, string>> {
  const table = await processTable();
  const found = new Map<number, string>();
  const queue = [root];
  while (queue.length > 0) {
    const pid = queue.shift()!;
    for (const p of table.filter((p) => p.ppid === pid)) (found.set(p.pid, p.args), queue.push(p.pid));
  }
  const kafka = Number((await Deno.readTextFile(`${dir}/kafka/kafka.pid`)).trim());
  const postmaster = Number((await Deno.readTextFile(`${dir}/pg/data/postmaster.pid`)).split("\n")[0]);
  for (const pid of [kafka, postmaster]) found.set(pid, table.find((p) => p.pid === pid)?.args ?? "(gone)");
  return found;
}

async function alive(pids: Iterable<number>): Promise<string[]> {
  const table = await processTable();
  return [...pids].flatMap((pid) => table.filter((p) => p.pid === pid).map((p) => `${p.pid} ${p.args}`));
}

/** `deno task dev` in a session of its own (as a terminal runs it), its output collected. */
function startDev(args: string[], env: Record<string, string>) {
  const child = new Deno.Command("setsid", {
    args: [Deno.execPath(), "task", "dev", ...args, "--status-every", "2s"],
    cwd: ROOT,
    env: {
      HEARTBEAT_CONSUMER_METRICS_PORT: String(PORTS.consumer),
      HEARTBEAT_PRODUCER_METRICS_PORT: String(PORTS.producer),
      // no Prometheus of dev's own: 9090 may be the prometheus package's (scripts/dev/prometheus_test.ts
      // tests its configuration)
      HEARTBEAT_DEV_PROMETHEUS_PORT: "0",
      ...env,
    },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let output = "", exited = false;
  const pump = (s: ReadableStream<Uint8Array>) =>
    s.pipeThrough(new TextDecoderStream()).pipeTo(new WritableStream({ write: (c) => void (output += c) }));
  const pumps = Promise.all([pump(child.stdout), pump(child.stderr)]);
  const status = child.status.finally(() => (exited = true));
  return {
    pid: child.pid,
    status,
    pumps,
    output: () => output,
    exited: () => exited,
    /** Waits for the first status line after the first stored reading. */
    running: (timeoutMs: number) =>
      waitUntil("a status line after the first stored reading", () => {
        assert.ok(!exited, `dev exited early:\n${output}`);
        return Promise.resolve(
          /first reading stored .* after dev started[\s\S]*stored \d+\.\d\/s \(\d+\)/.test(output),
        );
      }, timeoutMs),
  };
}

const STOPS: [string, (group: number) => Promise<void>][] = [
  ["Ctrl-C (SIGINT to its process group)", async (group) => {
    await new Deno.Command("kill", { args: ["-s", "INT", "--", `-${group}`] }).output();
  }],
  ["deno task dev:down from another process", async () => {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["task", "dev:down"],
      cwd: ROOT,
      stdout: "piped",
      stderr: "piped",
    })
      .output();
    const text = new TextDecoder().decode(out.stdout);
    assert.ok(out.success, text + new TextDecoder().decode(out.stderr));
    assert.match(text, /it stopped everything it started/);
  }],
];

for (const [how, stop] of STOPS) {
  integrationTest(`deno task dev without Docker stores readings, and ${how} leaves no process behind`, async () => {
    for (const port of Object.values(PORTS)) assert.equal(await answers(port), false, `port ${port} is taken`);
    // (the tests may not write files: the shell makes the folder; 755, as the throw-away PostgreSQL
    // runs as the postgres user when this runs as root)
    const made = await new Deno.Command("bash", {
      args: ["-c", 'd=$(mktemp -d -t heartbeat-dev-test-XXXXXX) && chmod 755 "$d" && echo "$d"'],
      stdout: "piped",
    }).output();
    const dir = new TextDecoder().decode(made.stdout).trim();
    assert.ok(made.success && dir !== "");
    const dev = startDev(["--infra", "local"], {
      KAFKA_PORT: String(PORTS.kafka),
      KAFKA_CONTROLLER_PORT: String(PORTS.controller),
      KAFKA_DATA: `${dir}/kafka`,
      PG_PORT: String(PORTS.postgres),
      PG_DATA: `${dir}/pg`,
    });
    try {
      await dev.running(150_000);
      // each start reports its time; where to look is said once
      for (
        const line of [
          /kafka\.sh: Kafka is up \(pid \d+\) in \d+ s/,
          /postgres\.sh: PostgreSQL is up on 127\.0\.0\.1:5444 .* in \d+ s/,
          /schema ready in \d+\.\d s/,
          /metrics +http:\/\/127\.0\.0\.1:19464\/metrics \(consumer\), http:\/\/127\.0\.0\.1:19465\/metrics \(producer\)/,
          /health +http:\/\/127\.0\.0\.1:19464\/readyz/,
          /readings +psql -h 127\.0\.0\.1 -p 5444 -U postgres heartbeat/,
        ]
      ) assert.match(dev.output(), line);
      assert.equal(dev.output().match(/Where to look:/g)?.length, 1);
      const pool = new pg.Pool({
        connectionString: `postgres://postgres@127.0.0.1:${PORTS.postgres}/heartbeat`,
        max: 1,
      });
      try {
        const { rows } = await pool.query<{ n: number }>("select count(*)::int as n from readings");
        assert.ok(rows[0]!.n > 0, "readings are stored");
      } finally {
        await pool.end();
      }
      const processes = await devProcesses(dev.pid, dir);
      const all = [...processes.values()].join("\n");
      for (const what of ["kafka.Kafka", "postgres -D", "consumer.ts", "producer.ts"]) {
        assert.ok(all.includes(what), `a ${what} process runs under dev:\n${all}`);
      }

      await stop(dev.pid);
      const { code } = await Promise.race([
        dev.status,
        new Promise<never>((_, reject) =>
          setTimeout(() => reject(new Error(`dev did not exit:\n${dev.output()}`)), 90_000)
        ),
      ]);
      await dev.pumps;
      assert.equal(code, 0, dev.output());
      assert.match(dev.output(), /stopped the consumer and the producer, Kafka \(scripts\/kafka\.sh\) and PostgreSQL/);
      assert.deepEqual(await alive(processes.keys()), [], "no process of the dev run remains");
      for (const port of Object.values(PORTS)) assert.equal(await answers(port), false, `port ${port} is free again`);
      await assert.rejects(Deno.stat(new URL(".cache/dev/state.json", ROOT)), Deno.errors.NotFound);
    } finally {
      if (!dev.exited()) {
        await new Deno.Command("kill", { args: ["-s", "KILL", "--", `-${dev.pid}`] }).output();
        await new Deno.Command(Deno.execPath(), { args: ["task", "dev:down"], cwd: ROOT }).output();
      }
      await dev.status;
      // whatever a failed run left: its broker and database are stopped by their own scripts
      for (
        const [script, env] of [["kafka.sh", { KAFKA_DATA: `${dir}/kafka` }], ["postgres.sh", {
          PG_DATA: `${dir}/pg`,
        }]] as const
      ) {
        await new Deno.Command("bash", { args: [`scripts/${script}`, "stop"], cwd: ROOT, env, stderr: "null" })
          .output();
      }
      await new Deno.Command("rm", { args: ["-rf", dir] }).output();
    }
  }, 300_000);
}

/** A PATH folder holding only what dev needs besides the tools under test (and, if asked, a docker whose engine is silent). */
async function toolsOnly(docker: "none" | "silent"): Promise<string> {
  const script = [
    "d=$(mktemp -d -t heartbeat-dev-path-XXXXXX)",
    `for t in bash ps setsid sha256sum cut cat; do ln -s "$(command -v $t)" "$d/$t"; done`,
    `ln -s "${Deno.execPath()}" "$d/deno"`,
    docker === "silent"
      ? `printf '#!/usr/bin/bash\\necho "Cannot connect to the Docker daemon" >&2; exit 1\\n' >"$d/docker" && chmod +x "$d/docker"`
      : "true",
    'echo "$d"',
  ].join(" && ");
  const out = await new Deno.Command("bash", { args: ["-c", script], stdout: "piped" }).output();
  assert.ok(out.success);
  return new TextDecoder().decode(out.stdout).trim();
}

Deno.test("deno task dev stops at start with one line naming what to install or set", async (t) => {
  const cases: [string, "none" | "silent", string[], number, RegExp][] = [
    [
      "neither Docker nor Java and Maven",
      "none",
      [],
      1,
      /^error: deno task dev needs a Docker engine, or Java 17\+ and Maven to run Kafka on this machine: no Docker, and Java 17\+ and Maven not found \(install Docker, or e\.g\. apt-get install openjdk-17-jre-headless maven\)$/,
    ],
    [
      "a docker command whose engine does not answer, and no Java",
      "silent",
      [],
      1,
      /^error: .*: docker is installed but its engine does not answer, and Java 17\+ and Maven not found \(install Docker/,
    ],
    [
      "--infra docker without docker",
      "none",
      ["--infra", "docker"],
      1,
      /^error: --infra docker: no docker command on the PATH/,
    ],
    [
      "--infra docker with a silent engine",
      "silent",
      ["--infra", "docker"],
      1,
      /^error: --infra docker: docker is installed but its engine does not answer \(`docker info` failed\): start it$/,
    ],
    [
      "--infra local without Java and Maven",
      "silent",
      ["--infra", "local"],
      1,
      /^error: deno task dev needs Java 17\+ and Maven to run Kafka on this machine \(nothing answers on 127\.0\.0\.1:19292; --infra local\): Java 17\+ and Maven not found \(e\.g\. apt-get install openjdk-17-jre-headless maven\)$/,
    ],
    ["a bad flag", "none", ["--rate", "0"], 2, /^error: Invalid --rate: expected a number above 0, got "0"$/],
    [
      "a bad env value",
      "none",
      [],
      2,
      /^error: Invalid HEARTBEAT_DEV_INFRA \(environment\): expected auto, docker or local/,
    ],
    [
      "the consumer's metrics port in use",
      "none",
      [],
      1,
      /^error: 127\.0\.0\.1:19464 \(the consumer's metrics port\) is in use: stop what listens there, or give --consumer-metrics-port another port$/,
    ],
  ];
  for (const [name, docker, args, code, line] of cases) {
    await t.step(name, async () => {
      const path = await toolsOnly(docker);
      using _listener = name.includes("port in use")
        ? Deno.listen({ hostname: "127.0.0.1", port: PORTS.consumer })
        : undefined;
      try {
        const out = await new Deno.Command(Deno.execPath(), {
          args: ["task", "dev", ...args],
          cwd: ROOT,
          env: {
            PATH: path,
            KAFKA_HOME: `${path}/no-jar-cache`,
            KAFKA_PORT: String(PORTS.kafka),
            PG_PORT: String(PORTS.postgres),
            HEARTBEAT_CONSUMER_METRICS_PORT: String(PORTS.consumer),
            HEARTBEAT_PRODUCER_METRICS_PORT: String(PORTS.producer),
            ...(name === "a bad env value" ? { HEARTBEAT_DEV_INFRA: "podman" } : {}),
          },
          stdout: "piped",
          stderr: "piped",
        }).output();
        const text = new TextDecoder().decode(out.stderr) + new TextDecoder().decode(out.stdout);
        const lines = text.split("\n").filter((l) => l !== "" && !/^\S*Task\S* /.test(l));
        assert.equal(out.code, code, text);
        assert.equal(lines.length, 1, text);
        assert.match(lines[0]!, line);
      } finally {
        await new Deno.Command("rm", { args: ["-rf", path] }).output();
      }
    });
  }
});

integrationTest(
  "deno task dev with a Docker engine starts the compose stack and stops only the services it started",
  async () => {
    // No Docker engine runs on this project's machines: a stand-in docker command answers `info`,
    // says postgres already runs, records every call, and the real Kafka and PostgreSQL of the
    // other tests stand in for the stack's (the compose file publishes the same addresses).
    const made = await new Deno.Command("bash", {
      args: ["-c", 'd=$(mktemp -d -t heartbeat-dev-docker-XXXXXX) && echo "$d"'],
      stdout: "piped",
    }).output();
    const dir = new TextDecoder().decode(made.stdout).trim();
    const stub = [
      "#!/usr/bin/env bash",
      `echo "$*" >>"${dir}/calls"`,
      'case "$*" in',
      "  'info --format {{.ServerVersion}}') echo 28.2.2 ;;",
      "  'compose ps --services --status running') echo postgres ;;",
      "  'compose ps --services') printf 'kafka\\npostgres\\ngrafana\\n' ;;",
      "esac",
    ].join("\n");
    await new Deno.Command("bash", {
      args: ["-c", `cat >"${dir}/docker" <<'STUB'\n${stub}\nSTUB\nchmod +x "${dir}/docker"`],
    }).output();
    const dev = startDev(["--infra", "docker"], { PATH: `${dir}:${Deno.env.get("PATH")}` });
    try {
      await dev.running(120_000);
      assert.match(dev.output(), /dashboard +http:\/\/127\.0\.0\.1:3000/);
      // the schema is migrated after the stack is up (its volume may predate later migrations), before the programs
      const at = (re: RegExp) => dev.output().search(re);
      assert.ok(
        at(/the compose stack is up/) < at(/schema ready/) && at(/schema ready/) < at(/ consumer {2}/),
        dev.output(),
      );
      assert.match(dev.output(), /readings +psql postgres:\/\/postgres@127\.0\.0\.1:5432\/heartbeat/);
      await new Deno.Command("kill", { args: ["-s", "INT", "--", `-${dev.pid}`] }).output();
      assert.equal((await dev.status).code, 0, dev.output());
      await dev.pumps;
      const calls = (await Deno.readTextFile(`${dir}/calls`)).trim().split("\n");
      assert.deepEqual(calls, [
        "info --format {{.ServerVersion}}",
        "compose ps --services --status running",
        "compose up -d --wait",
        "compose ps --services",
        "compose stop kafka grafana",
      ]);
      assert.match(dev.output(), /stopped the consumer and the producer and the compose services kafka, grafana/);
    } finally {
      if (!dev.exited()) await new Deno.Command("kill", { args: ["-s", "KILL", "--", `-${dev.pid}`] }).output();
      await dev.status;
      await new Deno.Command("rm", { args: ["-rf", dir] }).output();
    }
  },
  180_000,
);
