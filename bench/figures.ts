/**
 * The headline figures of a results file: the few numbers a reviewer compares between runs, each
 * with its unit, which way is better, and how far to trust a change (see {@link FigureKind}).
 * `bench/baseline.json` holds them for one reviewed set of runs; `deno task bench:compare` extracts
 * the same set from a new results file, so the two are compared on exactly the same keys.
 *
 * Pure: no I/O. Reads the JSON that `bench/bench.ts`, `bench/episodes.ts` and `bench/dashboard.ts`
 * write (as parsed JSON, `unknown`: older files may lack fields; a missing or non-finite number
 * gives no figure, and the comparison shows `n/a` for it).
 *
 * @module
 */
import { cpuPer100k } from "./report.ts";

/** Which program wrote a results file. */
export type ResultsKind = "bench" | "episodes" | "dashboard";

export const RESULTS_KINDS: readonly ResultsKind[] = ["bench", "episodes", "dashboard"];

/**
 * How far to trust a change between two runs on a shared, noisy machine:
 * - `ratio`: a ratio to a reference measured in the same run (sink / COPY ceiling, producer /
 *   Java tool, a schema's cost against the schema without it): the machine's speed cancels out;
 *   the figures to trust;
 * - `absolute`: the code's own figure in absolute units (readings/s, ms, MiB): moves with the
 *   machine's load as much as with the code;
 * - `reference`: measures the machine or another tool (the COPY ceiling, the reference method,
 *   Kafka's Java perf tool), not this code: higher means a faster machine, not better code;
 * - `seeded`: a score of seeded, deterministic runs (episode detection): any change is real.
 */
export type FigureKind = "ratio" | "absolute" | "reference" | "seeded";

/** What a figure's key means. */
export interface FigureMeta {
  label: string;
  unit: string;
  higherIsBetter: boolean;
  kind: FigureKind;
}

/** One headline figure of one run. */
export interface Figure extends FigureMeta {
  key: string;
  /** Rounded to 6 significant digits (as stored in the baseline). */
  value: number;
  /** What this run's value was taken from (e.g. the slowest query's name), for the reader. */
  detail?: string;
}

/** When, on what code and machine, and with which command a results file was measured. */
export interface Provenance {
  kind: ResultsKind;
  /** ISO time the run started. */
  when: string | null;
  command: string | null;
  /** The bench's code fingerprint (sha-256 of lib/, sql/, ...; see report.ts), when the file has one. */
  code: string | null;
  /** Files of the code that changed while the run ran (comma-separated), when any did. */
  codeChangedDuringRun?: string;
  /**
   * The workload settings the figures depend on, parts joined by "; " (a different setting makes
   * them incomparable).
   */
  settings: string | null;
  machine: Record<string, string | number> | null;
}

