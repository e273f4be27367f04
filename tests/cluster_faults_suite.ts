/**
 * The delivery guarantee when a three-node Kafka cluster fails under load (scripts/kafka-cluster.sh,
 * topics with 3 replicas and min.insync.replicas=2): the leader of the busiest partition killed
 * with SIGKILL, a rolling restart of the three brokers, a broker frozen with SIGSTOP for 30 s, the
 * active controller killed, 2 s of latency and then resets on the consumers' link to one broker, the
 * consumers' PostgreSQL link black-holed for 20 s. Each scenario runs the real producer (idempotent, acks=all) on a seeded
 * live run of ≥ 50,000 readings at ≥ 2,000/s and two consumers in one group, then checks that every
 * valid reading is stored exactly once, every invalid one dead-lettered exactly once, and that the
 * topic, read back record by record, holds each produced message exactly once. Its row of the
 * cluster fault table adds the time to recover ({@link recovery}), the consumers' readiness during
 * the fault (`/readyz`, sampled every 500 ms) and the largest consumer lag seen.
 * Before them: the topics' replication on the cluster, and a node advertising a fault proxy's port
 * (tests/support/fault_proxy.ts), which the later scenarios of issue 19 put on the pipeline's links.
 *
 * Named `_suite.ts`, not `_test.ts`, so that `deno test` does not find it by itself: it needs a
 * cluster of its own and about 8 minutes, so `deno task test` leaves it to `deno task test:cluster`,
 * which `.ci/run` runs after it.
 *
 * Run with `deno task test:cluster` (it starts the cluster when nothing answers on its ports).
 *
 * @module
 */
import "../lib/kafka/patches/preload.ts"; // before kafkajs: see the module
import assert from "node:assert/strict";
import { ensureTopic } from "../lib/kafka/client.ts";
import { createLogger } from "../lib/ops/log.ts";
import {
  type Child,
  groupCaughtUp,
  type TestDatabase,
  testDatabase,
  type TestTopic,
  testTopic,
  uniqueName,
  waitUntil,
} from "./support/helpers.ts";
import {
  checkDelivery,
  type FaultRow,
  liveRun,
  simulate,
  startConsumer,
  startProducer,
  topicRecords,
  total,
  waitForSharing,
} from "./support/delivery.ts";
import {
  activeController,
  busiestPartition,
  CLUSTER_BROKERS,
  clusterScript,
  clusterScriptWith,
  clusterTest,
  partitionLeader,
  readBack,
  stopClusterIfStarted,
  waitFullyReplicated,
} from "./support/cluster.ts";
import { topicReplicationOf } from "./support/topics.ts";
import { FaultProxy } from "./support/fault_proxy.ts";

const quiet = createLogger({ level: "error", pretty: false, write: () => {} });
/** The two consumers' metrics ports, for their `/readyz`. */
const READY_PORTS = [49464, 49465] as const;
/** Where the consumers reach each node through a fault proxy: the PROXIED listeners' advertised ports. */
const PROXIED = [1, 2, 3].map((n) => ({ node: n, port: 49095 + (n - 1) * 100, target: 39095 + (n - 1) * 100 }));
/** Where the consumers reach PostgreSQL through a fault proxy. */
const DB_PROXY_PORT = 49432;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const ENV = { KAFKA_BROKERS: CLUSTER_BROKERS.join(",") };

/** A row of the cluster fault table. */
interface ClusterRow extends FaultRow {
  /** {@link recovery}, in seconds, or null when the rate never came back. */
  recoveryS: number | null;
  /** How long the fault itself lasted, seconds (0 for a kill). */
  faultS: number;
  /** The largest lag seen (records on the topic not yet committed by the group). */
  maxLag: number;
  /** The records on the topic, read back. */
  topicRecords: number;
  /** Produced messages not on the topic (lost by the producer, whatever it acknowledged). */
  topicMissing: number;
  /** Records on the topic more often than produced (doubled by the producer). */
  topicDuplicated: number;
  /** Each consumer's `/readyz` from the fault to the end of the run ({@link readinessWords}). */
  readiness: string;
}
const table: ClusterRow[] = [];

/** The stored-row count (readings + dead letters) at a moment, ms since the epoch. */
interface Sample {
  t: number;
  stored: number;
}

