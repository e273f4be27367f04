#!/usr/bin/env -S deno run --allow-net=127.0.0.1:9092,127.0.0.1:5432,127.0.0.1:19092,127.0.0.1:5433,127.0.0.1:18083 --allow-read=. --allow-write=bench/results --allow-run=deno,java,cat,ps,timeout,bash --allow-env=HOME --ignore-env
/**
 * `deno task bench`: throughput, latency and memory of the pipeline against the real local Kafka
 * broker and PostgreSQL server, every figure measured in the same run as its reference so that
 * the ratios hold on a noisy shared machine. Prints a table and writes the figures as JSON to
 * `bench/results/<UTC timestamp>.json` and `bench/results/latest.json` (that folder is not in git:
 * `bench/baseline.json` holds the reviewed headline figures, and `--compare` prints this run's
 * beside them, as `deno task bench:compare` does for a results file).
 *
 * Phases (docs/performance.md explains each and how to read it):
 * 1. ceiling: `COPY ... FROM STDIN` of the very rows the sink will store, fresh database;
 * 2. baselines: the reference's one INSERT per message with a new connection each, and one INSERT
 *    per row on one connection (smaller samples: they are slow);
 * 3. producer: the real producer script fills a topic (`--readings` messages, 1% invalid) at full
 *    speed; its "done" line gives readings/s to acknowledged;
 * 4. sink: the real consumer script(s) drain that topic into a fresh database, from process start
 *    to every row committed; once with 1 consumer, once with 2 in one group (scaling); then the
 *    ceiling again, the sink's ratios being to the mean of the two (the machine drifts);
 * 4b. sink-tls: throw-away secured servers (tests/support/secure_services.ts: a second broker, a
 *    TLS PostgreSQL with a plaintext `host` line opted in) get the same messages (plaintext fill,
 *    not measured); the 1-consumer sink then drains them over TLS on both links (Kafka SASL_SSL with
 *    SCRAM-SHA-512, PostgreSQL verify-full), over Kafka PLAINTEXT + PostgreSQL verify-full (the
 *    Kafka share), and over plaintext on both links: the reference, same servers, same logins but
 *    TLS and the SCRAM exchange of Kafka; once the dirty pages are written back, a warm-up run, then
 *    `--tls-rounds` rounds in ABBA order, tables emptied before each run; TLS cost = 1 − TLS / plaintext;
 * 5. latency: consumer running, producer live at 1,000 and 10,000 readings/s; percentiles of
 *    `ingested_at - recorded_at` computed in SQL;
 * 4c. peer: Kafka Connect standalone with the Debezium JDBC sink (bench/peer.ts) stores the same valid
 *    readings, written to a topic of its own in Connect's JSON schema envelope, upserting on the same
 *    primary key, once per configuration of a small grid (batch size, unnest); the COPY ceiling of
 *    its narrower table beside ours; ours ÷ peer beside ours ÷ ceiling;
 * 6. Kafka's Java perf tool sends the producer's count of same-size records with the same
 *    guarantees (last: the kernel writes its records back in the phase after it);
 * 7. soak (only with `--soak`): consumer memory over a long live run, and its slope.
 *
 * Requires the permissions in the shebang: the two services, `deno` (the scripts), `java` (the
 * perf tool), `cat`/`ps` (Deno wants `--allow-all` to read `/proc`, so memory is read through
 * `cat`), `HOME` (the Kafka jars' default folder); for sink-tls, `timeout` (secure_services.ts runs
 * its shell half under it), the secured broker's PLAINTEXT listener 127.0.0.1:19092 (admin: topic
 * ends, committed offsets) and the secured PostgreSQL 127.0.0.1:5433 (emptying tables, counts);
 * its CA is read through `cat` (it lives in a temporary folder outside `--allow-read=.`); for peer,
 * `bash` (scripts/kafka-connect.sh fetches the worker's jars with Maven, once), `java` (the worker),
 * its REST port 127.0.0.1:18083 and `bench/results` (its configuration and offsets, removed after).
 *
 * @module
 */
import { parseArgs } from "node:util";
import {
  buildDataset,
  type Dataset,
  exampleReading,
  type ReadingColumns,
  readingColumns,
  type Workload,
} from "./rows.ts";
import {
  checkpoint,
  commitSpan,
  connect,
  copyCeiling,
  countRows,
  type DbClient,
  type DbTls,
  freshDatabase,
  insertPerMessageNewConnection,
  insertPerRowOneConnection,
  type LatencyStats,
  latencyStats,
  serverProcesses,
  serverVersion,
  tableColumns,
  truncateTables,
} from "./db.ts";
import { type BenchAdmin, connectAdmin, type JavaPerfResult, javaProducerPerf } from "./kafka.ts";
import {
  brokerPids,
  childProcesses,
  commandLine,
  CpuTracker,
  type CpuUsage,
  MemorySampler,
  spawnedPids,
  spawnTask,
  taskFlags,
  type TaskProcess,
} from "./proc.ts";
import { codeFingerprint, cpuPer100k, fingerprintHash, num, ratio, slope, table } from "./report.ts";
import { printComparison } from "./compare_cli.ts";
import { measurePeer, parsePeerConfigs, peerReport, type PeerResults, PeerRows, peerSetup } from "./peer.ts";
import { type SecureServices, secureServices } from "../tests/support/secure_services.ts";
import { producerOptions } from "../lib/config/tables.ts";

const BROKER = "127.0.0.1:9092";
/** The producer's compression (its default, which the fill uses): the Java perf tool is given the same. */
const PRODUCER_COMPRESSION = producerOptions.compression.default;
const PG_SERVER = "postgres://postgres@127.0.0.1:5432";
const RESULTS = new URL("./results/", import.meta.url);
const PHASES = ["ceiling", "baseline", "producer", "java", "sink", "scaling", "peer", "sink-tls", "latency"] as const;
type Phase = typeof PHASES[number];

const USAGE = `usage: deno task bench [options]

Measures the pipeline against the real Kafka (${BROKER}) and PostgreSQL (127.0.0.1:5432).

  --readings N              messages in the pre-filled topic (default 1000000; --quick 50000)
  --quick                   a fast smoke run of the whole harness (~1 minute)
  --customers N             simulated fleet size (default 1000)
  --seed N                  simulator seed (default 1)
  --invalid-rate F          share of injected invalid messages (default 0.01)
  --partitions N            partitions of the topics (default 6)
  --copy-rows N             rows per COPY in the ceiling (default 5000)
  --baseline-rows N         rows for the new-connection-per-message baseline (default 2000; --quick 300)
  --baseline-single-rows N  rows for the one-connection INSERT-per-row baseline (default 20000; --quick 3000)
  --consumers LIST          consumer counts of the sink runs (default 1,2)
  --tls-rounds N            sink-tls: rounds of its three runs (TLS, Kafka plaintext + PostgreSQL TLS, plaintext),
                            every other round in reverse order, after a warm-up run (default 2; --quick 1)
  --sink-variant=ARGS       an extra 1-consumer sink run with these consumer flags, e.g.
                            --sink-variant="--batch-size 20000" (with "=": the value starts with a dash;
                            repeatable; a --v8-flags=... among them goes to deno run instead)
  --latency-rates LIST      live rates of the latency runs (default 1000,10000)
  --latency-duration D      length of each latency run (default 20s; --quick 6s)
  --latency-warmup D        first part of each latency run left out of the percentiles (default 2s)
  --latency-variant R:C[|P] an extra latency run at rate R with consumer flags C and producer flags P,
                            e.g. "1000:--batch-wait-ms 5|--linger-ms 5" (repeatable; default, without --quick:
                            "1000:--batch-wait-ms 100", the consumer's default until 2026-11-26)
  --peer-configs LIST       peer (runs when sink or scaling does): the connector's configurations, batch sizes
                            each with optional :unnest and :rewrite (reWriteBatchedInserts), with tasks.max = the
                            first --consumers count; the best again with each other count whose sink ran
                            (default 500,2000,5000,500:unnest,2000:unnest,5000:unnest; --quick 5000:unnest)
  --cpu-prof                write a V8 CPU profile of the 1-consumer sink run's consumer to bench/results/profiles/
  --soak D                  also run consumer + live producer for D (e.g. 10m) and report the memory slope
  --soak-rate N             producer rate of the soak (default 5000)
  --skip LIST               phases to leave out: ${PHASES.join(",")}
  --attempts N              runs of a phase that failed or saw the broker restart (default 2)
  --kafka-libs DIR          Kafka jars for the Java perf tool (default $HOME/.cache/heartbeat/kafka-4.4.0/libs)
  --compare                 after the run, print its headline figures beside bench/baseline.json's
                            (as deno task bench:compare does; a report: the exit code does not change)
  --help                    this text`;

/** The benchmark's settings. */
interface Options {
  readings: number;
  quick: boolean;
  customers: number;
  seed: number;
  invalidRate: number;
  partitions: number;
  copyRows: number;
  baselineRows: number;
  baselineSingleRows: number;
  consumers: number[];
  tlsRounds: number;
  sinkVariants: string[][];
  latencyRates: number[];
  latencyDurationMs: number;
  latencyWarmupMs: number;
  latencyVariants: { rate: number; consumerArgs: string[]; producerArgs: string[] }[];
  peerConfigs: string;
  cpuProf: boolean;
  soakMs: number;
  soakRate: number;
  skip: Set<Phase>;
  kafkaLibs: string;
  attempts: number;
  compare: boolean;
}

function fatal(message: string, code = 1): never {
  console.error(`error: ${message}`);
  Deno.exit(code);
}

function parseDurationMs(text: string, what: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(text.trim());
  if (m === null) {
    fatal(`Cannot parse ${what}: expected a duration like 500ms, 20s or 10m: current value is ${text}`, 2);
  }
  return Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as "ms" | "s" | "m" | "h"];
}

function positive(text: string | undefined, fallback: number, what: string, integer = true): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!(n > 0) || (integer && !Number.isInteger(n))) {
    fatal(`Cannot use ${what}: expected a ${integer ? "whole " : ""}number above 0: current value is ${text}`, 2);
  }
  return n;
}

function list(text: string | undefined, fallback: number[], what: string): number[] {
  if (text === undefined) return fallback;
  return text.split(",").map((s) => positive(s.trim(), 0, what));
}

function words(text: string): string[] {
  return text.trim().split(/\s+/).filter((w) => w !== "");
}