const CATALOG: { pattern: RegExp; meta: (m: RegExpExecArray) => FigureMeta }[] = [
  {
    pattern: /^sink\.(\d+)consumers?\.perSecond$/,
    meta: (m) => ({
      label: `sink, ${m[1]} consumer(s): messages stored per second, process start to every row committed`,
      unit: "readings/s",
      higherIsBetter: true,
      kind: "absolute",
    }),
  },
  {
    pattern: /^sink\.(\d+)consumers?\.toCeiling$/,
    meta: (m) => ({
      label: `sink, ${m[1]} consumer(s), as a share of the same run's COPY ceiling (mean of before and after)`,
      unit: "×",
      higherIsBetter: true,
      kind: "ratio",
    }),
  },
  {
    pattern: /^sink\.(\d+)consumers?\.toReference$/,
    meta: (m) => ({
      label: `sink, ${m[1]} consumer(s), as a multiple of the same run's reference method`,
      unit: "×",
      higherIsBetter: true,
      kind: "ratio",
    }),
  },
  {
    pattern: /^sink\.tls\.perSecond$/,
    meta: () => ({
      label: "sink, 1 consumer, over TLS on both links (Kafka SASL_SSL SCRAM-SHA-512, PostgreSQL verify-full), " +
        "secured servers, mean of the rounds",
      unit: "readings/s",
      higherIsBetter: true,
      kind: "absolute",
    }),
  },
  {
    pattern: /^sink\.tls\.plaintext\.perSecond$/,
    meta: () => ({
      label:
        "sink, 1 consumer, without TLS on the same secured servers (the TLS figures' reference), mean of the rounds",
      unit: "readings/s",
      higherIsBetter: true,
      kind: "absolute",
    }),
  },
  {
    pattern: /^sink\.tls\.toPlaintext$/,
    meta: () => ({
      label: "sink over TLS as a share of the same run's sink without TLS on the same secured servers",
      unit: "×",
      higherIsBetter: true,
      kind: "ratio",
    }),
  },
  {
    pattern: /^sink\.tls\.cost$/,
    meta: () => ({
      label: "what TLS on both links costs of the sink's throughput: 1 − TLS / plaintext, same secured servers",
      unit: "%",
      higherIsBetter: false,
      kind: "ratio",
    }),
  },
  {
    pattern: /^ceiling\.(before|after|mean)\.perSecond$/,
    meta: (m) => ({
      label: m[1] === "mean"
        ? "COPY ceiling, mean of before and after the sink runs (the sink's ratios are to it)"
        : `COPY ceiling (COPY FROM STDIN of the sink's rows), ${m[1]} the sink runs`,
      unit: "rows/s",
      higherIsBetter: true,
      kind: "reference",
    }),
  },
  {
    pattern: /^reference\.perSecond$/,
    meta: () => ({
      label: "reference method: connect + INSERT + commit per message",
      unit: "rows/s",
      higherIsBetter: true,
      kind: "reference",
    }),
  },
  {
    pattern: /^producer\.perSecond$/,
    meta: () => ({
      label: "producer script, generator to acknowledged",
      unit: "readings/s",
      higherIsBetter: true,
      kind: "absolute",
    }),
  },
  {
    pattern: /^java\.(recordSize|payloadFile)\.perSecond$/,
    meta: (m) => ({
      label: `Kafka's Java ProducerPerformance, ${
        m[1] === "recordSize" ? "--record-size of our mean message" : "--payload-file of our messages"
      }`,
      unit: "records/s",
      higherIsBetter: true,
      kind: "reference",
    }),
  },
  {
    pattern: /^producer\.toJava(RecordSize|PayloadFile)$/,
    meta: (m) => ({
      label: `producer as a share of the same run's Java perf tool (${
        m[1] === "RecordSize" ? "--record-size" : "--payload-file"
      })`,
      unit: "×",
      higherIsBetter: true,
      kind: "ratio",
    }),
  },
  {
    pattern: /^latency\.(\d+)\.(p50|p95|p99)$/,
    meta: (m) => ({
      label: `end-to-end latency (ingested_at - recorded_at) at ${m[1]}/s, ${m[2]}, warm-up left out`,
      unit: "ms",
      higherIsBetter: false,
      kind: "absolute",
    }),
  },
  {
    pattern: /^latency\.afterLoad\.1000\.p99$/,
    meta: () => ({
      label: "end-to-end latency at 1,000/s right after the sink runs (data still being written back), p99",
      unit: "ms",
      higherIsBetter: false,
      kind: "absolute",
    }),
  },
  {
    pattern: /^sink\.(\d+)consumers?\.cpuPer100k$/,
    meta: (m) => ({
      label: `sink, ${m[1]} consumer(s): the consumers' CPU-seconds per 100,000 readings`,
      unit: "CPU-s",
      higherIsBetter: false,
      kind: "absolute",
    }),
  },
  {
    pattern: /^consumer\.peakRss$/,
    meta: () => ({
      label: "consumer peak RSS in the 1-consumer sink run (full speed)",
      unit: "MiB",
      higherIsBetter: false,
      kind: "absolute",
    }),
  },
  {
    pattern: /^soak\.absSlope$/,
    meta: () => ({
      label: "consumer memory slope over the soak, absolute value (flat is best)",
      unit: "MiB/min",
      higherIsBetter: false,
      kind: "absolute",
    }),
  },
  {
    pattern: /^episodes\.(\w+)\.(precision|recall)$/,
    meta: (m) => ({
      label: `episode detection, ${m[1]}: ${m[2]} against the simulator's ground truth`,
      unit: "fraction",
      higherIsBetter: true,
      kind: "seeded",
    }),
  },
  {
    pattern: /^episodes\.delay\.(p50|p95|max)$/,
    meta: (m) => ({
      label: `episode detection delay, first abnormal reading to alert, ${m[1]}`,
      unit: "ms",
      higherIsBetter: false,
      kind: "seeded",
    }),
  },
  {
    pattern: /^dashboard\.(\w+)\.slowest$/,
    meta: (m) => ({
      label: `dashboard over the last ${m[1]}: the slowest query's median wall time`,
      unit: "ms",
      higherIsBetter: false,
      kind: "absolute",
    }),
  },
  {
    pattern: /^dashboard\.(\w+)\.total$/,
    meta: (m) => ({
      label: `dashboard over the last ${m[1]}: sum of every query's median wall time (one refresh, in series)`,
      unit: "ms",
      higherIsBetter: false,
      kind: "absolute",
    }),
  },
  {
    pattern: /^dashboard\.ingest\.(rollupCost|schemaCost)$/,
    meta: (m) => ({
      label: `the consumer's write path: cost of ${
        m[1] === "rollupCost" ? "the readings_5s rollup trigger" : "all the dashboard's schema additions"
      }, against the schema without them in the same run`,
      unit: "%",
      higherIsBetter: false,
      kind: "ratio",
    }),
  },
];

