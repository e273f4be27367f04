/**
 * Unit tests of the headline figures (figures.ts) and the baseline comparison (compare.ts), on
 * small results objects shaped as bench.ts, episodes.ts and dashboard.ts write them; and a check
 * of the committed bench/baseline.json. `deno test --allow-read bench/compare_test.ts`
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  type Baseline,
  buildBaseline,
  change,
  compareFigures,
  formatBaseline,
  formatRatio,
  formatValue,
  parseBaseline,
  renderComparison,
} from "./compare.ts";
import { describeFigure, extractFigures, type FigureKind, provenance, resultsKind, roundFigure } from "./figures.ts";

/** A full run of bench.ts, cut down to what the figures read (and a variant run of each kind). */
function benchReport(over: Record<string, unknown> = {}) {
  return {
    startedAt: "2026-11-26T11:07:43.888Z",
    command: "deno task bench",
    machine: { cpus: 2, deno: "2.9.6", v8: "15.0", postgres: "15.20", kafkaLibs: "/x", loadavgAtPhaseStart: {} },
    options: { readings: 1_000_000, quick: false },
    code: { fingerprint: "d7854e62bde5", changedDuringRun: [], files: {} },
    results: {
      ceiling: { rows: 1000, ms: 10, perSecond: 80_000, copyRows: 5000 },
      ceilingAfter: { rows: 1000, ms: 10, perSecond: 60_000, copyRows: 5000 },
      baselineNewConnection: { rows: 2000, ms: 80_000, perSecond: 25 },
      baselineOneConnection: { rows: 20_000, ms: 25_000, perSecond: 800 },
      producer: { acknowledged: 1_000_000, perSecond: 120_000 },
      javaRecordSize: { records: 1_000_000, perSecond: 100_000, recordSize: 176 },
      javaPayloads: { records: 1_000_000, perSecond: 150_000 },
      sink: [
        { label: "1 consumer", consumers: 1, consumerArgs: [], perSecond: 56_000, peakMiB: [170.5] },
        {
          label: "1 consumer --batch-size 20000",
          consumers: 1,
          consumerArgs: ["--batch-size", "20000"],
          perSecond: 99_999,
          peakMiB: [300],
        },
        { label: "2 consumers", consumers: 2, consumerArgs: [], perSecond: 49_000, peakMiB: [160, 165] },
      ],
      latency: [
        { rate: 10_000, consumerArgs: [], producerArgs: [], steady: { n: 100, p50: 25, p95: 41, p99: 54, max: 90 } },
        { rate: 1000, consumerArgs: [], producerArgs: [], steady: { n: 10, p50: 23.5, p95: 35, p99: 42.4, max: 61 } },
        {
          rate: 1000,
          consumerArgs: ["--batch-wait-ms", "100"],
          producerArgs: [],
          steady: { n: 10, p50: 71, p95: 124, p99: 129, max: 152 },
        },
      ],
      phases: {},
    },
    targets: [],
    errors: [],
    ...over,
  };
}

const soakReport = () => ({
  ...benchReport(),
  startedAt: "2026-11-26T11:13:15.167Z",
  command: "deno task bench --soak 10m --skip ceiling,baseline,producer,java,sink,scaling,latency --readings 1000",
  options: { readings: 1000, quick: false },
  results: { sink: [], latency: [], soak: { rate: 5000, durationS: 600, slopeMiBPerMin: -0.043 }, phases: {} },
});

const episodesReport = (precision = 1) => ({
  when: "2026-11-26T05:45:13.543Z",
  readingsPerSeed: 500_000,
  seeds: 5,
  episodes: 3375,
  kinds: {
    tachycardia: { truth: 1689, detected: 1689, truePositives: 1689, precision, recall: 1 },
    bradycardia: { truth: 1686, detected: 1686, truePositives: 1686, precision: 1, recall: 1 },
  },
  delayMs: { p50: 4000, p95: 5000, max: 6000 },
});