function parseOptions(args: string[]): Options {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      strict: true,
      options: {
        readings: { type: "string" },
        quick: { type: "boolean" },
        customers: { type: "string" },
        seed: { type: "string" },
        "invalid-rate": { type: "string" },
        partitions: { type: "string" },
        "copy-rows": { type: "string" },
        "baseline-rows": { type: "string" },
        "baseline-single-rows": { type: "string" },
        consumers: { type: "string" },
        "tls-rounds": { type: "string" },
        "sink-variant": { type: "string", multiple: true },
        "latency-rates": { type: "string" },
        "latency-duration": { type: "string" },
        "latency-warmup": { type: "string" },
        "latency-variant": { type: "string", multiple: true },
        "peer-configs": { type: "string" },
        "cpu-prof": { type: "boolean" },
        soak: { type: "string" },
        "soak-rate": { type: "string" },
        skip: { type: "string" },
        "kafka-libs": { type: "string" },
        attempts: { type: "string" },
        compare: { type: "boolean" },
        help: { type: "boolean" },
      },
    });
  } catch (error) {
    fatal(`${error instanceof Error ? error.message : String(error)}\n\n${USAGE}`, 2);
  }
  const v = parsed.values;
  if (v.help) {
    console.log(USAGE);
    Deno.exit(0);
  }
  const quick = v.quick === true;
  const invalidRate = v["invalid-rate"] === undefined ? 0.01 : Number(v["invalid-rate"]);
  try {
    parsePeerConfigs(v["peer-configs"] ?? "500", 1);
  } catch (error) {
    fatal(error instanceof Error ? error.message : String(error), 2);
  }
  if (!(invalidRate >= 0 && invalidRate <= 1)) {
    fatal(`Cannot use --invalid-rate: expected a number from 0 to 1: current value is ${v["invalid-rate"]}`, 2);
  }
  const skip = new Set<Phase>();
  for (const s of (v.skip ?? "").split(",").map((x) => x.trim()).filter((x) => x !== "")) {
    if (!(PHASES as readonly string[]).includes(s)) {
      fatal(`Cannot skip ${s}: expected one of ${PHASES.join(", ")}`, 2);
    }
    skip.add(s as Phase);
  }
  const home = Deno.env.get("HOME") ?? "";
  return {
    readings: positive(v.readings, quick ? 50_000 : 1_000_000, "--readings"),
    quick,
    customers: positive(v.customers, 1000, "--customers"),
    seed: positive(v.seed, 1, "--seed"),
    invalidRate,
    partitions: positive(v.partitions, 6, "--partitions"),
    copyRows: positive(v["copy-rows"], 5000, "--copy-rows"),
    baselineRows: positive(v["baseline-rows"], quick ? 300 : 2000, "--baseline-rows"),
    baselineSingleRows: positive(v["baseline-single-rows"], quick ? 3000 : 20_000, "--baseline-single-rows"),
    consumers: list(v.consumers, [1, 2], "--consumers"),
    tlsRounds: positive(v["tls-rounds"], quick ? 1 : 2, "--tls-rounds"),
    sinkVariants: (v["sink-variant"] ?? []).map(words),
    latencyRates: list(v["latency-rates"], [1000, 10_000], "--latency-rates"),
    latencyDurationMs: parseDurationMs(v["latency-duration"] ?? (quick ? "6s" : "20s"), "--latency-duration"),
    latencyWarmupMs: parseDurationMs(v["latency-warmup"] ?? (quick ? "1s" : "2s"), "--latency-warmup"),
    // by default, the evidence for the latency proposal: the same runs with a 5 ms batch wait
    latencyVariants: (v["latency-variant"] ?? (quick ? [] : ["1000:--batch-wait-ms 100"])).map(
      (s) => {
        const m = /^(\d+):([^|]*)(?:\|(.*))?$/.exec(s);
        if (m === null) {
          fatal(
            `Cannot use --latency-variant: expected RATE:CONSUMER FLAGS[|PRODUCER FLAGS]: current value is ${s}`,
            2,
          );
        }
        return {
          rate: positive(m[1], 0, "--latency-variant rate"),
          consumerArgs: words(m[2] ?? ""),
          producerArgs: words(m[3] ?? ""),
        };
      },
    ),
    peerConfigs: v["peer-configs"] ?? (quick ? "5000:unnest" : "500,2000,5000,500:unnest,2000:unnest,5000:unnest"),
    cpuProf: v["cpu-prof"] === true,
    soakMs: v.soak === undefined ? 0 : parseDurationMs(v.soak, "--soak"),
    soakRate: positive(v["soak-rate"], 5000, "--soak-rate"),
    skip,
    kafkaLibs: v["kafka-libs"] ?? `${home}/.cache/heartbeat/kafka-4.4.0/libs`,
    attempts: positive(v.attempts, 2, "--attempts"),
    compare: v.compare === true,
  };
}

// ---------------------------------------------------------------------------------------------
// results

interface Throughput {
  rows: number;
  ms: number;
  perSecond: number;
}

interface ProducerRun {
  /** From the producer's "done" line. */
  acknowledged: number;
  perSecond: number;
  elapsedS: number;
  /** Process start to exit, as the bench saw it. */
  wallS: number;
  peakMiB: number;
  command: string;
  /** CPU from start to the "done" line. */
  cpu?: CpuUsage;
}

interface SinkRun {
  label: string;
  consumers: number;
  consumerArgs: string[];
  records: number;
  readings: number;
  deadLetters: number;
  verified: boolean;
  /** Consumer process start to every row committed (proven by `provenBy`), seconds. */
  wallS: number;
  /** records / wallS: the headline figure. */
  perSecond: number;
  readingsPerSecond: number;
  /** From the first batch transaction to every row committed (startup and group join left out). */
  steadyPerSecond: number;
  firstCommitAfterS: number;
  batches: number;
  provenBy: string;
  peakMiB: number[];
  memorySamples: [number, number][][];
  processCheck: string;
  /** CPU from the consumers' start to every row committed. */
  cpu?: CpuUsage;
  profileDir?: string;
}

/** How sink-tls connects the consumer to the secured servers. */
type TlsSetup = "tls" | "kafkaPlaintext" | "plaintext";

/** What each {@link TlsSetup} is, for the table and the JSON. */
const TLS_SETUPS: Record<TlsSetup, string> = {
  tls: "TLS on both links: Kafka SASL_SSL (SCRAM-SHA-512) + PostgreSQL verify-full",
  kafkaPlaintext: "Kafka PLAINTEXT + PostgreSQL verify-full",
  plaintext: "plaintext on both links: Kafka PLAINTEXT + PostgreSQL without TLS (the reference)",
};

interface TlsSinkRun extends SinkRun {
  /** The setup, or "warmup" for the first, uncounted run (a broker and a server just started). */
  setup: TlsSetup | "warmup";
  /** 0 for the warm-up. */
  round: number;
}

interface SinkTls {
  /** Where each link went (no secrets). */
  servers: Record<string, string>;
  /** What the ratio is to, and why. */
  reference: string;
  /** Starting the secured servers, seconds (before the phase: not in its time). */
  startupS: number;
  /** The producer script's fill of the secured broker (PLAINTEXT listener; not measured). */
  fill: ProducerRun;
  /** The wait, after the fill, for the kernel to write dirty pages back (see {@link SETTLED_DIRTY_MB}). */
  settle: { dirtyMbBefore: number | null; dirtyMbAfter: number | null; seconds: number };
  rounds: number;
  /** The warm-up run (TLS setup, not counted) and then every counted run, in the order they ran. */
  runs: TlsSinkRun[];
  /** Mean of each setup's counted runs' `perSecond` (records, process start to every row committed). */
  perSecond: Record<TlsSetup, number>;
  /** perSecond.tls / perSecond.plaintext. */
  toPlaintext: number;
  /** 1 − toPlaintext: what TLS on both links (and SCRAM on Kafka's) costs of the sink's throughput. */
  cost: number;
  /** 1 − tls / kafkaPlaintext: Kafka's SASL_SSL alone (PostgreSQL over TLS in both). */
  kafkaCost: number;
  /** 1 − kafkaPlaintext / plaintext: PostgreSQL's TLS alone (Kafka PLAINTEXT in both). */
  postgresCost: number;
  /** Every run stored exactly the dataset's readings and dead letters. */
  verified: boolean;
  /** The main servers' plaintext 1-consumer sink of this run, when it ran (other servers' settings). */
  mainSinkPerSecond?: number;
  /** perSecond.tls / mainSinkPerSecond: end to end, but across servers set up differently. */
  toMainSink?: number;
}

interface LatencyRun {
  label: string;
  /** Run right after the sink runs (the broker and PostgreSQL still writing back their data), not after a settle. */
  afterLoad?: boolean;
  rate: number;
  consumerArgs: string[];
  producerArgs: string[];
  durationS: number;
  acknowledged: number;
  producerPerSecond: number;
  warmupMs: number;
  steady: LatencyStats;
  all: LatencyStats;
  consumerPeakMiB: number;
  producerPeakMiB: number;
  /** CPU from the producer's start to its "done" line. */
  cpu?: CpuUsage;
}

interface SoakRun {
  rate: number;
  durationS: number;
  acknowledged: number;
  consumerPeakMiB: number;
  consumerStartMiB: number;
  consumerEndMiB: number;
  slopeMiBPerMin: number;
  producerPeakMiB: number;
  latency: LatencyStats;
  samples: [number, number][];
}

interface Results {
  ceiling?: Throughput & { copyRows: number };
  /** The ceiling measured again after the sink phases: the sink's ratios are to the mean of the two. */
  ceilingAfter?: Throughput & { copyRows: number };
  baselineNewConnection?: Throughput;
  baselineOneConnection?: Throughput;
  producer?: ProducerRun;
  javaRecordSize?: JavaPerfResult & { recordSize: number };
  javaPayloads?: JavaPerfResult;
  sink: SinkRun[];
  /** Kafka Connect + the Debezium JDBC sink on the same readings (phase peer). */
  peer?: PeerResults;
  /** The sink over TLS beside the plaintext sink on the same secured servers (phase sink-tls). */
  sinkTls?: SinkTls;
  latency: LatencyRun[];
  soak?: SoakRun;
  /** Per phase (keyed as in {@link phaseKey}): wall time, load average at its start, CPU over it. */
  phases: Record<
    string,
    {
      seconds: number;
      loadavg: string;
      /** Dirty page cache at the phase's start, MB (null when /proc/meminfo could not be read). */
      dirtyMbAtStart: number | null;
      cpu?: CpuUsage;
      othersPctOfCore: number;
      brokerRestarted: boolean;
      attempts: number;
      failure?: string;
    }
  >;
}