/** What a key means, or `undefined` for a key this code does not know. */
export function describeFigure(key: string): FigureMeta | undefined {
  for (const { pattern, meta } of CATALOG) {
    const m = pattern.exec(key);
    if (m !== null) return meta(m);
  }
  return undefined;
}

/** Rounds to 6 significant digits: enough to compare, short enough to review. */
export function roundFigure(value: number): number {
  return Number(value.toPrecision(6));
}

// ---------------------------------------------------------------------------------------------
// reading loose JSON

function at(v: unknown, ...path: (string | number)[]): unknown {
  let cur = v;
  for (const p of path) {
    if (cur === null || typeof cur !== "object") return undefined;
    cur = (cur as Record<string | number, unknown>)[p];
  }
  return cur;
}

function numAt(v: unknown, ...path: (string | number)[]): number | undefined {
  const x = at(v, ...path);
  return typeof x === "number" && Number.isFinite(x) ? x : undefined;
}

function strAt(v: unknown, ...path: (string | number)[]): string | undefined {
  const x = at(v, ...path);
  return typeof x === "string" ? x : undefined;
}

function arrAt(v: unknown, ...path: (string | number)[]): unknown[] {
  const x = at(v, ...path);
  return Array.isArray(x) ? x : [];
}

function div(a: number | undefined, b: number | undefined): number | undefined {
  return a === undefined || b === undefined || b === 0 ? undefined : a / b;
}

/** Collects figures in order; a missing value gives none. */
class Figures {
  readonly list: Figure[] = [];
  add(key: string, value: number | undefined, detail?: string): void {
    const meta = describeFigure(key);
    if (meta === undefined) throw new Error(`figures.ts: no description for the figure key ${key}`);
    if (value === undefined || !Number.isFinite(value)) return;
    this.list.push({ key, ...meta, value: roundFigure(value), ...(detail === undefined ? {} : { detail }) });
  }
}

// ---------------------------------------------------------------------------------------------
// the three kinds of results file

/** Which program wrote `json`, or `undefined` when none of them did. */
export function resultsKind(json: unknown): ResultsKind | undefined {
  if (at(json, "results") !== undefined && Array.isArray(at(json, "targets"))) return "bench";
  if (at(json, "kinds") !== undefined && at(json, "delayMs") !== undefined) return "episodes";
  if (Array.isArray(at(json, "queries"))) return "dashboard";
  return undefined;
}

/** A plain run (no variant flags): the one the headline figures are of. */
function plain(run: unknown): boolean {
  return arrAt(run, "consumerArgs").length === 0 && arrAt(run, "producerArgs").length === 0;
}