/** Rows stored per second between two samples. */
const rate = (a: Sample, b: Sample) => ((b.stored - a.stored) * 1000) / Math.max(1, b.t - a.t);

/** The length of the windows {@link recovery} measures rates over, ms. */
const WINDOW_MS = 2_000;
/** How long before the fault the steady rate is measured, ms. */
const BASELINE_MS = 5_000;
/** The share of the steady rate that counts as back to it. */
const RECOVERED_SHARE = 0.8;

/**
 * Time to recover, as the cluster fault table gives it: from the last stored reading before the
 * fault (the last sample before `faultStart` at which the stored count had grown) to the end of the
 * first {@link WINDOW_MS}-long window lying wholly after `faultEnd` in which rows were stored at
 * ≥ {@link RECOVERED_SHARE} of the steady rate (the rate over the {@link BASELINE_MS} before
 * `faultStart`), or to the first sample at which all `expected` rows were stored, if that comes
 * first. Null when neither happens. Samples are every 250 ms, so a fault that never slowed the
 * pipeline still reads as about `faultEnd − lastStored + WINDOW_MS`.
 */
export function recovery(
  samples: Sample[],
  faultStart: number,
  faultEnd: number,
  expected: number,
): { ms: number | null; steadyRate: number } {
  const before = samples.filter((s) => s.t <= faultStart);
  const first = before.find((s) => s.t >= faultStart - BASELINE_MS);
  const last = before.at(-1);
  if (first === undefined || last === undefined || last.t - first.t < BASELINE_MS / 2) {
    throw new Error(`too few samples before the fault to know the steady rate (${before.length})`);
  }
  const steadyRate = rate(first, last);
  let lastStored = last;
  for (let i = before.length - 1; i > 0 && before[i]!.stored === before[i - 1]!.stored; i--) {
    lastStored = before[i - 1]!;
  }
  const after = samples.filter((s) => s.t >= faultEnd);
  for (let j = 0; j < after.length; j++) {
    const end = after[j]!;
    if (end.stored >= expected) return { ms: end.t - lastStored.t, steadyRate };
    const start = after.findLast((s) => s.t <= end.t - WINDOW_MS);
    if (start !== undefined && rate(start, end) >= RECOVERED_SHARE * steadyRate) {
      return { ms: end.t - lastStored.t, steadyRate };
    }
  }
  return { ms: null, steadyRate };
}

Deno.test("recovery runs from the last stored row before the fault to the first window after it back at the steady rate", async (t) => {
  // 1,000 rows/s in 250 ms steps; the fault at 10 s stops the stores until `resume`
  const series = (resume: number, end = 30_000, expected = Infinity) => {
    const samples: Sample[] = [];
    let stored = 0;
    for (let t = 0; t <= end; t += 250) {
      if (t <= 10_000 || t >= resume) stored += 250;
      samples.push({ t, stored: Math.min(stored, expected) });
    }
    return samples;
  };
  const cases: { name: string; samples: Sample[]; faultEnd: number; expected: number; want: number | null }[] = [
    // stores resume at 15 s (the sample at 15 s holds the rows of the 250 ms before it): the first
    // 2 s window wholly after the fault with ≥ 80 % of 1,000/s is 14.5–16.5 s
    { name: "a 5 s stall", samples: series(15_000), faultEnd: 10_000, expected: Infinity, want: 6_500 },
    { name: "a fault lasting until 12 s", samples: series(15_000), faultEnd: 12_000, expected: Infinity, want: 6_500 },
    { name: "no stall", samples: series(0), faultEnd: 10_000, expected: Infinity, want: 2_000 },
    { name: "never back", samples: series(Infinity), faultEnd: 10_000, expected: Infinity, want: null },
    { name: "everything stored first", samples: series(Infinity), faultEnd: 10_000, expected: 10_250, want: 0 },
  ];
  for (const c of cases) {
    await t.step(c.name, () => {
      const got = recovery(c.samples, 10_000, c.faultEnd, c.expected);
      assert.equal(got.ms, c.want);
      assert.equal(Math.round(got.steadyRate), 1_000);
    });
  }
});

/** One `/readyz` sample of both consumers: true (200), false (503) or null (no answer). */
interface ReadySample {
  t: number;
  ready: (boolean | null)[];
}