interface Target {
  target: string;
  measured: string;
  pass: boolean | null;
}

// ---------------------------------------------------------------------------------------------
// the phases

const live = new Set<TaskProcess>();
/** Flags the consumer script knows (it changes while this bench is used): filled in by main(). */
let consumerFlags = new Set<string>();
/** Topics and groups to remove at the end. */
const cleanup = { topics: new Set<string>(), groups: new Set<string>() };
const say = (msg: string) => console.error(`bench: ${msg}`);

/** This run's id: every database and topic it makes has it in its name. */
let runId = "";

/**
 * CPU groups: the processes this bench spawned, the database server's backends for this run's
 * databases, its background processes, the other databases' backends, and the bench itself.
 * Put more specific groups (a phase's consumer) after these: the later group wins.
 */
async function pgGroups(): Promise<Record<string, number[]>> {
  const ours = (db: string) => runId !== "" && db.includes(runId);
  const pg = await serverProcesses(PG_SERVER, ours).catch(() => ({ run: [], background: [], otherDatabases: [] }));
  return {
    "bench children": [...spawnedPids],
    "pg: run's db": pg.run,
    "pg: background": pg.background,
    "pg: other dbs": pg.otherDatabases,
    bench: [Deno.pid],
  };
}

/**
 * Share of a core other users took, percent: other databases' backends, other processes, and the
 * CPU the hypervisor gave to other machines (steal, as a share of one core). Processes that
 * started and ended within the phase are not in it (see `unaccountedPctOfCore`).
 */
function noise(u: CpuUsage | undefined): number {
  if (u === undefined) return NaN;
  const cores = navigator.hardwareConcurrency;
  return (u.pctOfCore["pg: other dbs"] ?? 0) + (u.pctOfCore["other"] ?? 0) + u.stealPct * cores;
}

/** Phases where other users took more than this share of a core are flagged as noisy. */
const NOISY_PCT = 25;

async function loadavg(): Promise<string> {
  try {
    const out = await new Deno.Command("cat", { args: ["/proc/loadavg"], stdout: "piped", stderr: "null" }).output();
    return new TextDecoder().decode(out.stdout).split(" ").slice(0, 3).join(" ");
  } catch {
    return "n/a";
  }
}

/**
 * Page-cache bytes not yet written to disk, MB (/proc/meminfo `Dirty`). A phase that writes much to
 * Kafka leaves it for the kernel to write back about 30 s later, in whatever phase runs then.
 */
async function dirtyMb(): Promise<number | null> {
  try {
    const out = await new Deno.Command("cat", { args: ["/proc/meminfo"], stdout: "piped", stderr: "null" }).output();
    const kb = /^Dirty:\s+(\d+) kB/m.exec(new TextDecoder().decode(out.stdout))?.[1];
    return kb === undefined ? null : Math.round(Number(kb) / 1024);
  } catch {
    return null;
  }
}

async function measureCeiling(
  data: Dataset,
  columns: ReadingColumns,
  o: Options,
  stamp: string,
): Promise<Throughput & { copyRows: number }> {
  await using db = await freshDatabase(PG_SERVER, `bench_${stamp}_ceiling`);
  await checkpoint(PG_SERVER);
  const ms = await copyCeiling(db.url, columns, data.readingChunks, data.deadLetterChunks);
  const client = await connect(db.url);
  try {
    const counts = await countRows(client);
    if (counts.readings !== data.readings || counts.deadLetters !== data.deadLetters) {
      throw new Error(`COPY stored ${JSON.stringify(counts)}, expected ${data.readings} and ${data.deadLetters}`);
    }
  } finally {
    await client.end();
  }
  const rows = data.readings + data.deadLetters;
  return { rows, ms, perSecond: rows / (ms / 1000), copyRows: o.copyRows };
}

async function measureBaseline(
  data: Dataset,
  columns: ReadingColumns,
  rows: number,
  stamp: string,
  newConnection: boolean,
): Promise<Throughput> {
  const sample = data.sample.slice(0, rows);
  await using db = await freshDatabase(PG_SERVER, `bench_${stamp}_baseline_${newConnection ? "conn" : "one"}`);
  await checkpoint(PG_SERVER);
  const ms = newConnection
    ? await insertPerMessageNewConnection(db.url, columns, sample)
    : await insertPerRowOneConnection(db.url, columns, sample);
  return { rows: sample.length, ms, perSecond: sample.length / (ms / 1000) };
}

function doneLine(p: TaskProcess) {
  const done = p.lines.findLast((l) => l.msg === "done");
  if (done === undefined) throw new Error(`${p.name} ended without its "done" line; last lines:\n${p.tail()}`);
  return {
    acknowledged: Number(done.acknowledged),
    perSecond: Number(done.perSecond),
    elapsedS: Number(done.elapsedS),
  };
}

async function runProducer(
  name: string,
  args: string[],
  groups: () => Promise<Record<string, number[]>> = pgGroups,
  env?: Record<string, string>,
): Promise<{ run: ProducerRun; process: TaskProcess }> {
  const tracker = await new CpuTracker().start();
  const p = await spawnTask("producer", name, args, env === undefined ? {} : { env });
  live.add(p);
  const sampler = new MemorySampler(p.pid, 500);
  // CPU up to the "done" line, logged just before the producer exits (an exited process's CPU is gone)
  let cpu: CpuUsage | undefined;
  const done = p.waitForLine((l) => l.msg === "done", 24 * 3_600_000).then(async () => {
    cpu = await tracker.stop({ ...await groups(), producer: [p.pid] });
  }, () => {});
  const status = await p.status;
  await done;
  if (cpu === undefined) await tracker.stop({}); // no "done" line: stop sampling all the same
  if (cpu !== undefined && cpu.pctOfCore.producer === 0 && sampler.cpuTicks > 0) {
    // it exited before the snapshot: use its last sampled CPU time instead
    cpu.pctOfCore.producer = Math.round(sampler.cpuTicks / cpu.wallS);
  }
  live.delete(p);
  const peakMiB = await sampler.stop();
  if (!status.success) throw new Error(`${name} exited with ${status.code}; last lines:\n${p.tail()}`);
  return {
    run: {
      ...doneLine(p),
      wallS: (performance.now() - p.startedAt) / 1000,
      peakMiB,
      command: `deno task producer ${args.join(" ")}`,
      ...(cpu === undefined ? {} : { cpu }),
    },
    process: p,
  };
}

/**
 * Waits until every record is committed, proven by either the group's committed offsets (the
 * consumer commits them only after the database COMMIT; checked every 200 ms, time taken after
 * the answer) or the row count (every second, time taken when the query's snapshot starts).
 */