const dashboardReport = () => ({
  when: "2026-11-26T05:45:27.988Z",
  command: "deno task bench:dashboard --ingest-cost",
  machine: { cpus: 2, postgres: "15.20" },
  data: { readings: 10_080_000 },
  runs: 5,
  queries: [
    { name: "panel 1", range: "15m", wallMs: 2 },
    { name: "panel 8", range: "15m", wallMs: 31 },
    { name: "panel 1", range: "24h", wallMs: 100 },
    { name: "panel 8", range: "24h", wallMs: 620 },
  ],
  ingestCost: [
    { variant: "schema before the dashboard", readingsPerSecond: 150_000, costPercent: 0 },
    { variant: "+ readings_5s rollup trigger", readingsPerSecond: 112_000, costPercent: 25.8 },
    { variant: "001_baseline.sql (all of it)", readingsPerSecond: 110_000, costPercent: 27 },
  ],
});

const values = (json: unknown) => Object.fromEntries(extractFigures(json).map((f) => [f.key, f.value]));

Deno.test("resultsKind tells the three programs' files apart", async (t) => {
  const cases: [string, unknown, string | undefined][] = [
    ["bench", benchReport(), "bench"],
    ["soak-only bench", soakReport(), "bench"],
    ["episodes", episodesReport(), "episodes"],
    ["dashboard", dashboardReport(), "dashboard"],
    ["an empty object", {}, undefined],
    ["an array", [], undefined],
    ["null", null, undefined],
  ];
  for (const [name, json, kind] of cases) {
    await t.step(name, () => assert.equal(resultsKind(json), kind));
  }
  await t.step("extractFigures throws for another file", () => {
    assert.throws(() => extractFigures({ hello: 1 }), /not a results file/);
  });
});

Deno.test("the headline figures of a full bench run", async (t) => {
  const got = values(benchReport());
  const cases: [string, number | undefined][] = [
    ["sink.1consumer.perSecond", 56_000],
    ["sink.2consumers.perSecond", 49_000],
    ["ceiling.before.perSecond", 80_000],
    ["ceiling.after.perSecond", 60_000],
    ["ceiling.mean.perSecond", 70_000],
    ["sink.1consumer.toCeiling", 0.8], // to the mean of before and after, as bench.ts's targets
    ["sink.2consumers.toCeiling", 0.7],
    ["reference.perSecond", 25],
    ["sink.1consumer.toReference", 2240],
    ["sink.2consumers.toReference", undefined], // the 1-consumer run's only
    ["producer.perSecond", 120_000],
    ["java.recordSize.perSecond", 100_000],
    ["java.payloadFile.perSecond", 150_000],
    ["producer.toJavaRecordSize", 1.2],
    ["producer.toJavaPayloadFile", 0.8],
    ["latency.1000.p50", 23.5], // the plain run, not the --batch-wait-ms variant
    ["latency.1000.p95", 35],
    ["latency.1000.p99", 42.4],
    ["latency.10000.p50", 25],
    ["latency.10000.p99", 54],
    ["consumer.peakRss", 170.5], // the plain 1-consumer run's
    ["soak.absSlope", undefined], // not run
  ];
  for (const [key, value] of cases) {
    await t.step(key, () => assert.equal(got[key], value));
  }
  await t.step("no other keys, in a fixed order", () => {
    assert.deepEqual(extractFigures(benchReport()).map((f) => f.key), [
      "sink.1consumer.perSecond",
      "sink.1consumer.toCeiling",
      "sink.1consumer.toReference",
      "sink.2consumers.perSecond",
      "sink.2consumers.toCeiling",
      "ceiling.before.perSecond",
      "ceiling.after.perSecond",
      "ceiling.mean.perSecond",
      "reference.perSecond",
      "producer.perSecond",
      "java.recordSize.perSecond",
      "java.payloadFile.perSecond",
      "producer.toJavaRecordSize",
      "producer.toJavaPayloadFile",
      "latency.1000.p50",
      "latency.1000.p95",
      "latency.1000.p99",
      "latency.10000.p50",
      "latency.10000.p95",
      "latency.10000.p99",
      "consumer.peakRss",
    ]);
  });
});