/**
 * A consumer's readiness from `faultStart` on, in words: "ready throughout", or for how long it
 * read not ready (503) and did not answer (samples of 500 ms), when the first and last of those
 * came (seconds after the fault began), and whether it was ready at the end.
 */
export function readinessWords(samples: ReadySample[], consumer: number, faultStart: number): string {
  const after = samples.filter((s) => s.t >= faultStart);
  const off = after.filter((s) => s.ready[consumer] !== true);
  if (off.length === 0) return "ready throughout";
  const seconds = (n: number) => (n * 0.5).toFixed(1);
  const at = (s: ReadySample) => ((s.t - faultStart) / 1000).toFixed(1);
  const notReady = off.filter((s) => s.ready[consumer] === false).length;
  const silent = off.length - notReady;
  const end = after.at(-1)!.ready[consumer] === true ? "ready at the end" : "NOT ready at the end";
  return `not ready ${seconds(notReady)} s, no answer ${seconds(silent)} s, between ${at(off[0]!)} and ${
    at(off.at(-1)!)
  } s; ${end}`;
}

Deno.test("readinessWords() says how long a consumer read not ready after the fault, and whether it came back", async (t) => {
  const samples = (states: (boolean | null)[]) => states.map((r, i) => ({ t: 10_000 + i * 500, ready: [r] }));
  const cases: [string, (boolean | null)[], string][] = [
    ["always ready", [true, true, true], "ready throughout"],
    [
      "a stall",
      [true, false, false, true],
      "not ready 1.0 s, no answer 0.0 s, between 0.5 and 1.0 s; ready at the end",
    ],
    [
      "no answer apart",
      [true, null, true, false, true],
      "not ready 0.5 s, no answer 0.5 s, between 0.5 and 1.5 s; ready at the end",
    ],
    [
      "never back",
      [true, false, false],
      "not ready 1.0 s, no answer 0.0 s, between 0.5 and 1.0 s; NOT ready at the end",
    ],
  ];
  for (const [name, states, want] of cases) {
    await t.step(name, () => assert.equal(readinessWords(samples(states), 0, 10_000), want));
  }
});

/** Samples both consumers' `/readyz` every 500 ms, until stopped. */
function startReadySampler() {
  const samples: ReadySample[] = [];
  let running = true;
  const probe = async (port: number): Promise<boolean | null> => {
    try {
      const response = await fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(400) });
      await response.body?.cancel();
      return response.status === 200;
    } catch {
      return null;
    }
  };
  const loop = (async () => {
    while (running) {
      const t = Date.now();
      samples.push({ t, ready: await Promise.all(READY_PORTS.map(probe)) });
      await sleep(Math.max(0, 500 - (Date.now() - t)));
    }
  })();
  return {
    samples,
    async stop(): Promise<ReadySample[]> {
      running = false;
      await loop;
      return samples;
    },
  };
}

/** Samples the stored count every 250 ms and the group's lag every second, until stopped. */
function startSampler(db: TestDatabase, topic: TestTopic, group: string) {
  const samples: Sample[] = [];
  let maxLag = 0, running = true;
  const stores = (async () => {
    while (running) {
      try {
        samples.push({ t: Date.now(), stored: await total(db) });
      } catch { /* the next sample will do */ }
      await sleep(250);
    }
  })();
  const lags = (async () => {
    const admin = topic.kafka.admin();
    while (running) {
      try {
        await admin.connect();
        const ends = await admin.fetchTopicOffsets(topic.name);
        const [committed] = await admin.fetchOffsets({ groupId: group, topics: [topic.name] });
        let lag = 0;
        for (const end of ends) {
          const c = committed?.partitions.find((p) => p.partition === end.partition)?.offset ?? "-1";
          lag += Number(BigInt(end.high) - (BigInt(c) < 0n ? BigInt(end.low) : BigInt(c)));
        }
        maxLag = Math.max(maxLag, lag);
      } catch { /* a broker down: the next sample will do */ }
      await sleep(1_000);
    }
    await admin.disconnect().catch(() => {});
  })();
  return {
    samples,
    async stop(): Promise<{ samples: Sample[]; maxLag: number }> {
      running = false;
      await Promise.all([stores, lags]);
      // the last count too: the run may end between two samples, after the last stored row
      samples.push({ t: Date.now(), stored: await total(db) });
      return { samples, maxLag };
    },
  };
}