async function waitCommitted(
  admin: BenchAdmin,
  topic: string,
  group: string,
  connectDb: () => Promise<DbClient>,
  expected: number,
  timeoutMs: number,
  children: TaskProcess[],
): Promise<{ atMs: number; by: string }> {
  const client = await connectDb();
  try {
    const deadline = performance.now() + timeoutMs;
    let tick = 0;
    while (performance.now() < deadline) {
      for (const c of children) {
        if (!live.has(c)) throw new Error(`${c.name} exited early; last lines:\n${c.tail()}`);
      }
      // a transient broker error (a restart, a coordinator move) is "not yet", not a failure
      if (await admin.caughtUp(topic, group).catch(() => false)) {
        return { atMs: performance.now(), by: "committed offsets" };
      }
      if (tick++ % 5 === 0) {
        const at = performance.now();
        const c = await countRows(client);
        if (c.readings + c.deadLetters >= expected) return { atMs: at, by: "row count" };
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${expected} committed records`);
  } finally {
    await client.end();
  }
}

async function startConsumers(
  n: number,
  label: string,
  topic: string,
  group: string,
  url: string,
  extra: string[],
  denoFlags: string[] = [],
  env?: Record<string, string>,
): Promise<{ procs: TaskProcess[]; samplers: MemorySampler[] }> {
  const procs: TaskProcess[] = [];
  for (let i = 0; i < n; i++) {
    const p = await spawnTask(
      "consumer",
      `${label} consumer ${i + 1}`,
      [
        "--topic",
        topic,
        "--group",
        group,
        "--database-url",
        url,
        // the alerts the consumer publishes go to a topic of this run (deleted afterwards), not the shared one
        ...(consumerFlags.has("alerts-topic") ? ["--alerts-topic", `${topic}-alerts`] : []),
        // one metrics endpoint per port: the first consumer keeps the task's, the others turn theirs off
        ...(i > 0 && consumerFlags.has("metrics-port") ? ["--metrics-port", "0"] : []),
        ...extra,
      ],
      { denoFlags, ...(env === undefined ? {} : { env }) },
    );
    live.add(p);
    void p.status.then(() => live.delete(p));
    procs.push(p);
  }
  return { procs, samplers: procs.map((p) => new MemorySampler(p.pid, 1000)) };
}

async function checkProcess(p: TaskProcess): Promise<string> {
  const kids = await childProcesses(p.pid);
  const cmd = await commandLine(p.pid);
  const head = cmd.split(" ").slice(0, 2).join(" ");
  return kids.length === 0
    ? `pid ${p.pid} (${head} ...) is the deno runtime itself: no child processes`
    : `pid ${p.pid} (${head} ...) has children ${kids.map((k) => `${k.pid} ${k.command}`).join(", ")}`;
}

async function measureSink(
  admin: BenchAdmin,
  data: Dataset,
  topic: string,
  consumers: number,
  extra: string[],
  stamp: string,
  label: string,
  profileDir?: string,
): Promise<SinkRun> {
  const slug = label.replace(/[^a-z0-9]+/gi, "_").toLowerCase();
  await using db = await freshDatabase(PG_SERVER, `bench_${stamp}_sink_${slug}`);
  await checkpoint(PG_SERVER);
  const group = `bench-${slug}-${stamp}`;
  cleanup.groups.add(group);
  cleanup.topics.add(`${topic}-alerts`);
  const target: SinkTarget = { url: db.url, connect: () => connect(db.url), groups: pgGroups };
  return await drainSink(admin, data, topic, group, consumers, extra, label, target, profileDir);
}

/** Where a sink run stores, and how the bench reads it back. */
interface SinkTarget {
  /** The consumers' `--database-url`. */
  url: string;
  /** The consumers' environment (the secured servers' settings); none on the main servers. */
  env?: Record<string, string>;
  /** A client of the bench's own, on the database the consumers write to (counts, commit span). */
  connect(): Promise<DbClient>;
  /** CPU groups (as {@link pgGroups}). */
  groups(): Promise<Record<string, number[]>>;
}

/**
 * Starts `consumers` consumer scripts in group `group` (which has committed nothing) on the filled
 * `topic`, and measures from their start to every record committed into `target`'s empty tables.
 */
async function drainSink(
  admin: BenchAdmin,
  data: Dataset,
  topic: string,
  group: string,
  consumers: number,
  extra: string[],
  label: string,
  target: SinkTarget,
  profileDir?: string,
): Promise<SinkRun> {
  const records = data.readings + data.deadLetters;
  // a variant's `--v8-flags=...` goes to `deno run` (e.g. a heap limit), the rest to the script
  const denoFlags = [
    ...(profileDir === undefined ? [] : ["--cpu-prof", `--cpu-prof-dir=${profileDir}`]),
    ...extra.filter((a) => a.startsWith("--v8-flags=")),
  ];
  extra = extra.filter((a) => !a.startsWith("--v8-flags="));
  const tracker = await new CpuTracker().start();
  const began = performance.now();
  const startedWall = Date.now();
  const { procs, samplers } = await startConsumers(
    consumers,
    label,
    topic,
    group,
    target.url,
    extra,
    denoFlags,
    target.env,
  );
  try {
    await new Promise((r) => setTimeout(r, 1000));
    const processCheck = await checkProcess(procs[0]!);
    const timeoutMs = Math.max(180_000, records / 2000 * 1000);
    const proof = await waitCommitted(admin, topic, group, target.connect, records, timeoutMs, procs);
    const wallS = (proof.atMs - began) / 1000;
    const cpu = await tracker.stop({ ...await target.groups(), consumer: procs.map((p) => p.pid) });
    const peakMiB = await Promise.all(samplers.map((s) => s.stop()));
    const client = await target.connect();
    let counts, span;
    try {
      // the offsets can be committed a moment before a count sees every row: wait for the rows
      const until = performance.now() + 10_000;
      do {
        counts = await countRows(client);
        if (counts.readings + counts.deadLetters >= records) break;
        await new Promise((r) => setTimeout(r, 100));
      } while (performance.now() < until);
      span = await commitSpan(client);
    } finally {
      await client.end();
    }
    const verified = counts.readings === data.readings && counts.deadLetters === data.deadLetters;
    if (!verified) {
      say(
        `${label}: stored ${counts.readings} readings and ${counts.deadLetters} dead letters, expected ${data.readings} and ${data.deadLetters}`,
      );
    }
    // from the first batch's transaction to every row committed: process start, module loading,
    // group join and the first fetch left out
    const firstCommitAfterS = (span.firstMs - startedWall) / 1000;
    const steadyS = wallS - firstCommitAfterS;
    return {
      label,
      consumers,
      consumerArgs: extra,
      records,
      readings: counts.readings,
      deadLetters: counts.deadLetters,
      verified,
      wallS,
      perSecond: records / wallS,
      readingsPerSecond: data.readings / wallS,
      steadyPerSecond: records / steadyS,
      firstCommitAfterS,
      batches: span.batches,
      provenBy: proof.by,
      peakMiB,
      memorySamples: samplers.map((s) => s.samples),
      processCheck,
      ...(profileDir === undefined ? {} : { profileDir }),
      ...(cpu === undefined ? {} : { cpu }),
    };
  } finally {
    await tracker.stop({}); // already stopped unless the run failed
    for (const s of samplers) await s.stop();
    await Promise.all(procs.map((p) => p.stop()));
  }
}

// ---------------------------------------------------------------------------------------------
// the sink over TLS (phase sink-tls)

/**
 * Starts the secured servers of tests/support/secure_services.ts, its PostgreSQL also taking the
 * same login without TLS (the plaintext reference). Their ports are fixed: while something else
 * holds them (another user's tests of the secured pipeline), waits up to 5 minutes for them.
 */
async function startSecureServers(): Promise<SecureServices> {
  const deadline = performance.now() + 300_000;
  for (let told = false;; told = true) {
    try {
      return await secureServices({ postgresPlaintext: true });
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      if (!/already in use/.test(message) || performance.now() > deadline) throw error;
      if (!told) say(`  ${message.trim().split("\n").at(-1)}: waiting (up to 5 min) for the port to be free`);
      await new Promise((r) => setTimeout(r, 10_000));
    }
  }
}

/** Reads a file outside `--allow-read=.` (the secured servers' CA, in a temporary folder) through `cat`. */
async function readThroughCat(path: string): Promise<string> {
  const out = await new Deno.Command("cat", { args: [path], stdout: "piped", stderr: "piped" }).output();
  if (!out.success) throw new Error(`cannot read ${path}: ${new TextDecoder().decode(out.stderr).trim()}`);
  return new TextDecoder().decode(out.stdout);
}

/** A few settings of a PostgreSQL server that bear on write throughput, as `name=value` words. */
async function serverSettings(url: string, tls?: DbTls): Promise<string> {
  const client = await connect(url, "heartbeat-bench", tls);
  try {
    const { rows } = await client.query<{ name: string; setting: string; unit: string | null }>(
      `SELECT name, setting, unit FROM pg_settings
       WHERE name IN ('fsync', 'synchronous_commit', 'full_page_writes', 'shared_buffers', 'ssl') ORDER BY name`,
    );
    return rows.map((r) => `${r.name}=${r.setting}${r.unit === null ? "" : ` × ${r.unit}`}`).join(", ");
  } finally {
    await client.end();
  }
}

/**
 * Waits (up to 60 s) for the page cache's dirty data to fall to {@link SETTLED_DIRTY_MB}: the kernel
 * writes back what a fill wrote about 30 s later, in whatever runs then.
 */
async function settleDirtyPages(): Promise<
  { dirtyMbBefore: number | null; dirtyMbAfter: number | null; seconds: number }
> {
  const from = performance.now();
  const before = await dirtyMb();
  let after = before;
  while (after !== null && after > SETTLED_DIRTY_MB && performance.now() - from < 60_000) {
    await new Promise((r) => setTimeout(r, 1000));
    after = await dirtyMb();
  }
  return { dirtyMbBefore: before, dirtyMbAfter: after, seconds: (performance.now() - from) / 1000 };
}

let tlsFills = 0;

/** sink-tls waits (up to 60 s) for the page cache's dirty data to fall to this, MB, before its runs. */
const SETTLED_DIRTY_MB = 16;

/**
 * The sink over TLS beside the sink without it, on the same secured servers `s`: fills the secured
 * broker with the bench's messages (the producer script over its PLAINTEXT listener: not
 * measured), waits for the dirty pages to be written back, then runs the 1-consumer sink once over
 * TLS as a warm-up (not counted: the broker and the server just started), then `o.tlsRounds`
 * rounds of the three setups, every other round in reverse order (drift cancels out of the means),
 * each from empty tables in a new consumer group.
 */
async function measureSinkTls(
  s: SecureServices,
  data: Dataset,
  o: Options,
  stamp: string,
  fillArgs: (topic: string) => string[],
  mainSink: SinkRun | undefined,
): Promise<SinkTls> {
  const tls: DbTls = { ca: await readThroughCat(s.caFile) };
  const adminUrl = s.postgres.adminUrl; // the bench's own client: superuser (TRUNCATE, CHECKPOINT, pg_stat_activity)
  const server = adminUrl.slice(0, adminUrl.lastIndexOf("/"));
  // the consumer logs in as the pipeline's writer role, its password in the environment (as deployed)
  const writer = new URL(s.postgres.writerUrl);
  writer.password = "";
  const consumerUrl = writer.toString();
  const password = { DATABASE_PASSWORD: s.postgres.writerPassword };
  const kafkaPlain = { KAFKA_BROKERS: s.kafka.plaintext };
  const kafkaTls = {
    KAFKA_BROKERS: s.kafka.saslSsl,
    KAFKA_SECURITY_PROTOCOL: "sasl_ssl",
    KAFKA_SSL_CA_FILE: s.caFile,
    KAFKA_SSL_SERVERNAME: "localhost",
    KAFKA_SASL_MECHANISM: s.scram.mechanism,
    KAFKA_SASL_USERNAME: s.scram.username,
    KAFKA_SASL_PASSWORD: s.scram.password,
  };
  const pgTls = { DATABASE_SSLMODE: "verify-full", DATABASE_SSLROOTCERT: s.caFile };
  const envs: Record<TlsSetup, Record<string, string>> = {
    tls: { ...kafkaTls, ...pgTls, ...password },
    kafkaPlaintext: { ...kafkaPlain, ...pgTls, ...password },
    plaintext: { ...kafkaPlain, DATABASE_SSLMODE: "disable", ...password },
  };
  const groups = async () => {
    const main = await pgGroups();
    const secured = await serverProcesses(server, (db) => db === s.postgres.database, tls)
      .catch(() => ({ run: [], background: [], otherDatabases: [] }));
    return {
      ...main,
      "pg: run's db": [...(main["pg: run's db"] ?? []), ...secured.run],
      "pg: background": [...(main["pg: background"] ?? []), ...secured.background],
      "pg: other dbs": [...(main["pg: other dbs"] ?? []), ...secured.otherDatabases],
    };
  };

  await using admin = await connectAdmin(s.kafka.plaintext);
  const topic = `bench-tls-fill-${stamp}-${++tlsFills}`;
  const { run: fill } = await runProducer(
    "fill producer (secured broker, PLAINTEXT listener)",
    fillArgs(topic),
    groups,
    kafkaPlain,
  );
  if (fill.acknowledged !== o.readings) {
    throw new Error(`the producer acknowledged ${fill.acknowledged} of ${o.readings} on the secured broker`);
  }
  const inTopic = await admin.messages(topic);
  if (inTopic !== o.readings) throw new Error(`the secured topic holds ${inTopic} messages, expected ${o.readings}`);

  // the servers' start-up (initdb, the broker's format) and the fill leave dirty pages that the
  // kernel writes back ~30 s later: let that happen before the runs, not in the first of them
  const settle = await settleDirtyPages();
  say(
    `  dirty pages ${settle.dirtyMbBefore ?? "?"} → ${settle.dirtyMbAfter ?? "?"} MB after ${
      num(settle.seconds, 1)
    } s; then the runs`,
  );

  const servers = {
    kafka: `the secured broker (second broker of tests/support/secure_services.ts, -Xmx384m), topic of ${
      num(o.readings)
    } messages in ${o.partitions} partitions: TLS runs to SASL_SSL ${s.kafka.saslSsl} (SCRAM-SHA-512, CA verified, servername localhost), the others to PLAINTEXT ${s.kafka.plaintext}`,
    postgres:
      `the secured PostgreSQL ${s.postgres.host}:${s.postgres.port}, database ${s.postgres.database} as heartbeat_writer (scram-sha-256; hostssl, and the opted-in host line for the plaintext run): ${await serverSettings(
        adminUrl,
        tls,
      )}`,
    mainPostgres: `the main sink's PostgreSQL 127.0.0.1:5432, for comparison: ${await serverSettings(
      `${PG_SERVER}/postgres`,
    ).catch(() => "n/a")}`,
  };

  const plan: { setup: TlsSetup | "warmup"; round: number }[] = [{ setup: "warmup", round: 0 }];
  const order: TlsSetup[] = ["plaintext", "kafkaPlaintext", "tls"];
  for (let round = 1; round <= o.tlsRounds; round++) {
    for (const setup of round % 2 === 1 ? order : [...order].reverse()) plan.push({ setup, round });
  }
  const runs: TlsSinkRun[] = [];
  const db = await connect(adminUrl, "heartbeat-bench", tls);
  try {
    for (const step of plan) {
      const setup: TlsSetup = step.setup === "warmup" ? "tls" : step.setup;
      const label = step.setup === "warmup" ? "tls warm-up" : `${setup} round ${step.round}`;
      // a fresh database state: the tables emptied, their dirty pages written
      await truncateTables(db);
      await db.query("CHECKPOINT");
      const target: SinkTarget = {
        url: consumerUrl,
        env: envs[setup],
        connect: () => connect(adminUrl, "heartbeat-bench", tls),
        groups,
      };
      const group = `bench-tls-${label.replaceAll(" ", "-")}-${stamp}`;
      const r = await drainSink(admin, data, topic, group, 1, [], `sink-tls ${label}`, target);
      say(
        `  ${label}: ${num(r.perSecond)} readings/s (${num(r.wallS, 1)} s)${
          step.setup === "warmup" ? ", not counted" : ""
        }${r.verified ? "" : "; ROW COUNTS WRONG"}`,
      );
      runs.push({ ...r, setup: step.setup, round: step.round });
    }
  } finally {
    await db.end();
  }
  const mean = (setup: TlsSetup) => {
    const xs = runs.filter((r) => r.setup === setup).map((r) => r.perSecond);
    return xs.reduce((a, b) => a + b, 0) / xs.length;
  };
  const perSecond = { tls: mean("tls"), kafkaPlaintext: mean("kafkaPlaintext"), plaintext: mean("plaintext") };
  const toPlaintext = perSecond.tls / perSecond.plaintext;
  return {
    servers,
    reference: "the same sink over plaintext on both links, on the very same secured servers: same broker, topic " +
      "and messages, same PostgreSQL cluster, database and scram-sha-256 login (its opted-in host line); only TLS " +
      "(and Kafka's SCRAM exchange) differ. Not the main servers' sink: another broker (-Xmx768m, other users' " +
      "topics) and another PostgreSQL configuration (see servers), which would mix their difference into TLS's cost",
    startupS: s.startupMs / 1000,
    fill,
    settle,
    rounds: o.tlsRounds,
    runs,
    perSecond,
    toPlaintext,
    cost: 1 - toPlaintext,
    kafkaCost: 1 - perSecond.tls / perSecond.kafkaPlaintext,
    postgresCost: 1 - perSecond.kafkaPlaintext / perSecond.plaintext,
    verified: runs.every((r) => r.verified),
    ...(mainSink === undefined
      ? {}
      : { mainSinkPerSecond: mainSink.perSecond, toMainSink: perSecond.tls / mainSink.perSecond }),
  };
}

/** Waits until the broker accepts an admin connection and lists topics (after a restart), then 5 s more. */
async function waitForBroker(): Promise<void> {
  const deadline = performance.now() + 180_000;
  while (performance.now() < deadline) {
    try {
      await using admin = await connectAdmin(BROKER);
      await admin.admin.listTopics();
      await new Promise((r) => setTimeout(r, 5_000));
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 2_000));
    }
  }
  throw new Error(`the broker on ${BROKER} did not come back within 180 s`);
}

async function waitStable(admin: BenchAdmin, group: string, members: number, procs: TaskProcess[]): Promise<void> {
  const deadline = performance.now() + 60_000;
  while (performance.now() < deadline) {
    for (const p of procs) if (!live.has(p)) throw new Error(`${p.name} exited early; last lines:\n${p.tail()}`);
    if (await admin.stable(group, members).catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`consumer group ${group} was not stable within 60 s`);
}

async function waitRows(url: string, expected: number, timeoutMs: number): Promise<void> {
  const client = await connect(url);
  try {
    const deadline = performance.now() + timeoutMs;
    while (performance.now() < deadline) {
      const c = await countRows(client);
      if (c.readings + c.deadLetters >= expected) return;
      await new Promise((r) => setTimeout(r, 250));
    }
    throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${expected} rows`);
  } finally {
    await client.end();
  }
}