Deno.test("the sink-tls figures: TLS and its plaintext reference on the same servers, their ratio and the cost", async (t) => {
  const run = (setup: string, round: number, perSecond: number) => ({ setup, round, perSecond, consumerArgs: [] });
  const withTls = benchReport({});
  Object.assign(withTls.results, {
    sinkTls: {
      rounds: 2,
      runs: [run("warmup", 0, 10), run("plaintext", 1, 64_000), run("tls", 1, 59_000), run("tls", 2, 61_000)],
      perSecond: { tls: 60_000, kafkaPlaintext: 62_000, plaintext: 64_000 },
    },
  });
  const got = extractFigures(withTls);
  const tls = got.filter((f) => f.key.startsWith("sink.tls."));
  await t.step("after the sink figures, before the ceiling's", () => {
    const keys = got.map((f) => f.key);
    assert.deepEqual(keys.slice(4, 9), [
      "sink.2consumers.toCeiling",
      "sink.tls.perSecond",
      "sink.tls.plaintext.perSecond",
      "sink.tls.toPlaintext",
      "sink.tls.cost",
    ]);
    assert.equal(keys[9], "ceiling.before.perSecond");
  });
  await t.step("values: the means, TLS / plaintext, and 1 − that in percent", () => {
    assert.deepEqual(Object.fromEntries(tls.map((f) => [f.key, f.value])), {
      "sink.tls.perSecond": 60_000,
      "sink.tls.plaintext.perSecond": 64_000,
      "sink.tls.toPlaintext": 0.9375,
      "sink.tls.cost": 6.25,
    });
  });
  await t.step("kinds and directions: the ratio and the cost are same-run ratios; the cost lower is better", () => {
    const meta = Object.fromEntries(tls.map((f) => [f.key, [f.kind, f.higherIsBetter, f.unit]]));
    assert.deepEqual(meta["sink.tls.toPlaintext"], ["ratio", true, "×"]);
    assert.deepEqual(meta["sink.tls.cost"], ["ratio", false, "%"]);
    assert.deepEqual(meta["sink.tls.perSecond"], ["absolute", true, "readings/s"]);
    assert.equal(tls[0]?.detail, "mean of 2 runs"); // the warm-up is not counted
  });
  await t.step("not in a run without the phase, and none from a run whose reference is missing", () => {
    assert.equal(extractFigures(benchReport()).filter((f) => f.key.startsWith("sink.tls.")).length, 0);
    const half = structuredClone(withTls) as unknown as { results: { sinkTls: { perSecond: object } } };
    half.results.sinkTls.perSecond = { tls: 60_000, plaintext: null };
    assert.deepEqual(extractFigures(half).filter((f) => f.key.startsWith("sink.tls.")).map((f) => f.key), [
      "sink.tls.perSecond",
    ]);
  });
});

Deno.test("partial bench runs give the figures they measured and no others", async (t) => {
  const cases: [string, unknown, Record<string, number | undefined>][] = [
    [
      "the soak alone: the absolute slope",
      soakReport(),
      { "soak.absSlope": 0.043, "sink.1consumer.perSecond": undefined, "consumer.peakRss": undefined },
    ],
    [
      "no ceiling after the sink: the ratio is to the one before, no mean",
      { ...benchReport(), results: { ...benchReport().results, ceilingAfter: undefined } },
      { "sink.1consumer.toCeiling": 0.7, "ceiling.mean.perSecond": undefined, "ceiling.after.perSecond": undefined },
    ],
    [
      "NaN (written as null) and a zero reference give no figure",
      {
        ...benchReport(),
        results: { ...benchReport().results, producer: { perSecond: null }, javaRecordSize: { perSecond: 0 } },
      },
      { "producer.perSecond": undefined, "producer.toJavaRecordSize": undefined, "java.recordSize.perSecond": 0 },
    ],
    [
      "no sink runs: no sink figures, the rest still there",
      { ...benchReport(), results: { ...benchReport().results, sink: [] } },
      { "sink.1consumer.perSecond": undefined, "consumer.peakRss": undefined, "producer.perSecond": 120_000 },
    ],
  ];
  for (const [name, json, expected] of cases) {
    await t.step(name, () => {
      const got = values(json);
      for (const [key, value] of Object.entries(expected)) assert.equal(got[key], value, key);
    });
  }
});