/** What a fault did: when it began and ended (ms since the epoch), and its words for the table. */
interface Fault {
  start: number;
  end: number;
  what: string;
}

interface Scenario {
  seed: number;
  count: number;
  rate: number;
  /** Stored rows before the fault strikes. */
  faultAfter: number;
  /** Strikes the fault; resolves when it is over. */
  fault(topic: TestTopic): Promise<Fault>;
  /** The consumers' settings beside the cluster's (their brokers or database through proxies). */
  consumerEnv?: (db: TestDatabase) => Record<string, string>;
  /** Both consumers must read not ready during the fault (they cannot write) and ready after. */
  notReadyDuringFault?: boolean;
}

/** Waits for a child's exit within `ms`, failing with its last log lines. */
async function exitWithin(child: Child, ms: number, what: string): Promise<Deno.CommandStatus> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return await Promise.race([
    child.status,
    new Promise<never>((_, reject) =>
      timer = setTimeout(
        () => reject(new Error(`${what} still running after ${ms / 1000} s:\n${child.stderr().slice(-4000)}`)),
        ms,
      )
    ),
  ]).finally(() => clearTimeout(timer));
}

/** Runs a scenario under load, checks delivery and the topic, and adds its row to the table. */
async function underLoad(s: Scenario): Promise<void> {
  await using db = await testDatabase();
  await using topic = testTopic(CLUSTER_BROKERS);
  const run = liveRun({ seed: s.seed, count: s.count, rate: s.rate, customers: 24 });
  const messages = simulate(run);
  const producer = await startProducer(topic.name, run, [], ENV);
  const group = uniqueName("cluster");
  const consumerEnv = { ...ENV, ...s.consumerEnv?.(db) };
  await using a = await startConsumer(db, topic, group, {
    ...consumerEnv,
    HEARTBEAT_CONSUMER_METRICS_PORT: String(READY_PORTS[0]),
  });
  await using b = await startConsumer(db, topic, group, {
    ...consumerEnv,
    HEARTBEAT_CONSUMER_METRICS_PORT: String(READY_PORTS[1]),
  });
  await waitForSharing(a, b);
  await waitFullyReplicated(topic.kafka, [topic.name, "__consumer_offsets"]);
  const sampler = startSampler(db, topic, group);
  const readySampler = startReadySampler();
  let fault: Fault | undefined;
  let sampled: { samples: Sample[]; maxLag: number };
  let producerStatus: Deno.CommandStatus;
  try {
    await waitUntil(`${s.faultAfter} rows stored`, async () => (await total(db)) >= s.faultAfter, 60_000);
    await sleep(BASELINE_MS); // the steady rate before the fault
    fault = await s.fault(topic);
    producerStatus = await exitWithin(producer, 240_000, "the producer");
    // everything the topic holds (whatever the producer got onto it) is stored or dead-lettered
    const onTopic = await topicRecords(topic);
    await waitUntil("every record on the topic stored", async () => (await total(db)) >= onTopic, 120_000)
      .catch(async (e) => {
        throw new Error(
          `${e.message}: ${onTopic} records on the topic, ${await total(db)} rows stored\n${a.stderr().slice(-3000)}\n${
            b.stderr().slice(-3000)
          }`,
        );
      });
  } finally {
    sampled = await sampler.stop();
  }
  const readySamples = await readySampler.stop();
  const { samples, maxLag } = sampled;
  for (const c of [a, b]) c.kill("SIGTERM");
  // their exit codes are asserted after the delivery check, so that the row is there either way
  const stops = await Promise.all(
    ([[a, "consumer a"], [b, "consumer b"]] as const).map(async ([c, name]) => ({
      name,
      c,
      code: (await exitWithin(c, 45_000, name)).code, // its grace period is 30 s
    })),
  );
  const checkStops = () => {
    for (const { name, c, code } of stops) {
      assert.equal(code, 0, `${name} stops cleanly on SIGTERM:\n${c.stderr().slice(-3000)}`);
    }
  };
  const back = await readBack(topic.kafka, topic.name, messages);
  const committed = await groupCaughtUp(topic.kafka, topic.name, group).catch(() => false);
  const producerDone = producer.stderr().trim().split("\n").findLast((l) =>
    /"msg":"(done|stopped with an error)"/.test(l)
  );
  console.error(`producer: ${producerDone}; group committed the whole topic: ${committed}`);
  const rec = recovery(samples, fault.start, fault.end, run.count);
  const extra = {
    recoveryS: rec.ms === null ? null : rec.ms / 1000,
    faultS: (fault.end - fault.start) / 1000,
    maxLag,
    topicRecords: back.records,
    topicMissing: back.missing,
    topicDuplicated: back.duplicated,
    readiness: ["a", "b"].map((name, i) => `${name}: ${readinessWords(readySamples, i, fault!.start)}`).join("; "),
  };
  const scenario = `${fault.what} (${run.count} at ${run.rate}/s)`;
  if (producerStatus.code !== 0) {
    // the producer gave up: what it had acknowledged (the first `acknowledged` messages, as it
    // keeps one request in flight and stops at the first that fails) must still be on the topic
    const end = producer.stderr().trim().split("\n").findLast((l) => l.includes('"msg":"stopped with an error"'));
    const summary = JSON.parse(end ?? "{}") as { sent?: number; acknowledged?: number; error?: { message?: string } };
    const acknowledged = summary.acknowledged ?? 0;
    const lostAcknowledged = back.missingOf(acknowledged);
    const { readings, deadLetters } = await db.counts();
    const row: ClusterRow = {
      scenario: `${scenario}: PRODUCER FAILED (${summary.error?.message ?? "see its log"})`,
      sent: summary.sent ?? 0,
      stored: readings,
      rejected: deadLetters,
      lost: lostAcknowledged,
      duplicated: back.duplicated,
      ...extra,
      topicMissing: lostAcknowledged, // of what it acknowledged: the rest was never sent
    };
    table.push(row);
    console.error(`cluster fault: ${JSON.stringify({ ...row, acknowledged })}`);
    assert.fail(
      `the producer exited ${producerStatus.code} after ${acknowledged} acknowledged; ${lostAcknowledged} acknowledged messages are not on the topic, ${back.duplicated} records are there twice or unexpected:\n${
        producer.stderr().slice(-3000)
      }`,
    );
  }
  await checkDelivery(scenario, db, topic, messages, (row) => {
    const merged = { ...row, ...extra };
    table.push(merged);
    const consumerExits = stops.map((x) => x.code);
    console.error(
      `cluster fault: ${JSON.stringify({ ...merged, steadyRate: Math.round(rec.steadyRate), consumerExits })}`,
    );
  });
  if (s.notReadyDuringFault) {
    for (const i of [0, 1]) {
      const during: ReadySample[] = readySamples.filter((r) => r.t >= fault!.start && r.t <= fault!.end);
      assert.ok(during.some((r) => r.ready[i] === false), `consumer ${i} read not ready during the fault`);
      assert.equal(readySamples.at(-1)?.ready[i], true, `consumer ${i} is ready again after the fault`);
    }
  }
  assert.equal(back.duplicated, 0, "no record on the topic twice (the idempotent producer)");
  assert.equal(back.missing, 0, "every produced message is on the topic");
  assert.equal(back.records, messages.length);
  checkStops();
}