/** A live run: consumer first, then the producer at `rate` with `--start now` for `durationMs`. */
async function liveRun(
  admin: BenchAdmin,
  o: Options,
  stamp: string,
  label: string,
  rate: number,
  durationMs: number,
  consumerArgs: string[],
  producerArgs: string[],
  onSample?: (sampler: MemorySampler) => void,
) {
  const slug = label.replace(/[^a-z0-9]+/gi, "_").toLowerCase();
  const topic = `bench-${slug.replaceAll("_", "-")}-${stamp}`;
  const group = `bench-${slug}-${stamp}`;
  cleanup.groups.add(group);
  cleanup.topics.add(topic); // deleted below; again at the end if that failed (a broker restart)
  cleanup.topics.add(`${topic}-alerts`);
  await admin.createTopic(topic, o.partitions);
  try {
    await using db = await freshDatabase(PG_SERVER, `bench_${stamp}_${slug}`);
    await checkpoint(PG_SERVER);
    const { procs, samplers } = await startConsumers(1, label, topic, group, db.url, consumerArgs);
    const consumer = procs[0]!;
    try {
      await waitStable(admin, group, 1, procs);
      onSample?.(samplers[0]!);
      const { run } = await runProducer(`${label} producer`, [
        "--topic",
        topic,
        "--start",
        "now",
        "--rate",
        String(rate),
        "--duration",
        `${durationMs / 1000}s`,
        "--customers",
        String(o.customers),
        "--seed",
        String(o.seed),
        "--invalid-rate",
        String(o.invalidRate),
        "--partitions",
        String(o.partitions),
        ...producerArgs,
      ], async () => ({ ...await pgGroups(), consumer: [consumer.pid] }));
      await waitRows(db.url, run.acknowledged, 120_000);
      const consumerPeakMiB = await samplers[0]!.stop();
      const client = await connect(db.url);
      try {
        return {
          run,
          consumerPeakMiB,
          samples: samplers[0]!.samples,
          steady: await latencyStats(client, o.latencyWarmupMs),
          all: await latencyStats(client, 0),
        };
      } finally {
        await client.end();
      }
    } finally {
      await samplers[0]!.stop();
      await consumer.stop();
    }
  } finally {
    await admin.deleteTopics([topic]).catch(() => {});
  }
}

/** `latency 1000/s (consumer --batch-wait-ms 5; producer --linger-ms 2)` */
function latencyLabel(rate: number, consumerArgs: string[], producerArgs: string[]): string {
  const flags = [
    ...(consumerArgs.length > 0 ? [`consumer ${consumerArgs.join(" ")}`] : []),
    ...(producerArgs.length > 0 ? [`producer ${producerArgs.join(" ")}`] : []),
  ];
  return `latency ${rate}/s${flags.length > 0 ? ` (${flags.join("; ")})` : ""}`;
}

async function measureLatency(
  admin: BenchAdmin,
  o: Options,
  stamp: string,
  rate: number,
  consumerArgs: string[],
  producerArgs: string[],
): Promise<LatencyRun> {
  const label = latencyLabel(rate, consumerArgs, producerArgs);
  const r = await liveRun(admin, o, stamp, label, rate, o.latencyDurationMs, consumerArgs, producerArgs);
  return {
    label,
    rate,
    consumerArgs,
    producerArgs,
    durationS: o.latencyDurationMs / 1000,
    acknowledged: r.run.acknowledged,
    producerPerSecond: r.run.perSecond,
    warmupMs: o.latencyWarmupMs,
    steady: r.steady,
    all: r.all,
    consumerPeakMiB: r.consumerPeakMiB,
    producerPeakMiB: r.run.peakMiB,
    ...(r.run.cpu === undefined ? {} : { cpu: r.run.cpu }),
  };
}

async function measureSoak(admin: BenchAdmin, o: Options, stamp: string): Promise<SoakRun> {
  const r = await liveRun(admin, o, stamp, "soak", o.soakRate, o.soakMs, [], []);
  const afterWarmup = r.samples.filter(([t]) => t >= 60);
  const perSecond = slope(afterWarmup.length >= 2 ? afterWarmup : r.samples);
  return {
    rate: o.soakRate,
    durationS: o.soakMs / 1000,
    acknowledged: r.run.acknowledged,
    consumerPeakMiB: r.consumerPeakMiB,
    consumerStartMiB: afterWarmup[0]?.[1] ?? NaN,
    consumerEndMiB: r.samples.at(-1)?.[1] ?? NaN,
    slopeMiBPerMin: perSecond * 60,
    producerPeakMiB: r.run.peakMiB,
    latency: r.steady,
    samples: r.samples,
  };
}

// ---------------------------------------------------------------------------------------------
// report

/**
 * The ceiling the sink is compared with: the mean of the runs before and after the sink phases,
 * when both ran (the machine's speed drifts within minutes), else the one.
 */