Deno.test("the headline figures of bench:episodes and bench:dashboard", async (t) => {
  const cases: [string, unknown, Record<string, number>][] = [
    ["episodes", episodesReport(0.99), {
      "episodes.bradycardia.precision": 1,
      "episodes.bradycardia.recall": 1,
      "episodes.tachycardia.precision": 0.99,
      "episodes.tachycardia.recall": 1,
      "episodes.delay.p50": 4000,
      "episodes.delay.p95": 5000,
      "episodes.delay.max": 6000,
    }],
    ["dashboard", dashboardReport(), {
      "dashboard.15m.slowest": 31,
      "dashboard.15m.total": 33,
      "dashboard.24h.slowest": 620,
      "dashboard.24h.total": 720,
      "dashboard.ingest.rollupCost": 25.8,
      "dashboard.ingest.schemaCost": 27,
    }],
  ];
  for (const [name, json, expected] of cases) {
    await t.step(name, () => assert.deepEqual(values(json), expected));
  }
  await t.step("the slowest query is named in the detail", () => {
    assert.equal(extractFigures(dashboardReport()).find((f) => f.key === "dashboard.24h.slowest")?.detail, "panel 8");
  });
});

Deno.test("every figure has a unit, a direction and a kind, and values are rounded", async (t) => {
  const all = [benchReport(), soakReport(), episodesReport(), dashboardReport()].flatMap(extractFigures);
  for (const f of all) {
    await t.step(f.key, () => {
      assert.deepEqual(describeFigure(f.key), {
        label: f.label,
        unit: f.unit,
        higherIsBetter: f.higherIsBetter,
        kind: f.kind,
      });
      assert.equal(f.value, roundFigure(f.value));
    });
  }
  await t.step("ratios to a same-run reference are the ratio kind", () => {
    const ratios = all.filter((f) => f.kind === "ratio").map((f) => f.key).sort();
    assert.deepEqual(ratios, [
      "dashboard.ingest.rollupCost",
      "dashboard.ingest.schemaCost",
      "producer.toJavaPayloadFile",
      "producer.toJavaRecordSize",
      "sink.1consumer.toCeiling",
      "sink.1consumer.toReference",
      "sink.2consumers.toCeiling",
    ]);
  });
  await t.step("an unknown key has no description", () => assert.equal(describeFigure("sink.fast"), undefined));
});

Deno.test("provenance: when, code, command, settings and machine as the file records them", async (t) => {
  const cases: [string, unknown, Record<string, unknown>][] = [
    ["bench", benchReport(), {
      kind: "bench",
      when: "2026-11-26T11:07:43.888Z",
      code: "d7854e62bde5",
      command: "deno task bench",
      settings: "--readings 1000000",
      machine: { cpus: 2, deno: "2.9.6", v8: "15.0", postgres: "15.20" },
    }],
    ["a soak-only bench run: the soak's settings only", soakReport(), { settings: "soak 600 s at 5000/s" }],
    ["a full run with a soak", {
      ...benchReport(),
      results: { ...benchReport().results, soak: { rate: 5000, durationS: 600, slopeMiBPerMin: 0 } },
    }, { settings: "--readings 1000000; soak 600 s at 5000/s" }],
    ["bench with code changed during the run", {
      ...benchReport(),
      code: { fingerprint: "abc", changedDuringRun: ["lib/sink.ts", "deno.json"] },
    }, { code: "abc", codeChangedDuringRun: "lib/sink.ts, deno.json" }],
    ["episodes (older files record no command or machine)", episodesReport(), {
      kind: "episodes",
      command: null,
      code: null,
      machine: null,
      settings: "--readings 500000 --seeds 5",
    }],
    ["dashboard", dashboardReport(), {
      kind: "dashboard",
      command: "deno task bench:dashboard --ingest-cost",
      code: null,
      settings: "10080000 readings, 5 runs a query",
    }],
  ];
  for (const [name, json, expected] of cases) {
    await t.step(name, () => {
      const p = provenance(json) as unknown as Record<string, unknown>;
      for (const [k, v] of Object.entries(expected)) assert.deepEqual(p[k], v, k);
    });
  }
});