/** Starts every node that is down and waits until every partition is in sync again. */
async function healCluster(topics: string[] = ["__consumer_offsets"]): Promise<void> {
  for (const node of [1, 2, 3]) await clusterScript("start-node", String(node));
  await using probe = testTopic(CLUSTER_BROKERS);
  await waitFullyReplicated(probe.kafka, topics);
}

clusterTest("a topic created on a cluster of three brokers gets 3 replicas and min.insync.replicas=2", async () => {
  await using topic = testTopic(CLUSTER_BROKERS);
  assert.equal(await ensureTopic(topic.kafka, topic.name, 6, quiet), true);
  const got = await topicReplicationOf(topic.kafka, topic.name);
  assert.deepEqual(got.replicas, [3, 3, 3, 3, 3, 3]);
  assert.equal(got.minInsync, "2");
  assert.equal(got.minInsyncIsTopicConfig, true, "min.insync.replicas is the topic's own setting");
});

clusterTest(
  "a node advertising a fault proxy's port is reached through it, and the proxy's black hole stalls it",
  async () => {
    await using proxy = FaultProxy.start({ port: 49092, target: { hostname: "127.0.0.1", port: 39092 } });
    try {
      await clusterScriptWith({ KAFKA_CLUSTER_ADVERTISED_PORTS: "49092" }, "restart", "1");
      // bootstrapped on node 2: node 1's address comes from the metadata, as the pipeline's clients get it
      await using topic = testTopic(["127.0.0.1:39192"]);
      const admin = topic.kafka.admin();
      await admin.connect();
      let partition: number | undefined;
      try {
        await waitUntil("node 1 advertising 49092", async () => {
          const { brokers } = await admin.describeCluster();
          return brokers.some((b) => b.nodeId === 1 && b.port === 49092);
        }, 60_000);
        await admin.createTopics({ topics: [{ topic: topic.name, numPartitions: 6 }], waitForLeaders: true });
        await waitFullyReplicated(topic.kafka, [topic.name]);
        const meta = await admin.fetchTopicMetadata({ topics: [topic.name] });
        partition = meta.topics[0]?.partitions.find((p) => p.leader === 1)?.partitionId;
      } finally {
        await admin.disconnect();
      }
      assert.ok(partition !== undefined, "node 1 leads a partition of the new topic");
      const producer = topic.kafka.producer();
      await producer.connect();
      try {
        const before = proxy.accepted;
        await producer.send({ topic: topic.name, messages: [{ partition, value: "through the proxy" }] });
        assert.ok(proxy.accepted > before, "the produce request to node 1 went through the proxy");
        proxy.blackHole();
        const sent = producer.send({ topic: topic.name, messages: [{ partition, value: "held" }] });
        const pending = await Promise.race([sent.then(() => false), sleep(2_000).then(() => true)]);
        assert.ok(pending, "nothing reaches node 1 while its proxy is a black hole");
        proxy.passThrough();
        await sent;
      } finally {
        await producer.disconnect();
      }
    } finally {
      await clusterScript("restart", "1"); // node 1 advertises its own port again
    }
  },
);