function benchFigures(report: unknown, f: Figures): void {
  const r = at(report, "results");
  const before = numAt(r, "ceiling", "perSecond");
  const after = numAt(r, "ceilingAfter", "perSecond");
  // as bench.ts's ceilingRate: the mean when both ran, else the one before
  const ceiling = before !== undefined && after !== undefined ? (before + after) / 2 : before;
  const reference = numAt(r, "baselineNewConnection", "perSecond");
  const sinks = arrAt(r, "sink").filter(plain)
    .map((s) => ({ n: numAt(s, "consumers"), s }))
    .filter((x): x is { n: number; s: unknown } => x.n !== undefined)
    .sort((a, b) => a.n - b.n);
  for (const { n, s } of sinks) {
    const name = `sink.${n}consumer${n === 1 ? "" : "s"}`;
    const perSecond = numAt(s, "perSecond");
    f.add(`${name}.perSecond`, perSecond);
    f.add(`${name}.toCeiling`, div(perSecond, ceiling));
    if (n === 1) f.add(`${name}.toReference`, div(perSecond, reference));
    f.add(
      `${name}.cpuPer100k`,
      cpuPer100k(numAt(s, "cpu", "pctOfCore", "consumer"), numAt(s, "cpu", "wallS"), numAt(s, "records")),
    );
  }
  // the sink over TLS beside the sink without it, on the same secured servers (phase sink-tls)
  const tlsRuns = arrAt(r, "sinkTls", "runs").filter((x) => strAt(x, "setup") === "tls").length;
  const tlsDetail = tlsRuns === 0 ? undefined : `mean of ${tlsRuns} run${tlsRuns === 1 ? "" : "s"}`;
  const tls = numAt(r, "sinkTls", "perSecond", "tls");
  const tlsReference = numAt(r, "sinkTls", "perSecond", "plaintext");
  const toPlaintext = div(tls, tlsReference);
  f.add("sink.tls.perSecond", tls, tlsDetail);
  f.add("sink.tls.plaintext.perSecond", tlsReference, tlsDetail);
  f.add("sink.tls.toPlaintext", toPlaintext);
  f.add("sink.tls.cost", toPlaintext === undefined ? undefined : (1 - toPlaintext) * 100);
  f.add("ceiling.before.perSecond", before);
  f.add("ceiling.after.perSecond", after);
  if (before !== undefined && after !== undefined) f.add("ceiling.mean.perSecond", ceiling);
  f.add("reference.perSecond", reference, `${numAt(r, "baselineNewConnection", "rows") ?? "?"} rows`);
  const producer = numAt(r, "producer", "perSecond");
  const javaSize = numAt(r, "javaRecordSize", "perSecond");
  const javaPayload = numAt(r, "javaPayloads", "perSecond");
  f.add("producer.perSecond", producer);
  f.add("java.recordSize.perSecond", javaSize, `--record-size ${numAt(r, "javaRecordSize", "recordSize") ?? "?"}`);
  f.add("java.payloadFile.perSecond", javaPayload);
  f.add("producer.toJavaRecordSize", div(producer, javaSize));
  f.add("producer.toJavaPayloadFile", div(producer, javaPayload));
  const latency = arrAt(r, "latency").filter((l) => plain(l) && at(l, "afterLoad") !== true)
    .map((l) => ({ rate: numAt(l, "rate"), l }))
    .filter((x): x is { rate: number; l: unknown } => x.rate !== undefined)
    .sort((a, b) => a.rate - b.rate);
  for (const { rate, l } of latency) {
    const n = numAt(l, "steady", "n");
    for (const p of ["p50", "p95", "p99"] as const) {
      f.add(`latency.${rate}.${p}`, numAt(l, "steady", p), n === undefined ? undefined : `${n} readings`);
    }
  }
  const afterLoad = arrAt(r, "latency").find((l) => at(l, "afterLoad") === true);
  if (afterLoad !== undefined) f.add("latency.afterLoad.1000.p99", numAt(afterLoad, "steady", "p99"));
  const sink1 = sinks.find((x) => x.n === 1)?.s;
  const rss = arrAt(sink1, "peakMiB").filter((x): x is number => typeof x === "number" && Number.isFinite(x));
  f.add("consumer.peakRss", rss.length > 0 ? Math.max(...rss) : undefined);
  const slope = numAt(r, "soak", "slopeMiBPerMin");
  const minutes = div(numAt(r, "soak", "durationS"), 60);
  f.add(
    "soak.absSlope",
    slope === undefined ? undefined : Math.abs(slope),
    slope === undefined ? undefined : `${roundFigure(slope)} MiB/min over ${minutes ?? "?"} min`,
  );
}

function episodeFigures(json: unknown, f: Figures): void {
  const kinds = at(json, "kinds");
  const names = kinds !== null && typeof kinds === "object" ? Object.keys(kinds).sort() : [];
  for (const kind of names) {
    const detail = `${numAt(kinds, kind, "truth") ?? "?"} episodes`;
    f.add(`episodes.${kind}.precision`, numAt(kinds, kind, "precision"), detail);
    f.add(`episodes.${kind}.recall`, numAt(kinds, kind, "recall"), detail);
  }
  for (const p of ["p50", "p95", "max"] as const) f.add(`episodes.delay.${p}`, numAt(json, "delayMs", p));
}