const kinds: FigureKind[] = ["ratio", "absolute", "reference", "seeded"];

Deno.test("change: better or worse given higherIsBetter, higher or lower for references", async (t) => {
  const cases: [FigureKind, boolean, number | undefined, number | undefined, string][] = [
    ["absolute", true, 100, 110, "better"],
    ["absolute", true, 100, 90, "worse"],
    ["absolute", false, 100, 90, "better"],
    ["absolute", false, 100, 110, "worse"],
    ["ratio", true, 0.7, 0.6, "worse"],
    ["absolute", true, 100, 100.4, "same"], // within 0.5 %
    ["absolute", true, 100, 99.5, "same"],
    ["absolute", true, 100, 99.4, "worse"],
    ["seeded", true, 1, 0.9999, "worse"], // seeded: exact
    ["seeded", false, 4000, 4000, "same"],
    ["reference", true, 80_000, 90_000, "higher"],
    ["reference", true, 80_000, 70_000, "lower"],
    ["absolute", false, 0, 0, "same"],
    ["absolute", false, 0, 0.01, "worse"],
    ["absolute", true, undefined, 5, "n/a"],
    ["ratio", true, 5, undefined, "n/a"],
  ];
  for (const [kind, higher, b, c, expected] of cases) {
    await t.step(`${kind} ${higher ? "↑" : "↓"} ${b} → ${c}: ${expected}`, () => {
      assert.equal(change(kind, higher, b, c), expected);
    });
  }
});

Deno.test("change: property: swapping the runs never keeps a verdict, and the ratio's side decides it", () => {
  fc.assert(
    fc.property(
      fc.constantFrom(...kinds.filter((k) => k !== "reference")),
      fc.boolean(),
      fc.double({ min: 1e-6, max: 1e9, noNaN: true }),
      fc.double({ min: 1e-6, max: 1e9, noNaN: true }),
      (kind, higher, a, b) => {
        const forward = change(kind, higher, a, b), back = change(kind, higher, b, a);
        if (forward === "better") assert.ok(back === "worse" || back === "same", `${a} ${b}: ${back}`);
        if (forward === "worse") assert.ok(back === "better" || back === "same", `${a} ${b}: ${back}`);
        if (forward === "better" || forward === "worse") {
          assert.equal(forward === "better", b / a > 1 === higher);
        }
      },
    ),
  );
});

const fullBaseline = () =>
  buildBaseline([
    { file: "/tmp/kept/2026-11-26T11-07-43Z.json", json: benchReport() },
    { file: "bench/results/2026-11-26T11-13-15Z.json", json: soakReport() },
    { file: "episodes-latest.json", json: episodesReport() },
    { file: "dashboard-latest.json", json: dashboardReport() },
  ], "reviewed");

Deno.test("buildBaseline", async (t) => {
  await t.step("one source per file, a soak-only run named soak, each figure with its source", () => {
    const b = fullBaseline();
    assert.deepEqual(Object.keys(b.sources), ["bench", "soak", "episodes", "dashboard"]);
    assert.equal(b.sources.bench?.file, "2026-11-26T11-07-43Z.json");
    assert.equal(b.note, "reviewed");
    assert.deepEqual(b.figures["soak.absSlope"], {
      value: 0.043,
      unit: "MiB/min",
      higherIsBetter: false,
      from: "soak",
    });
    assert.deepEqual(b.figures["sink.1consumer.toCeiling"], {
      value: 0.8,
      unit: "×",
      higherIsBetter: true,
      from: "bench",
    });
  });
  const errors: [string, { file: string; json: unknown }[], RegExp][] = [
    [
      "a figure in two files",
      [{ file: "a.json", json: benchReport() }, { file: "b.json", json: benchReport() }],
      /in both a.json and b.json/,
    ],
    ["a file of no bench program", [{ file: "x.json", json: { a: 1 } }], /x.json: not a results file/],
    [
      "a file without figures",
      [{ file: "e.json", json: { ...benchReport(), results: { sink: [], latency: [] } } }],
      /no headline figure/,
    ],
  ];
  for (const [name, inputs, error] of errors) {
    await t.step(`throws for ${name}`, () => assert.throws(() => buildBaseline(inputs), error));
  }
});

