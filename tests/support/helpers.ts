/**
 * Shared fixtures of the integration tests: probing the real Kafka broker and PostgreSQL server,
 * a throw-away database per test, a unique topic per test, and running the real entry scripts
 * with the exact permissions of their `deno task`. Every fixture cleans up after itself
 * (`await using`).
 *
 * Services: Kafka on 127.0.0.1:9092 and PostgreSQL on 127.0.0.1:5432 (`postgres` role, trust or a
 * `PGPASSWORD`-less URL). `deno task test` starts them when they are missing (scripts/run_tests.ts) and
 * runs with `CI=true`, under which a missing service fails the tests; a bare `deno test` without
 * them skips the integration tests with a message saying what to start.
 *
 * @module
 */
import "../../lib/kafka/patches/preload.ts"; // before kafkajs: see the module
import { logLevel } from "kafkajs";
import { Kafka } from "../../lib/kafka/client.ts";
import { type Episode, type SimulatedMessage, Simulator } from "../../lib/simulator/simulator.ts";
import { taskArgs } from "./tasks.ts";

export { taskArgs };
export { dropDatabase, PG_SERVER, type TestDatabase, testDatabase } from "./database.ts";

/** Kafka bootstrap broker the tests use. */
export const BROKER = "127.0.0.1:9092";

/** Whether something accepts TCP connections on `hostname:port`. */
export async function reachable(hostname: string, port: number): Promise<boolean> {
  try {
    const conn = await Deno.connect({ hostname, port });
    conn.close();
    return true;
  } catch {
    return false;
  }
}

const kafkaUp = await reachable("127.0.0.1", 9092);
const pgUp = await reachable("127.0.0.1", 5432);
const inCi = Deno.env.get("CI") === "true";

/** What is missing, or null when both services answer. */
export const missingServices: string | null = kafkaUp && pgUp ? null : [
  kafkaUp ? "" : "Kafka on 127.0.0.1:9092 (run: scripts/kafka.sh start)",
  pgUp ? "" : "PostgreSQL on 127.0.0.1:5432 (run: scripts/postgres.sh start)",
].filter((s) => s !== "").join(" and ");

if (missingServices !== null && !inCi) {
  console.warn(`integration tests skipped: start ${missingServices}, or run deno task test, which starts them`);
}

/**
 * Declares an integration test: skipped (with the message above) when a service is missing
 * outside CI; under CI it runs and fails at once, naming what is missing.
 */
export function integrationTest(name: string, fn: (t: Deno.TestContext) => Promise<void>, timeoutMs = 120_000): void {
  serviceTest(missingServices, name, fn, timeoutMs);
}

/**
 * Declares a test that needs services (`missing` names those that do not answer, or is null):
 * skipped when some are missing outside CI; under CI it runs and fails at once, naming them. Runs
 * `fn` within `timeoutMs`. {@link integrationTest} is this for Kafka on 9092 and PostgreSQL.
 */
