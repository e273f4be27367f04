/**
 * The three-node Kafka cluster of the cluster fault suite (scripts/kafka-cluster.sh): its brokers,
 * the script's node commands, and what a scenario asks of the cluster (partition leaders, full
 * in-sync replica sets, the topic read back).
 *
 * The suite runs only when the run may reach the cluster's ports (`deno task test:cluster` grants them;
 * `deno task test` does not, and ignores it). When nothing answers on the cluster's client ports,
 * loading this module starts the cluster, under
 * `CI=true` or when Kafka's jars are cached (`scripts/kafka.sh cached`), and
 * {@link stopClusterIfStarted} stops it again; the scenarios kill and pause its nodes, so a
 * cluster that answers but was not started by the script is not used. {@link clusterTest} skips
 * (outside CI) or fails (under CI) when the cluster or PostgreSQL is missing.
 *
 * Requires `--allow-net` of {@link CLUSTER_BROKERS} and 127.0.0.1:5432, `--allow-run=bash` (and what
 * the script runs: java), `--allow-read`.
 *
 * @module
 */
import "../../lib/kafka/patches/preload.ts"; // before kafkajs: see the module
import type { Kafka } from "../../lib/kafka/client.ts";
import type { SimulatedMessage } from "../../lib/simulator/simulator.ts";
import { reachable, serviceTest, uniqueName, waitUntil } from "./helpers.ts";

/** The nodes' client ports (node N is index N − 1). */
export const CLUSTER_PORTS = [39092, 39192, 39292] as const;

/** The cluster's bootstrap brokers, as `--brokers` / `KAFKA_BROKERS` takes them. */
export const CLUSTER_BROKERS: string[] = CLUSTER_PORTS.map((p) => `127.0.0.1:${p}`);

const SCRIPT = new URL("../../scripts/kafka-cluster.sh", import.meta.url).pathname;
const KAFKA_SCRIPT = new URL("../../scripts/kafka.sh", import.meta.url).pathname;
const inCi = Deno.env.get("CI") === "true";

/** scripts/kafka-cluster.sh failed. */
export class ClusterScriptError extends Error {
  override name = "ClusterScriptError";
}

/**
 * Runs `scripts/kafka-cluster.sh <args>` and returns its trimmed stdout; its stderr (its log lines)
 * is passed through.
 *
 * @throws {ClusterScriptError} when it exits non-zero, with its stderr
 */
export function clusterScript(...args: string[]): Promise<string> {
  return clusterScriptWith({}, ...args);
}

/** {@link clusterScript} with more environment variables (e.g. `KAFKA_CLUSTER_ADVERTISED_PORTS`). */
export async function clusterScriptWith(env: Record<string, string>, ...args: string[]): Promise<string> {
  const out = await new Deno.Command("bash", { args: [SCRIPT, ...args], env, stdout: "piped", stderr: "piped" })
    .output();
  const stderr = new TextDecoder().decode(out.stderr);
  if (stderr.trim() !== "") console.error(stderr.trimEnd());
  if (!out.success) throw new ClusterScriptError(`kafka-cluster.sh ${args.join(" ")} failed (${out.code}):\n${stderr}`);
  return new TextDecoder().decode(out.stdout).trim();
}

async function succeeds(path: string, ...args: string[]): Promise<boolean> {
  const out = await new Deno.Command("bash", { args: [path, ...args], stdout: "null", stderr: "null" }).output();
  return out.success;
}

async function answering(): Promise<number> {
  const up = await Promise.all(CLUSTER_PORTS.map((p) => reachable("127.0.0.1", p)));
  return up.filter(Boolean).length;
}

let startedHere = false;

/**
 * Whether this run may reach the cluster: `deno task test:cluster` grants its ports, the other
 * test tasks do not, so under them the cluster suite is ignored (and no cluster started).
 */
export const clusterRequested: boolean = CLUSTER_PORTS.every((port) =>
  Deno.permissions.querySync({ name: "net", host: `127.0.0.1:${port}` }).state === "granted"
);

/** Brings the cluster up when it should be (see the module); says what is missing, or null. */
async function prepare(): Promise<string | null> {
  const missing: string[] = [];
  if (!(await reachable("127.0.0.1", 5432))) {
    missing.push("PostgreSQL on 127.0.0.1:5432 (run: scripts/postgres.sh start)");
  }
  let up = await answering();
  if (up === 0 && (inCi || await succeeds(KAFKA_SCRIPT, "cached"))) {
    console.error(
      "cluster tests: no Kafka cluster on 39092/39192/39292: starting one (scripts/kafka-cluster.sh start)",
    );
    try {
      await clusterScript("start");
      startedHere = true;
    } catch (e) {
      console.error(e instanceof Error ? e.message : String(e));
    }
    up = await answering();
  }
  if (up < CLUSTER_PORTS.length) {
    missing.push("a 3-node Kafka cluster on 127.0.0.1:39092,39192,39292 (run: scripts/kafka-cluster.sh start)");
  } else if (!(await succeeds(SCRIPT, "owned"))) {
    missing.push("a cluster started by scripts/kafka-cluster.sh (the scenarios kill its nodes)");
  }
  if (missing.length === 0) return null;
  const what = missing.join(" and ");
  if (!inCi) console.warn(`cluster tests skipped: start ${what}`);
  return what;
}

if (!clusterRequested) {
  console.warn(
    "cluster tests ignored: this run may not reach 127.0.0.1:39092,39192,39292 (run deno task test:cluster)",
  );
}

/** What the cluster suite lacks, or null. */
export const missingCluster: string | null = clusterRequested ? await prepare() : "the cluster's ports";