Deno.test("parseBaseline accepts what buildBaseline writes and names what is wrong", async (t) => {
  const good = JSON.parse(formatBaseline(fullBaseline()));
  await t.step("a built baseline, through its text", () => assert.deepEqual(parseBaseline(good), fullBaseline()));
  type Loose = { figures?: Record<string, Record<string, unknown>>; sources: Record<string, Record<string, unknown>> };
  const broken: [string, (b: Loose) => void, RegExp][] = [
    ["no figures", (b) => delete b.figures, /"figures" is not an object/],
    ["a value that is a string", (b) => b.figures!["consumer.peakRss"]!.value = "170", /peakRss"\]\.value/],
    ["no higherIsBetter", (b) => delete b.figures!["latency.1000.p99"]!.higherIsBetter, /p99"\]\.higherIsBetter/],
    ["a figure from an unknown source", (b) => b.figures!["soak.absSlope"]!.from = "nowhere", /names no source/],
    ["a source of an unknown kind", (b) => b.sources.soak!.kind = "soak", /sources.soak.kind/],
    ["a source without file", (b) => delete b.sources.bench!.file, /sources.bench.file/],
  ];
  for (const [name, spoil, error] of broken) {
    await t.step(name, () => {
      const b = structuredClone(good);
      spoil(b);
      assert.throws(() => parseBaseline(b), error);
    });
  }
  await t.step("not an object", () => assert.throws(() => parseBaseline([]), /not a JSON object/));
});

Deno.test("formatBaseline: one line a figure within 120 columns; property: it parses back to the same baseline", async (t) => {
  await t.step("the layout", () => {
    const text = formatBaseline(fullBaseline());
    const lines = text.split("\n");
    assert.ok(
      lines.includes(
        `    "consumer.peakRss": { "value": 170.5, "unit": "MiB", "higherIsBetter": false, "from": "bench" },`,
      ),
    );
    assert.ok(lines.includes(`      "machine": { "cpus": 2, "deno": "2.9.6", "v8": "15.0", "postgres": "15.20" }`));
    for (const line of lines) if (line.includes("{ ")) assert.ok(line.length <= 120, line);
    assert.ok(text.endsWith("}\n"));
  });
  await t.step("property", () => {
    const figure = fc.record({
      value: fc.double({ noNaN: true, noDefaultInfinity: true }).map((v) => (Object.is(v, -0) ? 0 : v)),
      unit: fc.string({ maxLength: 40 }),
      higherIsBetter: fc.boolean(),
      from: fc.constant("bench"),
    });
    fc.assert(
      fc.property(
        fc.dictionary(fc.string({ minLength: 1, maxLength: 70 }), figure),
        fc.option(fc.string(), { nil: undefined }),
        (figures, note) => {
          const b: Baseline = {
            about: "x",
            ...(note === undefined ? {} : { note }),
            sources: { bench: { file: "f.json", ...provenance(benchReport()) } },
            figures,
          };
          const text = formatBaseline(b);
          assert.deepEqual(parseBaseline(JSON.parse(text)), JSON.parse(JSON.stringify(b)));
          // what deno fmt keeps on one line: an object that fits in 120 columns
          for (const line of text.split("\n")) if (line.includes("{ ")) assert.ok(line.length <= 120, line);
        },
      ),
    );
  });
});

Deno.test("compareFigures", async (t) => {
  const b = fullBaseline();
  await t.step("the same run: every figure the same, ratio 1", () => {
    const rows = compareFigures(b, extractFigures(benchReport()), new Set(["bench"]));
    const soak = rows.find((r) => r.key === "soak.absSlope");
    assert.deepEqual(soak?.change, "n/a"); // a bench kind figure this run lacks
    assert.equal(soak?.current, undefined);
    for (const r of rows.filter((r) => r.key !== "soak.absSlope")) {
      assert.equal(r.change, "same", r.key);
      assert.equal(r.ratio, 1, r.key);
    }
    assert.ok(!rows.some((r) => r.key.startsWith("episodes.") || r.key.startsWith("dashboard.")));
  });
  await t.step("a slower sink on a slower machine: the absolute worse, the ratio better, the ceiling lower", () => {
    const slow = benchReport();
    slow.results.sink[0]!.perSecond = 48_000;
    slow.results.ceiling.perSecond = 50_000;
    slow.results.ceilingAfter.perSecond = 50_000;
    const rows = compareFigures(b, extractFigures(slow), new Set(["bench"]));
    const row = (key: string) => rows.find((r) => r.key === key);
    assert.equal(row("sink.1consumer.perSecond")?.change, "worse");
    assert.equal(row("sink.1consumer.perSecond")?.kind, "absolute");
    assert.equal(row("sink.1consumer.toCeiling")?.change, "better");
    assert.equal(row("sink.1consumer.toCeiling")?.kind, "ratio");
    assert.equal(row("sink.1consumer.toCeiling")?.ratio, 0.96 / 0.8);
    assert.equal(row("ceiling.mean.perSecond")?.change, "lower");
  });
  await t.step("a figure new in this run comes after the baseline's, baseline n/a", () => {
    const more = benchReport();
    more.results.latency.push({
      rate: 500,
      consumerArgs: [],
      producerArgs: [],
      steady: { n: 1, p50: 1, p95: 2, p99: 3, max: 4 },
    });
    const rows = compareFigures(b, extractFigures(more), new Set(["bench"]));
    const last = rows.at(-1)!;
    assert.equal(last.key, "latency.500.p99");
    assert.equal(last.baseline, undefined);
    assert.equal(last.change, "n/a");
  });
  await t.step("only the kinds compared: episodes alone show only episode figures", () => {
    const rows = compareFigures(b, extractFigures(episodesReport(0.98)), new Set(["episodes"]));
    assert.equal(rows.length, 7);
    assert.equal(rows.find((r) => r.key === "episodes.tachycardia.precision")?.change, "worse");
  });
  await t.step("a baseline figure in another unit is not compared", () => {
    const odd = structuredClone(b);
    odd.figures["consumer.peakRss"]!.unit = "MB";
    const row = compareFigures(odd, extractFigures(benchReport()), new Set(["bench"]))
      .find((r) => r.key === "consumer.peakRss");
    assert.equal(row?.change, "n/a");
    assert.equal(row?.ratio, undefined);
    assert.match(row?.mismatch ?? "", /in MB/);
  });
});

Deno.test("formatValue in each unit's precision", async (t) => {
  const cases: [number | undefined, string, string][] = [
    [54133.7, "readings/s", "54,134"],
    [0.710631, "×", "0.71×"],
    [2225.79, "×", "2,226×"],
    [42.4378, "ms", "42.4"],
    [2382.61, "ms", "2,383"],
    [0.0430065, "MiB/min", "0.043"],
    [1, "fraction", "1.0000"],
    [25.8, "%", "25.8"],
    [24.3212, "rows/s", "24.3"],
    [177.059, "MiB", "177"],
    [undefined, "ms", "n/a"],
  ];
  for (const [v, unit, text] of cases) await t.step(`${v} ${unit}`, () => assert.equal(formatValue(v, unit), text));
});

Deno.test("formatRatio", async (t) => {
  const cases: [number | undefined, string][] = [[1, "1.00×"], [0.7106, "0.71×"], [0.0029, "0.0029×"], [
    undefined,
    "n/a",
  ]];
  for (const [r, text] of cases) await t.step(`${r}`, () => assert.equal(formatRatio(r), text));
});

Deno.test("renderComparison", async (t) => {
  const b = fullBaseline();
  const slow = benchReport({ command: "deno task bench --quick --compare", code: { fingerprint: "0123456789ab" } });
  slow.results.sink[0]!.perSecond = 28_000;
  const text = renderComparison(b, [{ file: "bench/results/latest.json", json: slow }]);
  const cases: [string, RegExp][] = [
    ["names the baseline and its note", /^compared with bench\/baseline\.json\n {2}its note: reviewed\n/],
    [
      "gives the baseline's provenance",
      /baseline bench \(2026-11-26T11-07-43Z\.json\): 2026-11-26T11:07:43\.888Z, code d7854e62bde5/,
    ],
    [
      "gives this run's",
      /this run \(bench\/results\/latest\.json\): .*code 0123456789ab, `deno task bench --quick --compare`/,
    ],
    [
      "a figure beside its baseline, ratio and change",
      /\| sink\.1consumer\.perSecond +\| readings\/s +\| 56,000 +\| 28,000 +\| 0\.50× +\| ↓ worse +\| absolute/,
    ],
    [
      "marks the same-run ratios",
      /\| sink\.1consumer\.toCeiling .*\| 0\.80× +\| 0\.40× +\| 0\.50× +\| ↓ worse +\| same-run ratio: trust/,
    ],
    ["a missing figure as n/a", /\| soak\.absSlope +\| MiB\/min +\| 0\.043 +\| n\/a +\| n\/a +\| n\/a/],
    ["the tally of the ratios", /same-run ratios \(trust these\): 0 better, 2 worse, 3 same, 0 n\/a/],
  ];
  for (const [name, re] of cases) await t.step(name, () => assert.match(text, re));
  await t.step(
    "no episode or dashboard figure for a bench file",
    () => assert.doesNotMatch(text, /episodes\.|dashboard\./),
  );
  await t.step("other settings: says so, for the sources the run shares figures with", () => {
    const quick = benchReport({ options: { readings: 50_000, quick: true } });
    assert.match(
      renderComparison(b, [{ file: "x", json: quick }]),
      /note: baseline bench ran with --readings 1000000, this run with --readings 50000 --quick/,
    );
    const withSoak = benchReport();
    Object.assign(withSoak.results, { soak: { rate: 5000, durationS: 600, slopeMiBPerMin: 0.01 } });
    assert.doesNotMatch(renderComparison(b, [{ file: "x", json: withSoak }]), /ran with/);
  });
  await t.step("a full run and a soak-only run together: one table; the same figure twice throws", () => {
    const both = renderComparison(b, [{ file: "a.json", json: benchReport() }, { file: "s.json", json: soakReport() }]);
    assert.match(both, /\| soak\.absSlope +\| MiB\/min +\| 0\.043 +\| 0\.043 /);
    assert.throws(
      () => renderComparison(b, [{ file: "a.json", json: benchReport() }, { file: "b.json", json: benchReport() }]),
      /in both a\.json and b\.json/,
    );
  });
  await t.step("throws, naming the file, for a file of no bench program", () => {
    assert.throws(() => renderComparison(b, [{ file: "x.json", json: {} }]), /^Error: x\.json: not a results file/);
  });
  await t.step("same code: says differences are the machine's", () => {
    assert.match(renderComparison(b, [{ file: "x", json: benchReport() }]), /same code as baseline bench/);
  });
});

Deno.test("the committed bench/baseline.json is well formed, laid out as written, and of known figures", async (t) => {
  const text = await Deno.readTextFile(new URL("./baseline.json", import.meta.url));
  const b = parseBaseline(JSON.parse(text));
  await t.step("as formatBaseline writes it (so bench:baseline rewrites it with a readable diff)", () => {
    assert.equal(formatBaseline(b), text);
  });
  for (const [key, f] of Object.entries(b.figures)) {
    await t.step(key, () => {
      const meta = describeFigure(key);
      assert.ok(meta, `figures.ts knows ${key}`);
      assert.equal(f.unit, meta.unit);
      assert.equal(f.higherIsBetter, meta.higherIsBetter);
    });
  }
  await t.step("small enough to review", () => assert.ok(text.split("\n").length < 200));
});