function dashboardFigures(json: unknown, f: Figures): void {
  const queries = arrAt(json, "queries");
  const ranges = [...new Set(queries.map((q) => strAt(q, "range")).filter((r) => r !== undefined))];
  for (const range of ranges) {
    const timed = queries.filter((q) => strAt(q, "range") === range)
      .map((q) => ({ name: strAt(q, "name") ?? "?", ms: numAt(q, "wallMs") }))
      .filter((q): q is { name: string; ms: number } => q.ms !== undefined);
    if (timed.length === 0) continue;
    const slowest = timed.reduce((a, b) => b.ms > a.ms ? b : a);
    f.add(`dashboard.${range}.slowest`, slowest.ms, slowest.name);
    f.add(`dashboard.${range}.total`, timed.reduce((n, q) => n + q.ms, 0), `${timed.length} queries`);
  }
  const ingest = arrAt(json, "ingestCost");
  const cost = (re: RegExp) => numAt(ingest.find((v) => re.test(strAt(v, "variant") ?? "")), "costPercent");
  f.add("dashboard.ingest.rollupCost", cost(/rollup/));
  f.add("dashboard.ingest.schemaCost", cost(/all of it/));
}

/**
 * The headline figures of a results file of `bench/bench.ts`, `bench/episodes.ts` or
 * `bench/dashboard.ts`, in a fixed order; throws for a file none of them wrote.
 */
export function extractFigures(json: unknown): Figure[] {
  const f = new Figures();
  const kind = resultsKind(json);
  if (kind === "bench") benchFigures(json, f);
  else if (kind === "episodes") episodeFigures(json, f);
  else if (kind === "dashboard") dashboardFigures(json, f);
  else throw new Error("not a results file of deno task bench, bench:episodes or bench:dashboard");
  return f.list;
}

function machineOf(v: unknown, fields: string[]): Record<string, string | number> | null {
  const out: Record<string, string | number> = {};
  for (const k of fields) {
    const x = at(v, k);
    if (typeof x === "string" || (typeof x === "number" && Number.isFinite(x))) out[k] = x;
  }
  return Object.keys(out).length === 0 ? null : out;
}

/** When, on what, and how `json` was measured (what the file records of it; `null` where it records nothing). */
export function provenance(json: unknown): Provenance {
  const kind = resultsKind(json);
  if (kind === undefined) throw new Error("not a results file of deno task bench, bench:episodes or bench:dashboard");
  const fields = ["cpus", "deno", "v8", "postgres"];
  if (kind === "bench") {
    const changed = arrAt(json, "code", "changedDuringRun").filter((x) => typeof x === "string");
    const readings = numAt(json, "options", "readings");
    const soak = at(json, "results", "soak");
    const parts = [
      // a soak-only run measured nothing that --readings sizes
      ...(readings === undefined || extractFigures(json).every((f) => f.key.startsWith("soak."))
        ? []
        : [`--readings ${readings}${at(json, "options", "quick") ? " --quick" : ""}`]),
      ...(soak === undefined ? [] : [`soak ${numAt(soak, "durationS") ?? "?"} s at ${numAt(soak, "rate") ?? "?"}/s`]),
    ];
    return {
      kind,
      when: strAt(json, "startedAt") ?? null,
      command: strAt(json, "command") ?? null,
      code: strAt(json, "code", "fingerprint") ?? null,
      ...(changed.length > 0 ? { codeChangedDuringRun: changed.join(", ") } : {}),
      settings: parts.length === 0 ? null : parts.join("; "),
      machine: machineOf(at(json, "machine"), fields),
    };
  }
  if (kind === "episodes") {
    const readings = numAt(json, "readingsPerSeed"), seeds = numAt(json, "seeds");
    return {
      kind,
      when: strAt(json, "when") ?? null,
      command: strAt(json, "command") ?? null,
      code: strAt(json, "code", "fingerprint") ?? null,
      settings: `--readings ${readings ?? "?"} --seeds ${seeds ?? "?"}`,
      machine: machineOf(at(json, "machine"), fields),
    };
  }
  return {
    kind,
    when: strAt(json, "when") ?? null,
    command: strAt(json, "command") ?? null,
    code: strAt(json, "code", "fingerprint") ?? null,
    settings: `${numAt(json, "data", "readings") ?? "?"} readings, ${numAt(json, "runs") ?? "?"} runs a query`,
    machine: machineOf(at(json, "machine"), fields),
  };
}