function ceilingRate(r: Results): number | undefined {
  if (r.ceiling && r.ceilingAfter) return (r.ceiling.perSecond + r.ceilingAfter.perSecond) / 2;
  return r.ceiling?.perSecond;
}

function targets(r: Results): Target[] {
  const sink1 = r.sink.find((s) => s.consumers === 1 && s.consumerArgs.length === 0);
  const lat1k = r.latency.find((l) => l.rate === 1000 && l.consumerArgs.length === 0 && !l.afterLoad);
  const lat1kAfterLoad = r.latency.find((l) => l.afterLoad);
  const t: Target[] = [];
  const add = (target: string, value: number | undefined, measured: string, ok: (v: number) => boolean) =>
    t.push({ target, measured, pass: value === undefined || !Number.isFinite(value) ? null : ok(value) });
  add("Sink ≥ 50,000 readings/s end to end", sink1?.perSecond, `${num(sink1?.perSecond)}/s`, (v) => v >= 50_000);
  const ceiling = ceilingRate(r);
  const toCeiling = sink1 && ceiling ? sink1.perSecond / ceiling : undefined;
  add("Sink ≥ 0.5 of the COPY ceiling", toCeiling, ratio(sink1?.perSecond, ceiling), (v) => v >= 0.5);
  const toBase = sink1 && r.baselineNewConnection ? sink1.perSecond / r.baselineNewConnection.perSecond : undefined;
  add(
    "Sink ≥ 20× the reference's per-message method",
    toBase,
    ratio(sink1?.perSecond, r.baselineNewConnection?.perSecond, 0),
    (v) => v >= 20,
  );
  add("Producer ≥ 100,000 readings/s", r.producer?.perSecond, `${num(r.producer?.perSecond)}/s`, (v) => v >= 100_000);
  add("p99 end-to-end ≤ 100 ms at 1,000/s", lat1k?.steady.p99, `${num(lat1k?.steady.p99, 1)} ms`, (v) => v <= 100);
  add(
    "p99 end-to-end ≤ 100 ms at 1,000/s right after the sink runs",
    lat1kAfterLoad?.steady.p99,
    `${num(lat1kAfterLoad?.steady.p99, 1)} ms`,
    (v) => v <= 100,
  );
  const rss = sink1 === undefined ? undefined : Math.max(...sink1.peakMiB);
  add("Consumer RSS ≤ 200 MB at full speed", rss, `${num(rss)} MiB peak`, (v) => v * 1.048576 <= 200);
  const tls = r.sinkTls;
  t.push({
    target: "TLS costs < 15 % of sink throughput",
    measured: tls === undefined
      ? "not run (phase sink-tls)"
      : `${percent(tls.cost)}: TLS ${num(tls.perSecond.tls)}/s, plaintext ${
        num(tls.perSecond.plaintext)
      }/s on the same secured servers (mean of ${tls.rounds})${tls.verified ? "" : "; ROW COUNTS WRONG"}`,
    pass: tls === undefined || !Number.isFinite(tls.cost) ? null : tls.verified && tls.cost < 0.15,
  });
  if (r.soak !== undefined) {
    add(
      "Consumer memory flat over a 10-minute soak",
      r.soak.slopeMiBPerMin,
      `${num(r.soak.slopeMiBPerMin, 2)} MiB/min over ${num(r.soak.durationS / 60, 1)} min`,
      (v) => Math.abs(v) < 0.5 && r.soak!.durationS >= 600,
    );
  } else {
    t.push({ target: "Consumer memory flat over a 10-minute soak", measured: "not run (use --soak 10m)", pass: null });
  }
  return t;
}

/** `7.3 %` for 0.073. */
function percent(fraction: number | undefined): string {
  return fraction === undefined || !Number.isFinite(fraction) ? "n/a" : `${num(fraction * 100, 1)} %`;
}

function render(r: Results, data: Dataset | undefined): string {
  const rows: string[][] = [];
  const others = (key: string) => {
    const pct = r.phases[key]?.othersPctOfCore;
    const restart = r.phases[key]?.brokerRestarted ? ", broker restarted" : "";
    return pct === undefined || !Number.isFinite(pct)
      ? "n/a"
      : `${num(pct)}%${pct > NOISY_PCT ? " NOISY" : ""}${restart}`;
  };
  const sink1 = r.sink.find((s) => s.consumers === 1 && s.consumerArgs.length === 0);
  if (r.ceiling) {
    rows.push([
      "ceiling: COPY FROM STDIN",
      `${num(r.ceiling.perSecond)} rows/s`,
      `${num(r.ceiling.rows)} rows in ${num(r.ceiling.ms / 1000, 1)} s, ${num(r.ceiling.copyRows)} a COPY`,
      others("ceiling"),
    ]);
  }
  if (r.ceilingAfter) {
    rows.push([
      "ceiling again, after the sink runs",
      `${num(r.ceilingAfter.perSecond)} rows/s`,
      `${num(r.ceilingAfter.rows)} rows in ${num(r.ceilingAfter.ms / 1000, 1)} s; the sink's ratios are to the mean, ${
        num(ceilingRate(r))
      } rows/s`,
      others("ceiling-after"),
    ]);
  }
  if (r.baselineNewConnection) {
    const b = r.baselineNewConnection;
    rows.push([
      "baseline: reference (connect + INSERT + commit per message)",
      `${num(b.perSecond)} rows/s`,
      `${num(b.rows)} rows in ${num(b.ms / 1000, 1)} s`,
      others("baseline-connection"),
    ]);
  }
  if (r.baselineOneConnection) {
    const b = r.baselineOneConnection;
    rows.push([
      "baseline: one INSERT per row, one connection, autocommit",
      `${num(b.perSecond)} rows/s`,
      `${num(b.rows)} rows in ${num(b.ms / 1000, 1)} s`,
      others("baseline-one"),
    ]);
  }
  for (const s of r.sink) {
    rows.push([
      `sink: ${s.label}`,
      `${num(s.perSecond)} readings/s`,
      `${num(s.records)} in ${num(s.wallS, 1)} s from process start; ${ratio(s.perSecond, ceilingRate(r))} ceiling, ${
        ratio(s.perSecond, r.baselineNewConnection?.perSecond, 0)
      } reference, ${ratio(s.perSecond, r.baselineOneConnection?.perSecond, 1)} one-connection INSERTs; steady ${
        num(s.steadyPerSecond)
      }/s; peak RSS ${s.peakMiB.map((m) => num(m)).join(" + ")} MiB; CPU-s per 100k: consumers ${
        num(cpuPer100k(s.cpu?.pctOfCore["consumer"], s.cpu?.wallS, s.records), 2)
      }, PostgreSQL ${num(cpuPer100k(s.cpu?.pctOfCore["pg: run's db"], s.cpu?.wallS, s.records), 2)}${
        s.verified ? "" : "; ROW COUNTS WRONG"
      }`,
      others(`sink: ${s.label}`),
    ]);
  }
  if (r.sinkTls) {
    const t = r.sinkTls;
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    for (const setup of ["tls", "kafkaPlaintext", "plaintext"] as const) {
      const runs = t.runs.filter((x) => x.setup === setup);
      rows.push([
        `sink-tls: ${TLS_SETUPS[setup]}`,
        `${num(t.perSecond[setup])} readings/s`,
        `mean of ${runs.length} (${runs.map((x) => num(x.perSecond)).join(", ")}); ${
          num(runs[0]?.records)
        } from process start, 1 consumer, secured servers; steady ${
          num(mean(runs.map((x) => x.steadyPerSecond)))
        }/s; peak RSS ${num(Math.max(...runs.flatMap((x) => x.peakMiB)))} MiB${
          runs.every((x) => x.verified) ? "" : "; ROW COUNTS WRONG"
        }`,
        others("sink-tls"),
      ]);
    }
    const warmup = t.runs.find((x) => x.setup === "warmup");
    rows.push([
      "sink-tls: TLS / plaintext, same secured servers",
      ratio(t.perSecond.tls, t.perSecond.plaintext),
      `TLS cost ${percent(t.cost)} (Kafka SASL_SSL alone ${percent(t.kafkaCost)}, PostgreSQL verify-full alone ${
        percent(t.postgresCost)
      }); TLS / main servers' plaintext 1-consumer sink ${
        ratio(t.perSecond.tls, t.mainSinkPerSecond)
      } (other server settings: not the reference); warm-up ${num(warmup?.perSecond)}/s not counted`,
      others("sink-tls"),
    ]);
  }
  if (r.peer) {
    const ours = r.sink.filter((s) => s.consumerArgs.length === 0).map((s) => ({
      consumers: s.consumers,
      readingsPerSecond: s.readingsPerSecond,
      steadyReadingsPerSecond: s.steadyPerSecond * s.readings / s.records,
    }));
    for (const row of peerReport(r.peer, ours, ceilingRate(r))) rows.push([...row, others("peer")]);
  }
  if (r.producer) {
    rows.push([
      "producer: generator → acknowledged",
      `${num(r.producer.perSecond)} readings/s`,
      `${num(r.producer.acknowledged)} in ${num(r.producer.elapsedS, 1)} s; ${
        ratio(r.producer.perSecond, r.javaRecordSize?.perSecond)
      } Java perf tool; peak RSS ${num(r.producer.peakMiB)} MiB`,
      others("producer"),
    ]);
  }
  if (r.javaRecordSize) {
    const j = r.javaRecordSize;
    rows.push([
      `Java ProducerPerformance --record-size ${j.recordSize}`,
      `${num(j.perSecond)} records/s`,
      `${num(j.records)} records, ${num(j.mbPerSecond, 1)} MB/s, acks=all, idempotent, ${j.compression ?? "gzip"}`,
      others("java-size"),
    ]);
  }
  if (r.javaPayloads) {
    const j = r.javaPayloads;
    rows.push([
      "Java ProducerPerformance --payload-file (our JSON)",
      `${num(j.perSecond)} records/s`,
      `${num(j.records)} records, ${num(j.mbPerSecond, 1)} MB/s, ${j.compression ?? "gzip"}; ours is ${
        ratio(r.producer?.perSecond, j.perSecond)
      } of it`,
      others("java-payload"),
    ]);
  }
  for (const l of r.latency) {
    rows.push([
      l.label.replace(/^latency (\d+)\/s/, (_, r: string) => `latency at ${num(Number(r))}/s`),
      `p99 ${num(l.steady.p99, 1)} ms`,
      `p50 ${num(l.steady.p50, 1)} / p95 ${num(l.steady.p95, 1)} / p99 ${num(l.steady.p99, 1)} / max ${
        num(l.steady.max, 1)
      } ms over ${num(l.steady.n)} readings (first ${num(l.warmupMs / 1000, 1)} s left out; all: p99 ${
        num(l.all.p99, 1)
      }, max ${num(l.all.max, 1)}); RSS consumer ${num(l.consumerPeakMiB)} / producer ${num(l.producerPeakMiB)} MiB`,
      others(l.label),
    ]);
  }
  if (r.soak) {
    rows.push([
      `soak at ${num(r.soak.rate)}/s for ${num(r.soak.durationS / 60, 1)} min`,
      `${num(r.soak.slopeMiBPerMin, 2)} MiB/min`,
      `consumer RSS ${num(r.soak.consumerStartMiB)} → ${num(r.soak.consumerEndMiB)} MiB, peak ${
        num(r.soak.consumerPeakMiB)
      }; p99 ${num(r.soak.latency.p99, 1)} ms`,
      others("soak"),
    ]);
  }
  const out = [table(["measurement", "figure", "details", "others' CPU"], rows)];
  const cpuRows: [string, CpuUsage][] = [];
  if (r.producer?.cpu) cpuRows.push(["producer (fill)", r.producer.cpu]);
  for (const s of r.sink) if (s.cpu) cpuRows.push([`sink: ${s.label}`, s.cpu]);
  for (const s of r.sinkTls?.runs ?? []) if (s.cpu) cpuRows.push([s.label, s.cpu]);
  for (const p of r.peer?.runs ?? []) if (p.cpu) cpuRows.push([`peer: ${p.label}`, p.cpu]);
  for (const l of r.latency) if (l.cpu) cpuRows.push([l.label, l.cpu]);
  if (cpuRows.length > 0) {
    const cols = [
      "consumer",
      "producer",
      "peer worker",
      "bench children",
      "pg: run's db",
      "pg: background",
      "java",
      "bench",
      "pg: other dbs",
      "other",
    ];
    out.push(
      "",
      "CPU, % of one core (2 cores = 200%). pg: run's db = the PostgreSQL backends serving the run's database (the" +
        " consumer's); pg: background = WAL writer, checkpointer, autovacuum...; java = the Kafka broker; pg: other dbs" +
        " and other = other users' work on the machine; unaccounted = processes that started and ended within the" +
        " phase; peer worker = the Kafka Connect worker; stolen = the hypervisor's share for other machines, of all cores. Noise (other dbs + other + stolen)" +
        ` above ${NOISY_PCT}% of a core flags the phase:`,
      "",
      table(
        ["phase", ...cols, "unaccounted", "machine busy", "stolen", "noisy"],
        cpuRows.map(([name, u]) => [
          name,
          ...cols.map((c) => u.pctOfCore[c] === undefined ? "" : `${u.pctOfCore[c]}%`),
          `${u.unaccountedPctOfCore}%`,
          `${u.machineBusyPct}%`,
          `${u.stealPct}%`,
          noise(u) > NOISY_PCT ? "NOISY" : "",
        ]),
      ),
    );
  }
  out.push(
    "",
    table(
      ["target", "measured", "result"],
      targets(r).map((t) => [
        t.target,
        t.measured,
        t.pass === null ? "not measured" : t.pass ? "pass" : "MISS",
      ]),
    ),
  );
  if (data !== undefined && sink1 !== undefined) {
    out.push(
      "",
      `sink data: ${num(data.readings)} valid readings + ${num(data.deadLetters)} dead letters; mean message ${
        num(data.meanValueBytes, 1)
      } bytes (valid ${num(data.meanValidValueBytes, 1)}); ${sink1.processCheck}`,
    );
  }
  return out.join("\n");
}