clusterTest("the leader of the busiest partition killed with SIGKILL mid-run loses and doubles nothing", async () => {
  try {
    await underLoad({
      seed: 31,
      count: 60_000,
      rate: 2_500,
      faultAfter: 10_000,
      async fault(topic) {
        const partition = await busiestPartition(topic.kafka, topic.name);
        const node = await partitionLeader(topic.name, partition);
        const start = Date.now();
        await clusterScript("kill", String(node));
        return { start, end: start, what: `leader of partition ${partition} (node ${node}) SIGKILLed` };
      },
    });
  } finally {
    await healCluster();
  }
});

clusterTest("a rolling restart of the three brokers, one at a time, loses and doubles nothing", async () => {
  try {
    await underLoad({
      seed: 32,
      count: 200_000,
      rate: 2_500,
      faultAfter: 10_000,
      async fault(topic) {
        const start = Date.now();
        for (const node of [1, 2, 3]) {
          await clusterScript("restart", String(node));
          // the next broker goes only once every replica is back in sync, as an operator would
          await waitFullyReplicated(topic.kafka, [topic.name, "__consumer_offsets"]);
        }
        return {
          start,
          end: Date.now(),
          what: "rolling restart of nodes 1, 2, 3 (SIGTERM, back in sync before the next)",
        };
      },
    });
  } finally {
    await healCluster();
  }
});

clusterTest("a broker frozen with SIGSTOP for 30 s, then SIGCONT, loses and doubles nothing", async () => {
  try {
    await underLoad({
      seed: 33,
      count: 150_000,
      rate: 2_500,
      faultAfter: 10_000,
      async fault(topic) {
        const partition = await busiestPartition(topic.kafka, topic.name);
        const node = await partitionLeader(topic.name, partition);
        const start = Date.now();
        await clusterScript("pause", String(node));
        await sleep(30_000);
        await clusterScript("resume", String(node));
        return { start, end: Date.now(), what: `leader of partition ${partition} (node ${node}) SIGSTOPped 30 s` };
      },
    });
  } finally {
    await clusterScript("resume", "1").catch(() => {});
    await clusterScript("resume", "2").catch(() => {});
    await clusterScript("resume", "3").catch(() => {});
    await healCluster();
  }
});