export function serviceTest(
  missing: string | null,
  name: string,
  fn: (t: Deno.TestContext) => Promise<void>,
  timeoutMs = 120_000,
): void {
  const missingServices = missing;
  Deno.test({
    name,
    ignore: missingServices !== null && !inCi,
    sanitizeOps: false,
    sanitizeResources: false,
    async fn(t) {
      if (missingServices !== null) throw new Error(`integration test needs ${missingServices}`);
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs / 1000} s`)), timeoutMs);
      });
      try {
        await Promise.race([fn(t), timeout]);
      } finally {
        clearTimeout(timer);
      }
    },
  });
}

/** A unique lowercase name with a prefix, for databases, topics and groups. */
export function uniqueName(prefix: string): string {
  return `${prefix}_${Date.now().toString(36)}_${crypto.randomUUID().slice(0, 8)}`;
}

/** A unique topic name, deleted (if it was created) on dispose. */
export interface TestTopic extends AsyncDisposable {
  /** The topic's name. */
  name: string;
  /** A kafkajs client for the test's own reads and writes. */
  kafka: Kafka;
}

/**
 * Reserves a unique topic name; the topic is created by whoever uses it first. Its client talks
 * to `brokers` (default: the single test broker, {@link BROKER}).
 */
export function testTopic(brokers: string[] = [BROKER]): TestTopic {
  const name = uniqueName("heartbeat-test").replaceAll("_", "-");
  const kafka = new Kafka({ clientId: "heartbeat-tests", brokers, logLevel: logLevel.NOTHING });
  return {
    name,
    kafka,
    async [Symbol.asyncDispose]() {
      const admin = kafka.admin();
      await admin.connect();
      try {
        if ((await admin.listTopics()).includes(name)) await admin.deleteTopics({ topics: [name] });
      } finally {
        await admin.disconnect();
      }
    },
  };
}

/** A running entry script; kill it or wait for it. */
export interface Child extends AsyncDisposable {
  /** The process. */
  process: Deno.ChildProcess;
  /** Everything it wrote to stderr so far. */
  stderr(): string;
  /** Everything it wrote to stdout so far. */
  stdout(): string;
  /** Sends a signal. */
  kill(signal?: Deno.Signal): void;
  /** Waits for exit. */
  status: Promise<Deno.CommandStatus>;
  /** Whether it has exited. */
  exited(): boolean;
}

/**
 * Starts a task's script (same permissions as `deno task <name>`), with extra args and env.
 * The metrics endpoint is off (`HEARTBEAT_{PRODUCER,CONSUMER}_METRICS_PORT=0`) unless `env` sets a port, so that
 * several scripts can run at once.
 */
export async function spawnTask(task: string, args: string[] = [], env: Record<string, string> = {}): Promise<Child> {
  const fullEnv = {
    LOG_LEVEL: "info",
    HEARTBEAT_PRODUCER_METRICS_PORT: "0",
    HEARTBEAT_CONSUMER_METRICS_PORT: "0",
    ...env,
  };
  const base = await taskArgs(task, args, fullEnv);
  const process = new Deno.Command(Deno.execPath(), {
    args: [...base, ...args],
    env: fullEnv,
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
    cwd: new URL("../..", import.meta.url),
  }).spawn();
  let out = "", err = "";
  const pump = async (stream: ReadableStream<Uint8Array>, add: (s: string) => void) => {
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) add(chunk);
  };
  const pumps = Promise.all([pump(process.stdout, (s) => out += s), pump(process.stderr, (s) => err += s)]);
  let exited = false;
  const status = process.status.then(async (s) => {
    exited = true;
    await pumps;
    return s;
  });
  return {
    process,
    stderr: () => err,
    stdout: () => out,
    kill: (signal = "SIGTERM") => {
      try {
        process.kill(signal);
      } catch { /* already gone */ }
    },
    status,
    exited: () => exited,
    async [Symbol.asyncDispose]() {
      try {
        process.kill("SIGKILL");
      } catch { /* already gone */ }
      await status;
    },
  };
}

/** Polls `check` until it returns true, or fails after `timeoutMs` with `what`. */
export async function waitUntil(what: string, check: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}`);
}

/** Whether a consumer group has committed, on every partition, the topic's high watermark. */
export async function groupCaughtUp(kafka: Kafka, topic: string, groupId: string): Promise<boolean> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const ends = await admin.fetchTopicOffsets(topic);
    const [committed] = await admin.fetchOffsets({ groupId, topics: [topic] });
    return ends.every((end) => {
      if (BigInt(end.high) <= BigInt(end.low)) return true; // an empty partition has nothing to commit
      const c = committed?.partitions.find((p) => p.partition === end.partition);
      return c !== undefined && BigInt(c.offset) >= BigInt(end.high);
    });
  } finally {
    await admin.disconnect();
  }
}

/** Waits until a consumer child has joined its group (so it is fully started and handles signals). */
export function waitForJoin(child: Child, timeoutMs = 60_000): Promise<void> {
  return waitUntil("the consumer to join its group", () => {
    if (child.exited()) throw new Error(`the consumer exited before joining:\n${child.stderr()}`);
    return Promise.resolve(child.stderr().includes('"msg":"joined group"'));
  }, timeoutMs);
}

/** A seeded simulator run, as the producer's flags describe it. */
export interface SeededRun {
  seed: number;
  customers: number;
  rate: number;
  count: number;
  /** ISO 8601 start of the simulated time. */
  start: string;
  invalidRate: number;
  anomalyRate: number;
}

/** The producer flags that publish a seeded run to a topic (plus `extra`). */
export function producerArgs(topic: string, run: SeededRun, extra: string[] = []): string[] {
  const flags: Record<string, string | number> = {
    topic,
    seed: run.seed,
    customers: run.customers,
    rate: run.rate,
    count: run.count,
    start: run.start,
    "invalid-rate": run.invalidRate,
    "anomaly-rate": run.anomalyRate,
  };
  return [...Object.entries(flags).flatMap(([k, v]) => [`--${k}`, String(v)]), ...extra];
}

/** The messages (with their truth) and injected episodes of a seeded run, as the producer makes them. */
export function simulateRun(run: SeededRun): { messages: SimulatedMessage[]; episodes: Episode[] } {
  const episodes: Episode[] = [];
  const sim = new Simulator({
    seed: run.seed,
    customers: run.customers,
    rate: run.rate,
    startMs: Date.parse(run.start),
    anomalyRate: run.anomalyRate,
    invalidRate: run.invalidRate,
    onEpisode: (e) => episodes.push(e),
  });
  const messages = Array.from({ length: run.count }, () => sim.next());
  sim.finish();
  return { messages, episodes };
}
