/**
 * Prometheus metrics and readiness of the consumer ({@link ConsumerMetrics}) and the producer
 * ({@link ProducerMetrics}), on the npm Prometheus client `prom-client` (pinned in deno.json).
 * Each instance owns its own registry, so tests and the two programs never share state.
 * `lib/http.ts` serves them on `/metrics` and `/readyz`.
 *
 * prom-client's `collectDefaultMetrics()` is not used: under Deno its process collectors read
 * `/proc/self/status`, `/proc/self/fd` and `/proc/self/limits`, which Deno grants only with
 * `--allow-all`; prom-client swallows the refusal and reports 0 bytes of memory and 0 open files,
 * which looks real and is not. Instead {@link registerProcessMetrics} exports the same
 * standard names it can fill truthfully from `Deno.memoryUsage()` and `process.cpuUsage()`, which
 * need no permission.
 *
 * A leaf: the loops report into it through the small interfaces below ({@link BatchFigures},
 * {@link ConsumerHooks}), which their own types satisfy; it imports nothing of the pipeline.
 *
 * Requires no permissions.
 *
 * @module
 */
import process from "node:process";
import { Counter, Gauge, Histogram, Registry } from "prom-client";

/** One readiness check's state. */
export interface CheckState {
  /** Whether the check passes. */
  ok: boolean;
  /** What it saw, for humans. */
  detail: string;
}

/** What `/readyz` reports. */
export interface ReadinessReport {
  /** Whether every check passes. */
  ready: boolean;
  /** Each check by name. */
  checks: Record<string, CheckState>;
}

/** Buckets of the consumer's batch size histogram, in records. */
export const BATCH_SIZE_BUCKETS: readonly number[] = [1, 10, 50, 100, 250, 500, 1000, 2500, 5000, 10_000];
/** Buckets of the database write latency histogram, in seconds. */
export const WRITE_SECONDS_BUCKETS: readonly number[] = [
  0.001,
  0.0025,
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
  30,
];
/** Buckets of the end-to-end delay histogram (reading taken → stored), in seconds. */
export const DELAY_SECONDS_BUCKETS: readonly number[] = [
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
  30,
  60,
  300,
  900,
  3600,
];

/**
 * A histogram that takes a whole batch of observations at once, for the per-reading delay: one
 * pass over plain numbers per batch, where prom-client's `observe()` allocates a label set and a
 * closure for every value (for every reading, at 100,000 a second). Scraped like prom-client's.
 */
class BatchHistogram {
  readonly name: string;
  readonly help: string;
  readonly type = "histogram" as const;
  readonly aggregator = "sum" as const;
  readonly #bounds: readonly number[];
  readonly #counts: Float64Array;
  #sum = 0;
  #count = 0;

  constructor(registry: Registry, name: string, help: string, bounds: readonly number[]) {
    this.name = name;
    this.help = help;
    this.#bounds = bounds;
    this.#counts = new Float64Array(bounds.length);
    registry.registerMetric(this as unknown as Histogram);
  }

  /** Observes `f(x)` for each `x` of `xs`. */
  observeEach(xs: readonly number[], f: (x: number) => number): void {
    const bounds = this.#bounds, counts = this.#counts;
    for (const x of xs) {
      const v = f(x);
      if (!Number.isFinite(v)) continue;
      this.#sum += v;
      this.#count++;
      for (let b = 0; b < bounds.length; b++) {
        if (v <= bounds[b]!) {
          counts[b]!++;
          break;
        }
      }
    }
  }