clusterTest("the active controller killed with SIGKILL mid-run loses and doubles nothing", async () => {
  try {
    await underLoad({
      seed: 34,
      count: 60_000,
      rate: 2_500,
      faultAfter: 10_000,
      async fault() {
        const node = await activeController();
        const start = Date.now();
        await clusterScript("kill", String(node));
        // the quorum elects another leader among the two left
        const seen: string[] = [];
        await waitUntil("a new active controller", async () => {
          const now = await activeController().catch((e) => (seen.push(String(e).slice(0, 300)), -1));
          seen.push(String(now));
          return now > 0 && now !== node;
        }, 120_000).catch((e) => Promise.reject(new Error(`${e.message}; the helper said: ${seen.join(" / ")}`)));
        return { start, end: start, what: `active controller (node ${node}) SIGKILLed` };
      },
    });
  } finally {
    await healCluster();
  }
});

clusterTest(
  "2 s of latency, then resets, on the consumers' link to the busiest partition's leader lose and double nothing",
  async () => {
    const proxies = PROXIED.map((p) =>
      FaultProxy.start({ port: p.port, target: { hostname: "127.0.0.1", port: p.target } })
    );
    try {
      await underLoad({
        seed: 35,
        count: 60_000,
        rate: 2_500,
        faultAfter: 10_000,
        // the consumers bootstrap on the PROXIED listeners: every link of theirs goes through a proxy
        consumerEnv: () => ({ KAFKA_BROKERS: PROXIED.map((p) => `127.0.0.1:${p.port}`).join(",") }),
        async fault(topic) {
          const partition = await busiestPartition(topic.kafka, topic.name);
          const node = await partitionLeader(topic.name, partition);
          const proxy = proxies[node - 1]!;
          const start = Date.now();
          proxy.latency(2_000);
          await sleep(15_000);
          proxy.passThrough();
          for (let i = 0; i < 3; i++) {
            await proxy.reset();
            await sleep(2_000);
          }
          return {
            start,
            end: Date.now(),
            what:
              `consumers' link to node ${node} (leader of partition ${partition}): 2 s latency 15 s, then 3 resets 2 s apart`,
          };
        },
      });
    } finally {
      await Promise.all(proxies.map((p) => p.close()));
    }
  },
);

clusterTest(
  "the consumers' PostgreSQL link black-holed for 20 s loses and doubles nothing; they read not ready meanwhile",
  async () => {
    await using proxy = FaultProxy.start({ port: DB_PROXY_PORT, target: { hostname: "127.0.0.1", port: 5432 } });
    await underLoad({
      seed: 36,
      count: 60_000,
      rate: 2_500,
      faultAfter: 10_000,
      consumerEnv: (db) => {
        const url = new URL(db.url);
        url.port = String(DB_PROXY_PORT);
        return { DATABASE_URL: url.href };
      },
      notReadyDuringFault: true,
      async fault() {
        const start = Date.now();
        proxy.blackHole();
        await sleep(20_000);
        proxy.passThrough();
        return { start, end: Date.now(), what: "consumers' PostgreSQL link black-holed 20 s" };
      },
    });
  },
);

Deno.test({
  name: "cluster fault table",
  fn() {
    if (table.length === 0) return;
    const lines = [
      "| scenario | sent | stored | rejected | lost | duplicated | on the topic (missing, twice) | fault (s) | recovery (s) | max lag | consumers' /readyz from the fault on |",
      "|---|---|---|---|---|---|---|---|---|---|---|",
    ];
    for (const r of table) {
      const recovered = r.recoveryS === null ? "not back" : r.recoveryS.toFixed(1);
      lines.push(
        `| ${r.scenario} | ${r.sent} | ${r.stored} | ${r.rejected} | ${r.lost} | ${r.duplicated} | ${r.topicRecords} (${r.topicMissing}, ${r.topicDuplicated}) | ${
          r.faultS.toFixed(1)
        } | ${recovered} | ${r.maxLag} | ${r.readiness} |`,
      );
    }
    console.log(`\nCluster fault table (${new Date().toISOString()}):\n${lines.join("\n")}\n`);
  },
});

Deno.test({
  name: "the cluster this suite started is stopped",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await stopClusterIfStarted();
  },
});