/**
 * Declares a test that needs the cluster and PostgreSQL (see {@link serviceTest}); ignored when
 * the run was not granted the cluster's ports ({@link clusterRequested}).
 */
export function clusterTest(name: string, fn: (t: Deno.TestContext) => Promise<void>, timeoutMs = 300_000): void {
  if (!clusterRequested) Deno.test({ name, ignore: true, fn: () => {} });
  else serviceTest(missingCluster, name, fn, timeoutMs);
}

/** Stops the cluster when loading this module started it (the suite's last test calls it). */
export async function stopClusterIfStarted(): Promise<boolean> {
  if (!startedHere) return false;
  startedHere = false;
  await clusterScript("stop");
  return true;
}

/** The node (1–3) leading a partition, as the script's `leader` helper reads it. */
export async function partitionLeader(topic: string, partition: number): Promise<number> {
  return Number(await clusterScript("leader", topic, String(partition)));
}

/** The node (1–3) that is the active controller (the KRaft quorum's leader). */
export async function activeController(): Promise<number> {
  return Number(await clusterScript("controller"));
}

/** The partition holding the most records. */
export async function busiestPartition(kafka: Kafka, topic: string): Promise<number> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const offsets = await admin.fetchTopicOffsets(topic);
    const size = (o: { high: string; low: string }) => BigInt(o.high) - BigInt(o.low);
    return offsets.reduce((best, o) => (size(o) > size(best) ? o : best)).partition;
  } finally {
    await admin.disconnect();
  }
}

/** Whether three brokers are registered and every partition of `topics` has all its replicas in sync. */
export async function fullyReplicated(kafka: Kafka, topics: string[]): Promise<boolean> {
  const admin = kafka.admin();
  try {
    await admin.connect();
    const { brokers } = await admin.describeCluster();
    if (brokers.length < CLUSTER_PORTS.length) return false;
    const meta = await admin.fetchTopicMetadata({ topics });
    return meta.topics.every((t) =>
      t.partitions.length > 0 && t.partitions.every((p) => p.leader >= 0 && p.isr.length === p.replicas.length)
    );
  } catch {
    return false;
  } finally {
    await admin.disconnect().catch(() => {});
  }
}

/** Waits until {@link fullyReplicated}. */
export function waitFullyReplicated(kafka: Kafka, topics: string[], timeoutMs = 120_000): Promise<void> {
  return waitUntil(
    `every partition of ${topics.join(", ")} in sync on 3 brokers`,
    () => fullyReplicated(kafka, topics),
    timeoutMs,
  );
}

/** A message as bytes the topic would hold: key, a separator, value (latin1, one char per byte). */
function recordKey(key: Uint8Array | string | null, value: Uint8Array | string | null): string {
  const bytes = (v: Uint8Array | string | null) =>
    v === null ? "" : Array.from(typeof v === "string" ? new TextEncoder().encode(v) : v, (b) => String.fromCharCode(b))
      .join("");
  return `${bytes(key)}\u0000|${bytes(value)}`;
}

/**
 * Reads the whole topic back with a consumer group of its own and compares it, record by record
 * (key and value bytes), with the messages produced: how many records are on the topic, how many
 * of them are more copies of a message than were produced, and how many produced messages are not
 * there (`missingOf(n)`: of the first n messages).
 */
export async function readBack(
  kafka: Kafka,
  topic: string,
  messages: SimulatedMessage[],
  timeoutMs = 120_000,
): Promise<{ records: number; duplicated: number; missing: number; missingOf(prefix: number): number }> {
  const admin = kafka.admin();
  await admin.connect();
  const ends = await admin.fetchTopicOffsets(topic);
  await admin.disconnect();
  const want = ends.reduce((n, o) => n + Number(BigInt(o.high) - BigInt(o.low)), 0);
  const seen = new Map<string, number>();
  let records = 0;
  const consumer = kafka.consumer({ groupId: uniqueName("read-back"), maxBytes: 8 << 20 });
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    const done = Promise.withResolvers<void>();
    if (want === 0) done.resolve();
    await consumer.run({
      autoCommit: false,
      eachBatch: ({ batch }) => {
        for (const m of batch.messages) {
          const k = recordKey(m.key, m.value);
          seen.set(k, (seen.get(k) ?? 0) + 1);
          records++;
        }
        if (records >= want) done.resolve();
        return Promise.resolve();
      },
    });
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      done.promise,
      new Promise<never>((_, reject) =>
        timer = setTimeout(
          () => reject(new Error(`read ${records} of ${want} records back within ${timeoutMs / 1000} s`)),
          timeoutMs,
        )
      ),
    ]).finally(() => clearTimeout(timer));
  } finally {
    await consumer.disconnect();
  }
  const expected = new Map<string, number>();
  for (const m of messages) {
    const k = recordKey(m.key, m.value);
    expected.set(k, (expected.get(k) ?? 0) + 1);
  }
  let duplicated = 0, missing = 0;
  for (const [k, n] of seen) duplicated += Math.max(0, n - (expected.get(k) ?? 0));
  for (const [k, n] of expected) missing += Math.max(0, n - (seen.get(k) ?? 0));
  /** How many of the first `prefix` messages are not on the topic. */
  const missingOf = (prefix: number) => {
    const want = new Map<string, number>();
    for (const m of messages.slice(0, prefix)) {
      const k = recordKey(m.key, m.value);
      want.set(k, (want.get(k) ?? 0) + 1);
    }
    let n = 0;
    for (const [k, c] of want) n += Math.max(0, c - (seen.get(k) ?? 0));
    return n;
  };
  return { records, duplicated, missing, missingOf };
}