  get() {
    const values: { labels: Record<string, string | number>; value: number; metricName: string }[] = [];
    let cumulative = 0;
    for (let b = 0; b < this.#bounds.length; b++) {
      cumulative += this.#counts[b]!;
      values.push({ labels: { le: this.#bounds[b]! }, value: cumulative, metricName: `${this.name}_bucket` });
    }
    values.push({ labels: { le: "+Inf" }, value: this.#count, metricName: `${this.name}_bucket` });
    values.push({ labels: {}, value: this.#sum, metricName: `${this.name}_sum` });
    values.push({ labels: {}, value: this.#count, metricName: `${this.name}_count` });
    return Promise.resolve({ name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values });
  }

  reset(): void {
    this.#counts.fill(0);
    this.#sum = this.#count = 0;
  }
}

/** Registers a gauge whose value is read at each scrape. */
function computedGauge(registry: Registry, name: string, help: string, read: () => number): void {
  new Gauge({
    name,
    help,
    registers: [registry],
    collect() {
      this.set(read());
    },
  });
}

/**
 * Registers process metrics under their standard Prometheus names: CPU seconds (user, system,
 * total), resident memory, start time, the V8 heap (`deno_heap_*`) and
 * the memory of Buffers and ArrayBuffers (`deno_external_bytes`).
 */
export function registerProcessMetrics(registry: Registry): void {
  const registers = [registry];
  const cpu = (name: string, help: string, pick: (u: { user: number; system: number }) => number) => {
    let last = 0;
    new Counter({
      name,
      help,
      registers,
      collect() {
        // a counter only goes up: add what was used since the last scrape (µs → s)
        const seconds = pick(process.cpuUsage()) / 1e6;
        if (seconds > last) this.inc(seconds - last);
        last = Math.max(last, seconds);
      },
    });
  };
  cpu("process_cpu_user_seconds_total", "User CPU time spent in seconds.", (u) => u.user);
  cpu("process_cpu_system_seconds_total", "System CPU time spent in seconds.", (u) => u.system);
  cpu("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.", (u) => u.user + u.system);
  computedGauge(
    registry,
    "process_resident_memory_bytes",
    "Resident memory size in bytes.",
    () => Deno.memoryUsage().rss,
  );
  computedGauge(
    registry,
    "process_start_time_seconds",
    "Start time of the process since unix epoch in seconds.",
    () => Math.round(performance.timeOrigin / 1000),
  );
  computedGauge(registry, "deno_heap_used_bytes", "V8 heap in use, in bytes.", () => Deno.memoryUsage().heapUsed);
  computedGauge(registry, "deno_heap_total_bytes", "V8 heap reserved, in bytes.", () => Deno.memoryUsage().heapTotal);
  computedGauge(
    registry,
    "deno_external_bytes",
    "Memory outside the V8 heap held by JavaScript objects (Buffers, ArrayBuffers), in bytes.",
    () => Deno.memoryUsage().external,
  );
}

/** The figures of a committed batch that {@link ConsumerMetrics.recordBatch} reads (a sink's `onBatch` gives them). */
export interface BatchFigures {
  /** Records in the batch, valid or not. */
  records: number;
  /** Readings inserted. */
  inserted: number;
  /** Readings skipped as already stored. */
  duplicates: number;
  /** Dead letters skipped as already stored. */
  rejectedDuplicates: number;
  /** Milliseconds the write took, retries included. */
  writeMs: number;
  /** Failed attempts before it succeeded. */
  retries: number;
  /** Rejections by first reason code. */
  reasons: Record<string, number>;
  /** Epoch ms of each valid reading of the batch. */
  readingTimesMs: readonly number[];
  /** Alerts the batch opened or closed. */
  events?: readonly { type: "open" | "close" }[];
}

/** The consumer loop's hooks that {@link ConsumerMetrics.consumerHooks} feeds (the loop's own options match). */
export interface ConsumerHooks {
  /** Partitions assigned (or revoked: the new set). */
  onAssignment: (partitions: number[]) => void;
  /** A partition's lag after a committed batch. */
  onLag: (partition: number, lag: number) => void;
  /** The broker answered. */
  onAlive: () => void;
  /** The consumer disconnected. */
  onDisconnect: () => void;
  /** The consumer crashed (kafkajs restarts it). */
  onCrash: (restart: boolean) => void;
}

/** Options of {@link ConsumerMetrics}. */
export interface ConsumerMetricsOptions {
  /** Clock in epoch ms (default `Date.now`), for tests. */
  now?: () => number;
  /**
   * How long Kafka may stay silent (no fetch, heartbeat, commit or join) before readiness
   * reports it lost, ms (default 30 000, the consumer's session timeout).
   */
  kafkaSilenceMs?: number;
  /** Also register the process metrics (default true). */
  processMetrics?: boolean;
  /** Rejection reason codes to export at 0 from the start, so that rates exist before the first rejection. */
  reasons?: readonly string[];
}

/**
 * The consumer's metrics, and its readiness: ready when Kafka answers, the group assigned it at
 * least one partition, and database writes succeed.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ConsumerMetrics } from "./metrics.ts";
 * const metrics = new ConsumerMetrics();
 * metrics.setAssignment([0, 1]);
 * metrics.kafkaAlive();
 * metrics.setDatabaseReady(true);
 * assert.equal(metrics.readiness().ready, true);
 * ```
 */
export class ConsumerMetrics {
  /** The registry holding every metric below. */
  readonly registry: Registry = new Registry();
  readonly #now: () => number;
  readonly #kafkaSilenceMs: number;
  #assigned: number[] = [];
  #kafkaAliveAt: number | null = null;
  #databaseReady = false;
  #stopping = false;

  readonly #consumed: Counter;
  readonly #stored: Counter;
  readonly #rejected: Counter<"reason">;
  readonly #duplicates: Counter<"table">;
  readonly #batchSize: Histogram;
  readonly #writeSeconds: Histogram;
  readonly #delaySeconds: BatchHistogram;
  readonly #lag: Gauge<"partition">;
  readonly #retries: Counter;
  readonly #outages: Counter;
  readonly #connectionErrors: Counter;
  readonly #kafkaRestarts: Counter;
  readonly #alertEvents: Counter<"event">;

  /** @param options see {@link ConsumerMetricsOptions} */
  constructor(options: ConsumerMetricsOptions = {}) {
    this.#now = options.now ?? Date.now;
    this.#kafkaSilenceMs = options.kafkaSilenceMs ?? 30_000;
    const registers = [this.registry];
    const p = "heartbeat_consumer_";
    this.#consumed = new Counter({
      name: `${p}messages_consumed_total`,
      help: "Kafka messages consumed and committed (stored as readings or dead letters)",
      registers,
    });
    this.#stored = new Counter({
      name: `${p}readings_stored_total`,
      help: "Valid readings inserted into the readings table",
      registers,
    });
    this.#rejected = new Counter({
      name: `${p}rejected_total`,
      help: "Messages rejected into the dead-letter table, by first reason code (redeliveries count again)",
      labelNames: ["reason"],
      registers,
    });
    for (const reason of options.reasons ?? []) this.#rejected.inc({ reason }, 0);
    this.#duplicates = new Counter({
      name: `${p}duplicates_skipped_total`,
      help: "Rows skipped because they were already stored (redelivered or re-sent), by table",
      labelNames: ["table"],
      registers,
    });
    for (const table of ["readings", "dead_letters"]) this.#duplicates.inc({ table }, 0);
    this.#batchSize = new Histogram({
      name: `${p}batch_size`,
      help: "Messages written per database transaction",
      buckets: [...BATCH_SIZE_BUCKETS],
      registers,
    });
    this.#writeSeconds = new Histogram({
      name: `${p}db_write_seconds`,
      help: "Time to write one batch in one transaction, retries included, in seconds",
      buckets: [...WRITE_SECONDS_BUCKETS],
      registers,
    });
    this.#delaySeconds = new BatchHistogram(
      this.registry,
      `${p}end_to_end_delay_seconds`,
      "Time from a reading's own timestamp to its database commit, in seconds (backfills are large)",
      DELAY_SECONDS_BUCKETS,
    );
    this.#lag = new Gauge({
      name: `${p}lag_messages`,
      help: "Messages behind the partition's high watermark after the last committed batch, per assigned partition",
      labelNames: ["partition"],
      registers,
    });
    computedGauge(
      this.registry,
      `${p}assigned_partitions`,
      "Partitions the consumer group assigned to this consumer",
      () => this.#assigned.length,
    );
    this.#retries = new Counter({
      name: `${p}db_write_retries_total`,
      help: "Failed database write attempts that were retried",
      registers,
    });
    this.#outages = new Counter({
      name: `${p}db_outages_total`,
      help: "Times database writes started failing (the consumer then retries and reconnects until they succeed)",
      registers,
    });
    this.#connectionErrors = new Counter({
      name: `${p}db_connection_errors_total`,
      help: "Idle database connections that failed (the pool replaces them)",
      registers,
    });
    this.#kafkaRestarts = new Counter({
      name: `${p}kafka_restarts_total`,
      help: "Times the Kafka consumer crashed and was restarted (reconnecting and rejoining the group)",
      registers,
    });
    this.#alertEvents = new Counter({
      name: `${p}alert_events_total`,
      help: "Alerts opened and closed (event = opened or closed), once each when their batch committed",
      labelNames: ["event"],
      registers,
    });
    for (const event of ["opened", "closed"]) this.#alertEvents.inc({ event }, 0);
    computedGauge(
      this.registry,
      `${p}ready`,
      "1 when connected to Kafka with partitions assigned and database writes succeed, else 0",
      () => this.readiness().ready ? 1 : 0,
    );
    if (options.processMetrics ?? true) registerProcessMetrics(this.registry);
  }

  /** Content type of {@link ConsumerMetrics.metrics}. */
  get contentType(): string {
    return this.registry.contentType;
  }

  /** The Prometheus text exposition of every metric. */
  metrics(): Promise<string> {
    return this.registry.metrics();
  }

  /** The hooks of `startConsumer` that feed these metrics and the readiness checks. */
  consumerHooks(): ConsumerHooks {
    return {
      onAssignment: (partitions) => this.setAssignment(partitions),
      onLag: (partition, lag) => this.recordLag(partition, lag),
      onAlive: () => this.kafkaAlive(),
      onDisconnect: () => this.kafkaDisconnected(),
      onCrash: () => this.kafkaRestarted(),
    };
  }

  /** Records one committed batch (the sink's `onBatch`). */
  recordBatch(stats: BatchFigures): void {
    const now = this.#now();
    this.#consumed.inc(stats.records);
    this.#stored.inc(stats.inserted);
    this.#duplicates.inc({ table: "readings" }, stats.duplicates);
    this.#duplicates.inc({ table: "dead_letters" }, stats.rejectedDuplicates);
    for (const [reason, n] of Object.entries(stats.reasons)) this.#rejected.inc({ reason }, n);
    // valid readings the database refused went to the dead letters too
    const refused = stats.readingTimesMs.length - stats.inserted - stats.duplicates;
    if (refused > 0) this.#rejected.inc({ reason: "rejected_by_database" }, refused);
    this.#batchSize.observe(stats.records);
    this.#writeSeconds.observe(stats.writeMs / 1000);
    if (stats.retries > 0) this.#retries.inc(stats.retries);
    this.#delaySeconds.observeEach(stats.readingTimesMs, (t) => Math.max(0, (now - t) / 1000));
    for (const e of stats.events ?? []) this.#alertEvents.inc({ event: e.type === "open" ? "opened" : "closed" });
  }

  /** Records the partitions now assigned (the consumer's `onAssignment`); drops the others' lag. */
  setAssignment(partitions: readonly number[]): void {
    const kept = new Set(partitions);
    for (const p of this.#assigned) if (!kept.has(p)) this.#lag.remove({ partition: String(p) });
    this.#assigned = [...kept].sort((a, b) => a - b);
  }

  /** Records a partition's lag after a committed batch (the consumer's `onLag`). */
  recordLag(partition: number, lag: number): void {
    this.#lag.set({ partition: String(partition) }, lag);
  }

  /** Records that the broker answered (a fetch, heartbeat, commit or join). */
  kafkaAlive(): void {
    this.#kafkaAliveAt = this.#now();
  }

  /** Records that the Kafka consumer disconnected (it holds no partitions until it rejoins). */
  kafkaDisconnected(): void {
    this.#kafkaAliveAt = null;
    this.setAssignment([]);
  }

  /** Records a crash of the Kafka consumer (kafkajs restarts it). */
  kafkaRestarted(): void {
    this.#kafkaRestarts.inc();
  }

  /** Records whether database writes succeed (the sink's `onReadyChange`, or the start-up check). */
  setDatabaseReady(ready: boolean): void {
    if (this.#databaseReady && !ready) this.#outages.inc();
    this.#databaseReady = ready;
  }

  /** Records a failed idle database connection. */
  databaseConnectionError(): void {
    this.#connectionErrors.inc();
  }

  /** Marks the consumer as stopping: not ready from now on. */
  stopping(): void {
    this.#stopping = true;
  }

  /** Whether the consumer is ready, and each check's state. */
  readiness(): ReadinessReport {
    const silentMs = this.#kafkaAliveAt === null ? null : this.#now() - this.#kafkaAliveAt;
    const checks = {
      kafka: silentMs === null
        ? { ok: false, detail: "not connected" }
        : silentMs <= this.#kafkaSilenceMs
        ? { ok: true, detail: "connected" }
        : { ok: false, detail: `no answer from Kafka for ${Math.round(silentMs / 1000)} s` },
      partitions: this.#assigned.length > 0
        ? { ok: true, detail: `assigned ${this.#assigned.join(",")}` }
        : { ok: false, detail: "none assigned" },
      database: this.#databaseReady
        ? { ok: true, detail: "writes succeed" }
        : { ok: false, detail: "not reachable or writes failing" },
      ...(this.#stopping ? { shutdown: { ok: false, detail: "stopping" } } : {}),
    };
    return { ready: Object.values(checks).every((c) => c.ok), checks };
  }
}

/** Options of {@link ProducerMetrics}. */
export interface ProducerMetricsOptions {
  /** Also register the process metrics (default true). */
  processMetrics?: boolean;
}

/**
 * The producer's metrics, and its readiness: ready once connected to Kafka, until it stops or
 * a produce request fails for good. Counting a message costs an addition: the counters take the
 * new counts when scraped.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ProducerMetrics } from "./metrics.ts";
 * const metrics = new ProducerMetrics();
 * metrics.setConnected(true);
 * metrics.produced(1);
 * metrics.acknowledged(1);
 * assert.equal(metrics.readiness().ready, true);
 * assert.match(await metrics.metrics(), /^heartbeat_producer_messages_acknowledged_total 1$/m);
 * ```
 */
export class ProducerMetrics {
  /** The registry holding every metric below. */
  readonly registry: Registry = new Registry();
  /** Messages accepted but not yet acknowledged, read at each scrape (set it to the publisher's). */
  queued: () => number = () => 0;
  #connected = false;
  #failed = false;
  #stopping = false;
  // counts since the last scrape, added to the counters when scraped
  readonly #pending = { produced: 0, faults: 0, acknowledged: 0, failed: 0 };

  /** @param options see {@link ProducerMetricsOptions} */
  constructor(options: ProducerMetricsOptions = {}) {
    const registers = [this.registry];
    const p = "heartbeat_producer_";
    const pending = this.#pending;
    const counter = (key: keyof typeof pending, name: string, help: string) =>
      new Counter({
        name: `${p}${name}`,
        help,
        registers,
        collect() {
          this.inc(pending[key]);
          pending[key] = 0;
        },
      });
    counter("produced", "messages_produced_total", "Messages handed to the Kafka producer (injected faults included)");
    counter(
      "faults",
      "faults_injected_total",
      "Messages replaced by an injected fault (--invalid-rate); the consumer must dead-letter them",
    );
    counter("acknowledged", "messages_acknowledged_total", "Messages the brokers acknowledged (acks=all)");
    counter("failed", "messages_failed_total", "Messages whose produce request failed for good, after retries");
    computedGauge(
      this.registry,
      `${p}queued_messages`,
      "Messages accepted but not yet acknowledged",
      () => this.queued(),
    );
    computedGauge(
      this.registry,
      `${p}ready`,
      "1 when connected to Kafka and no produce request failed for good, else 0",
      () => this.readiness().ready ? 1 : 0,
    );
    if (options.processMetrics ?? true) registerProcessMetrics(this.registry);
  }

  /** Content type of {@link ProducerMetrics.metrics}. */
  get contentType(): string {
    return this.registry.contentType;
  }

  /** The Prometheus text exposition of every metric. */
  metrics(): Promise<string> {
    return this.registry.metrics();
  }

  /** Records messages handed to the producer; `faults` of them are injected faults. */
  produced(messages: number, faults = 0): void {
    this.#pending.produced += messages;
    this.#pending.faults += faults;
  }

  /** Records messages the brokers acknowledged. */
  acknowledged(messages: number): void {
    this.#pending.acknowledged += messages;
  }

  /** Records messages whose request failed for good; the producer is not ready afterwards. */
  failed(messages: number): void {
    this.#pending.failed += messages;
    this.#failed = true;
  }

  /** Records whether the producer is connected. */
  setConnected(connected: boolean): void {
    this.#connected = connected;
  }

  /** Marks the producer as stopping: not ready from now on. */
  stopping(): void {
    this.#stopping = true;
  }

  /** Whether the producer is ready, and each check's state. */
  readiness(): ReadinessReport {
    const checks = {
      kafka: this.#connected ? { ok: true, detail: "connected" } : { ok: false, detail: "not connected" },
      produce: this.#failed
        ? { ok: false, detail: "a produce request failed after retries" }
        : { ok: true, detail: "no failed request" },
      ...(this.#stopping ? { shutdown: { ok: false, detail: "stopping" } } : {}),
    };
    return { ready: Object.values(checks).every((c) => c.ok), checks };
  }
}