// ---------------------------------------------------------------------------------------------
// main

async function main(): Promise<void> {
  const o = parseOptions(Deno.args);
  const stamp = new Date().toISOString().replace(/\.\d+Z$/, "Z").replaceAll(":", "-");
  const id = stamp.toLowerCase().replaceAll("-", "").replace("t", "_").replace("z", "");
  const startedAt = new Date().toISOString();
  runId = id;
  const began = performance.now();
  const results: Results = { sink: [], latency: [], phases: {} };
  const loads: Record<string, string> = {};
  const errors: string[] = [];
  const run = (p: Phase) => !o.skip.has(p);

  const onSignal = () => {
    say("interrupted: stopping the children");
    for (const p of live) p.kill("SIGKILL");
    Deno.exit(130);
  };
  Deno.addSignalListener("SIGINT", onSignal);

  // a new name for each fill: a deleted topic's name is not free again at once
  let fills = 0;
  let fillTopic = `bench-fill-${id}`;
  const javaTopics = [`bench-java-size-${id}`, `bench-java-payload-${id}`];
  const startMs = Math.floor(Date.now() / 1000) * 1000 - 3_600_000;
  const workload: Workload = {
    topic: fillTopic,
    count: o.readings,
    seed: o.seed,
    customers: o.customers,
    rate: 100_000,
    startMs,
    anomalyRate: 0.002,
    invalidRate: o.invalidRate,
    partitions: o.partitions,
  };
  const root = new URL("..", import.meta.url);
  const codeAtStart = await codeFingerprint(root);
  const pgVersion = await serverVersion(PG_SERVER).catch((e) => fatal(`PostgreSQL on 127.0.0.1:5432: ${e}`));
  {
    await using _probe = await connectAdmin(BROKER).catch((e) => fatal(`Kafka on ${BROKER}: ${e}`));
  }

  consumerFlags = await taskFlags("consumer");
  say(`simulating and validating ${num(o.readings)} messages (the rows every phase stores)`);
  let columns: ReadingColumns;
  {
    await using scratch = await freshDatabase(PG_SERVER, `bench_${id}_schema`);
    columns = readingColumns(await tableColumns(scratch.url, "readings"), exampleReading());
  }
  // the peer is the sink's companion: its ratios are to the sink runs of the same bench run
  const peerRows = run("peer") && (run("sink") || run("scaling")) ? new PeerRows() : undefined;
  const data = buildDataset(
    workload,
    columns,
    o.copyRows,
    Math.max(o.baselineRows, o.baselineSingleRows),
    peerRows === undefined ? undefined : (r) => peerRows.add(r),
  );
  say(
    `  ${num(data.readings)} valid, ${num(data.deadLetters)} invalid, mean ${num(data.meanValueBytes, 1)} bytes, ${
      num(data.buildMs / 1000, 1)
    } s`,
  );

  /**
   * Runs one phase with a fresh admin client. The machine and its broker are shared: when an
   * attempt fails, or the broker restarted during it (other users' fault tests do that), the phase
   * is run again, up to `--attempts` times; the attempts are recorded.
   */
  const phase = async (name: string, key: string, fn: (admin: BenchAdmin) => Promise<void>) => {
    for (let attempt = 1; attempt <= o.attempts; attempt++) {
      loads[name] = await loadavg();
      const dirty = await dirtyMb();
      const t = performance.now();
      const tracker = await new CpuTracker().start();
      const brokersA = await brokerPids();
      say(`${name}${attempt > 1 ? ` (attempt ${attempt})` : ""} (load ${loads[name]}, ${dirty ?? "?"} MB dirty)`);
      let failure: string | undefined;
      try {
        await using admin = await connectAdmin(BROKER);
        await fn(admin);
      } catch (error) {
        failure = error instanceof Error ? error.message : String(error);
      }
      const cpu = await tracker.stop(await pgGroups());
      // another user's test may restart the shared broker: that phase's figures are then not comparable
      const brokersB = await brokerPids();
      const brokerRestarted = brokersA.join() !== brokersB.join();
      const others = noise(cpu);
      const seconds = (performance.now() - t) / 1000;
      results.phases[key] = {
        seconds,
        loadavg: loads[name]!,
        dirtyMbAtStart: dirty,
        ...(cpu === undefined ? {} : { cpu }),
        othersPctOfCore: others,
        brokerRestarted,
        attempts: attempt,
        ...(failure === undefined ? {} : { failure }),
      };
      const restart = brokerRestarted ? "; THE KAFKA BROKER RESTARTED meanwhile" : "";
      if (failure === undefined) {
        say(
          `  ${name} done in ${num(seconds, 1)} s; other users' CPU ${num(others)}% of a core${
            others > NOISY_PCT ? " (NOISY)" : ""
          }${restart}`,
        );
        if (!brokerRestarted || attempt === o.attempts) return true;
      } else {
        say(`  ${name} FAILED: ${failure}${restart}`);
        if (attempt === o.attempts) {
          errors.push(`${name}: ${failure}`);
          return false;
        }
      }
      say(`  ${name}: trying again once the broker answers`);
      await waitForBroker();
    }
    return false;
  };

  const fillArgs = (topic: string) => [
    ...["--topic", topic, "--count", String(o.readings), "--start", new Date(startMs).toISOString()],
    ...["--rate", String(workload.rate), "--customers", String(o.customers), "--seed", String(o.seed)],
    ...["--invalid-rate", String(o.invalidRate), "--anomaly-rate", String(workload.anomalyRate)],
    ...["--partitions", String(o.partitions)],
  ];
  /** Fills the sink topic with the producer script; the same options always give the same messages. */
  const fill = async (admin: BenchAdmin): Promise<ProducerRun> => {
    if (fills++ > 0) {
      await admin.deleteTopics([fillTopic]).catch(() => {});
      fillTopic = `bench-fill-${id}-${fills}`;
    }
    cleanup.topics.add(fillTopic);
    const { run: p } = await runProducer("fill producer", fillArgs(fillTopic));
    if (p.acknowledged !== o.readings) throw new Error(`the producer acknowledged ${p.acknowledged} of ${o.readings}`);
    const inTopic = await admin.messages(fillTopic);
    if (inTopic !== o.readings) throw new Error(`the topic holds ${inTopic} messages, expected ${o.readings}`);
    return p;
  };

  try {
    if (run("ceiling")) {
      await phase("ceiling", "ceiling", async () => {
        results.ceiling = await measureCeiling(data, columns, o, id);
      });
    }
    if (run("baseline")) {
      await phase("baseline (new connection per message)", "baseline-connection", async () => {
        results.baselineNewConnection = await measureBaseline(data, columns, o.baselineRows, id, true);
      });
      await phase("baseline (one connection)", "baseline-one", async () => {
        results.baselineOneConnection = await measureBaseline(data, columns, o.baselineSingleRows, id, false);
      });
    }
    let filled = false;
    if (run("producer") || run("sink") || run("scaling")) {
      filled = await phase("producer (fills the sink topic)", "producer", async (admin) => {
        const p = await fill(admin);
        if (run("producer")) results.producer = p;
      });
    }
    if (filled) {
      const sinkRuns: { consumers: number; args: string[]; label: string }[] = [];
      if (run("sink")) sinkRuns.push({ consumers: 1, args: [], label: "1 consumer" });
      for (const v of o.sinkVariants) sinkRuns.push({ consumers: 1, args: v, label: `1 consumer ${v.join(" ")}` });
      if (run("scaling")) {
        for (const n of o.consumers) {
          if (n === 1 && run("sink")) continue;
          sinkRuns.push({ consumers: n, args: [], label: `${n} consumer${n === 1 ? "" : "s"}` });
        }
      }
      for (const s of sinkRuns) {
        const profile = o.cpuProf && s.consumers === 1 && s.args.length === 0
          ? `bench/results/profiles/${stamp}`
          : undefined;
        // bench/results/ is not in git: a fresh clone has no such folder
        if (profile !== undefined) await Deno.mkdir(profile, { recursive: true });
        await phase(`sink: ${s.label}`, `sink: ${s.label}`, async (admin) => {
          // a broker reset (another user's tests) loses the topic: fill it again (same messages), untimed
          if (await admin.messages(fillTopic).catch(() => -1) !== o.readings) {
            say(`  the sink topic lost its messages (broker reset?): filling it again`);
            await fill(admin);
          }
          const r = await measureSink(admin, data, fillTopic, s.consumers, s.args, id, s.label, profile);
          results.sink = results.sink.filter((x) => x.label !== s.label);
          results.sink.push(r);
        });
      }
    }
    if (run("latency") && filled && (run("sink") || run("scaling"))) {
      // the same 1,000/s run as the latency phase's, but at once, while the broker and PostgreSQL
      // still write back what the fill and the sink runs wrote (issue 20: p99 after load)
      const label = `${latencyLabel(1000, [], [])} right after the sink runs`;
      await phase(label, label, async (admin) => {
        const r = await measureLatency(admin, o, id, 1000, [], []);
        results.latency = results.latency.filter((l) => l.label !== label);
        results.latency.push({ ...r, label, afterLoad: true });
      });
    }
    if (run("ceiling") && filled && (run("sink") || run("scaling") || o.sinkVariants.length > 0)) {
      await phase("ceiling again (after the sink runs)", "ceiling-after", async () => {
        results.ceilingAfter = await measureCeiling(data, columns, o, id);
      });
    }
    if (peerRows !== undefined) {
      const setup = await peerSetup(root);
      if ("missing" in setup) {
        say(`peer: not run: ${setup.missing}`);
      } else {
        const [tasks = 1, ...moreTasks] = o.consumers;
        const dir = new URL(`./peer-${id}/`, RESULTS);
        try {
          await phase("peer (Kafka Connect + Debezium JDBC sink)", "peer", async (admin) => {
            results.peer = await measurePeer(admin, peerRows, {
              broker: BROKER,
              server: PG_SERVER,
              home: setup.home,
              dir,
              id,
              partitions: o.partitions,
              copyRows: o.copyRows,
              configs: parsePeerConfigs(o.peerConfigs, tasks),
              moreTasks: moreTasks.filter((n) => results.sink.some((s) => s.consumers === n)),
              groups: pgGroups,
              cleanup: (kind, name) => (kind === "group" ? cleanup.groups : cleanup.topics).add(name),
              say,
            });
          });
        } finally {
          await Deno.remove(dir, { recursive: true }).catch(() => {});
        }
      }
    }
    if (run("sink-tls")) {
      say("sink-tls: starting the secured servers (tests/support/secure_services.ts)");
      let secure: SecureServices | undefined;
      try {
        secure = await startSecureServers();
        say(`  up in ${num(secure.startupMs / 1000, 1)} s (${secure.dir})`);
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        say(`  sink-tls FAILED: ${message}`);
        errors.push(`sink-tls: ${message}`);
      }
      if (secure !== undefined) {
        const s = secure;
        try {
          const mainSink = results.sink.find((x) => x.consumers === 1 && x.consumerArgs.length === 0);
          await phase("sink-tls (TLS and plaintext on the secured servers)", "sink-tls", async () => {
            results.sinkTls = await measureSinkTls(s, data, o, id, fillArgs, mainSink);
          });
        } finally {
          try {
            await s[Symbol.asyncDispose]();
          } catch (error) {
            say(`could not stop the secured servers: ${error instanceof Error ? error.message : error}`);
          }
        }
      }
    }
    if (run("latency")) {
      // "alone": the page cache's dirty data written back first, as sink-tls does
      const settle = await settleDirtyPages();
      say(
        `latency: dirty pages ${settle.dirtyMbBefore ?? "?"} → ${settle.dirtyMbAfter ?? "?"} MB after ${
          num(settle.seconds, 1)
        } s; then the runs`,
      );
      const runs = [
        ...o.latencyRates.map((rate) => ({ rate, consumerArgs: [] as string[], producerArgs: [] as string[] })),
        ...o.latencyVariants,
      ];
      for (const v of runs) {
        const label = latencyLabel(v.rate, v.consumerArgs, v.producerArgs);
        await phase(label, label, async (admin) => {
          const r = await measureLatency(admin, o, id, v.rate, v.consumerArgs, v.producerArgs);
          results.latency = results.latency.filter((l) => l.label !== label);
          results.latency.push(r);
        });
      }
    }
    // after the sink and latency phases: the Java tool writes 2 × 1,000,000 records that the kernel
    // writes back ~30 s later, in the phase after it; the sink did worse there in three runs
    // (suggestive, not conclusive: docs/performance.md)
    if (run("java")) {
      const size = Math.round(data.meanValueBytes);
      await phase(`Java ProducerPerformance (--record-size ${size})`, "java-size", async (admin) => {
        await admin.deleteTopics([javaTopics[0]!]);
        await admin.createTopic(javaTopics[0]!, o.partitions);
        const j = await javaProducerPerf(o.kafkaLibs, BROKER, javaTopics[0]!, o.readings, [
          "--record-size",
          String(size),
        ], PRODUCER_COMPRESSION);
        results.javaRecordSize = { ...j, recordSize: size };
      });
      await phase("Java ProducerPerformance (--payload-file of our messages)", "java-payload", async (admin) => {
        const file = new URL(`./payloads-${id}.tmp`, RESULTS);
        await Deno.mkdir(RESULTS, { recursive: true });
        await Deno.writeTextFile(file, data.payloadLines.join("\n") + "\n");
        try {
          await admin.deleteTopics([javaTopics[1]!]);
          await admin.createTopic(javaTopics[1]!, o.partitions);
          results.javaPayloads = await javaProducerPerf(o.kafkaLibs, BROKER, javaTopics[1]!, o.readings, [
            "--payload-file",
            file.pathname,
          ], PRODUCER_COMPRESSION);
        } finally {
          await Deno.remove(file).catch(() => {});
        }
      });
    }
    if (o.soakMs > 0) {
      await phase(`soak at ${o.soakRate}/s for ${o.soakMs / 60_000} min`, "soak", async (admin) => {
        results.soak = await measureSoak(admin, o, id);
      });
    }
  } finally {
    for (const p of live) p.kill("SIGKILL");
    try {
      await using admin = await connectAdmin(BROKER);
      await admin.deleteTopics([...javaTopics, ...cleanup.topics]).catch(() => {});
      await admin.admin.deleteGroups([...cleanup.groups]).catch(() => {});
    } catch (error) {
      say(`could not delete the bench's topics and groups: ${error instanceof Error ? error.message : error}`);
    }
    Deno.removeSignalListener("SIGINT", onSignal);
  }

  const codeAtEnd = await codeFingerprint(root);
  const changed = Object.keys({ ...codeAtStart, ...codeAtEnd }).filter((f) => codeAtStart[f] !== codeAtEnd[f]);
  const code = {
    fingerprint: await fingerprintHash(codeAtStart),
    changedDuringRun: changed,
    files: codeAtStart,
  };
  const text = render(results, data);
  console.log(text);
  console.log(
    `\ncode measured: ${code.fingerprint} (sha-256 of lib/, sql/, producer.ts, consumer.ts, deno.json, deno.lock)${
      changed.length > 0 ? `; CHANGED DURING THE RUN: ${changed.join(", ")}` : ""
    }`,
  );
  const report = {
    startedAt,
    durationS: Number(((performance.now() - began) / 1000).toFixed(1)),
    command: `deno task bench ${Deno.args.join(" ")}`.trim(),
    machine: {
      cpus: navigator.hardwareConcurrency,
      deno: Deno.version.deno,
      v8: Deno.version.v8,
      postgres: pgVersion,
      kafkaLibs: o.kafkaLibs,
      loadavgAtPhaseStart: loads,
    },
    options: {
      ...o,
      skip: [...o.skip],
    },
    workload: {
      ...workload,
      start: new Date(startMs).toISOString(),
      readings: data.readings,
      deadLetters: data.deadLetters,
      meanValueBytes: data.meanValueBytes,
      meanValidValueBytes: data.meanValidValueBytes,
      reasons: data.reasons,
    },
    code,
    results,
    targets: targets(results),
    errors,
  };
  await Deno.mkdir(RESULTS, { recursive: true });
  const json = JSON.stringify(report, null, 2) + "\n";
  const file = new URL(`./${stamp}.json`, RESULTS);
  await Deno.writeTextFile(file, json);
  await Deno.writeTextFile(new URL("./latest.json", RESULTS), json);
  say(`wrote ${file.pathname} and bench/results/latest.json in ${num((performance.now() - began) / 1000)} s total`);
  if (o.compare) {
    console.log("");
    await printComparison([{ file: `bench/results/${stamp}.json`, json: JSON.parse(json) }]);
  }
  if (errors.length > 0) {
    say(`${errors.length} phase(s) failed:\n${errors.map((e) => `  ${e}`).join("\n")}`);
    Deno.exit(1);
  }
}

if (import.meta.main) {
  main().catch((error) => fatal(error instanceof Error ? error.stack ?? error.message : String(error)));
}
