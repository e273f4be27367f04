/**
 * The reviewed baseline (`bench/baseline.json`) and the comparison of a run's headline figures
 * with it: building the baseline from results files, checking and formatting it, and rendering
 * each figure beside the baseline's with the ratio new/baseline and whether it got better.
 *
 * Pure: no I/O (`bench/compare_cli.ts` and `bench/baseline.ts` read and write the files).
 *
 * @module
 */
import {
  describeFigure,
  extractFigures,
  type Figure,
  type FigureKind,
  type Provenance,
  provenance,
  RESULTS_KINDS,
  type ResultsKind,
  resultsKind,
} from "./figures.ts";
import { num, table } from "./report.ts";

/** One figure of the baseline. */
export interface BaselineFigure {
  value: number;
  unit: string;
  higherIsBetter: boolean;
  /** The id of the source (in {@link Baseline.sources}) it was measured in. */
  from: string;
}

/** One results file the baseline was built from. */
export interface BaselineSource extends Provenance {
  /** The results file's name (bench/results/ is not in git: the name gives the run's time). */
  file: string;
}

export interface Baseline {
  about: string;
  /** The reviewer's note (e.g. what the files record no provenance of). */
  note?: string;
  sources: Record<string, BaselineSource>;
  figures: Record<string, BaselineFigure>;
}

/** A results file, parsed. */
export interface ResultsInput {
  file: string;
  json: unknown;
}

export const ABOUT =
  "Headline figures of deno task bench, bench:episodes and bench:dashboard, reviewed; compared by deno task bench:compare " +
  "and bench --compare. Written by deno task bench:baseline FILES... (bench/figures.ts chooses the figures).";

// ---------------------------------------------------------------------------------------------
// building, checking and formatting the baseline

/**
 * Builds a baseline from results files: every headline figure of each, with where it came from.
 * A source is named by its kind ("bench", "episodes", "dashboard"; "soak" for a bench run that
 * gave only soak figures). Throws when two files give the same figure: choose one.
 */
export function buildBaseline(inputs: readonly ResultsInput[], note?: string): Baseline {
  const sources: Record<string, BaselineSource> = {};
  const figures: Record<string, BaselineFigure> = {};
  const origin: Record<string, string> = {};
  for (const { file, json } of inputs) {
    const kind = resultsKind(json);
    if (kind === undefined) {
      throw new Error(`${file}: not a results file of deno task bench, bench:episodes or bench:dashboard`);
    }
    const found = extractFigures(json);
    if (found.length === 0) throw new Error(`${file}: holds no headline figure`);
    let id: string = kind === "bench" && found.every((f) => f.key.startsWith("soak.")) ? "soak" : kind;
    for (let n = 2; id in sources; n++) id = `${kind}-${n}`;
    sources[id] = { file: file.split("/").at(-1) ?? file, ...provenance(json) };
    for (const f of found) {
      if (f.key in figures) {
        throw new Error(`${f.key} is in both ${origin[f.key]} and ${file}: give one of them`);
      }
      figures[f.key] = { value: f.value, unit: f.unit, higherIsBetter: f.higherIsBetter, from: id };
      origin[f.key] = file;
    }
  }
  return { about: ABOUT, ...(note === undefined || note === "" ? {} : { note }), sources, figures };
}

function fail(what: string): never {
  throw new Error(`the baseline is malformed: ${what}`);
}

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === "object" && !Array.isArray(v);

const nullableString = (v: unknown) => v === null || typeof v === "string";

/** Checks parsed `bench/baseline.json`; throws an error naming the first field that is wrong. */
export function parseBaseline(json: unknown): Baseline {
  if (!isObject(json)) fail("not a JSON object");
  if (typeof json.about !== "string") fail(`"about" is not a string`);
  if (json.note !== undefined && typeof json.note !== "string") fail(`"note" is not a string`);
  if (!isObject(json.sources)) fail(`"sources" is not an object`);
  if (!isObject(json.figures)) fail(`"figures" is not an object`);
  for (const [id, s] of Object.entries(json.sources)) {
    const where = `sources.${id}`;
    if (!isObject(s)) fail(`${where} is not an object`);
    if (typeof s.file !== "string") fail(`${where}.file is not a string`);
    if (!(RESULTS_KINDS as readonly unknown[]).includes(s.kind)) fail(`${where}.kind is not one of ${RESULTS_KINDS}`);
    for (const k of ["when", "command", "code", "settings"]) {
      if (!nullableString(s[k])) fail(`${where}.${k} is neither a string nor null`);
    }
    if (s.codeChangedDuringRun !== undefined && typeof s.codeChangedDuringRun !== "string") {
      fail(`${where}.codeChangedDuringRun is not a string`);
    }
    if (s.machine !== null && !isObject(s.machine)) fail(`${where}.machine is neither an object nor null`);
  }
  for (const [key, f] of Object.entries(json.figures)) {
    const where = `figures["${key}"]`;
    if (!isObject(f)) fail(`${where} is not an object`);
    if (typeof f.value !== "number" || !Number.isFinite(f.value)) fail(`${where}.value is not a finite number`);
    if (typeof f.unit !== "string") fail(`${where}.unit is not a string`);
    if (typeof f.higherIsBetter !== "boolean") fail(`${where}.higherIsBetter is not true or false`);
    if (typeof f.from !== "string" || !(f.from in json.sources)) fail(`${where}.from names no source`);
  }
  return json as unknown as Baseline;
}

const WIDTH = 120;

/**
 * The baseline as JSON text, laid out as `deno fmt` leaves it (line width 120): one line per
 * figure and per machine where it fits, so the file stays short and its diffs readable.
 */
export function formatBaseline(b: Baseline): string {
  const scalar = (v: unknown) => v === null || typeof v !== "object";
  // only a figure and a source's machine go on one line: the sources stay one field a line
  const oneLine = (path: string[]) => (path.length === 2 && path[0] === "figures") || path.at(-1) === "machine";
  const write = (v: unknown, path: string[], column: number, tail: number): string => {
    if (scalar(v)) return JSON.stringify(v);
    const entries = Object.entries(v as Record<string, unknown>);
    if (entries.length === 0) return "{}";
    if (oneLine(path) && entries.every(([, x]) => scalar(x))) {
      const line = `{ ${entries.map(([k, x]) => `${JSON.stringify(k)}: ${JSON.stringify(x)}`).join(", ")} }`;
      if (column + line.length + tail <= WIDTH) return line;
    }
    const indent = "  ".repeat(path.length + 1);
    const lines = entries.map(([k, x], i) => {
      const head = `${indent}${JSON.stringify(k)}: `;
      return head + write(x, [...path, k], head.length, i === entries.length - 1 ? 0 : 1);
    });
    return `{\n${lines.join(",\n")}\n${"  ".repeat(path.length)}}`;
  };
  return write(b, [], 0, 0) + "\n";
}

// ---------------------------------------------------------------------------------------------
// comparing

/** How a figure moved: better or worse given `higherIsBetter`; higher or lower for a reference. */
export type Change = "better" | "worse" | "same" | "higher" | "lower" | "n/a";

/** Changes within this share of the baseline are "same" (not for seeded figures: exact there). */
export const SAME_WITHIN = 0.005;

export interface Row {
  key: string;
  label: string;
  unit: string;
  higherIsBetter: boolean;
  kind: FigureKind | "unknown";
  baseline?: number;
  current?: number;
  /** current / baseline. */
  ratio?: number;
  change: Change;
  detail?: string;
  /** Set when the baseline's unit or direction is not this code's (the key's meaning changed). */
  mismatch?: string;
}

/** How `current` compares with `baseline` for a figure of this kind and direction. */
export function change(
  kind: FigureKind | "unknown",
  higherIsBetter: boolean,
  baseline: number | undefined,
  current: number | undefined,
): Change {
  if (baseline === undefined || current === undefined) return "n/a";
  const same = kind === "seeded"
    ? current === baseline
    : Math.abs(current - baseline) <= SAME_WITHIN * Math.abs(baseline);
  if (same) return "same";
  const up = current > baseline;
  if (kind === "reference") return up ? "higher" : "lower";
  return up === higherIsBetter ? "better" : "worse";
}

/**
 * Each figure of the baseline whose source is of one of `kinds` (the kinds of the files compared),
 * in the baseline's order, beside `current`'s; then `current`'s figures the baseline lacks.
 */
export function compareFigures(
  baseline: Baseline,
  current: readonly Figure[],
  kinds: ReadonlySet<ResultsKind>,
): Row[] {
  const byKey = new Map(current.map((f) => [f.key, f]));
  const keys = Object.entries(baseline.figures)
    .filter(([, f]) => {
      const kind = baseline.sources[f.from]?.kind;
      return kind !== undefined && kinds.has(kind);
    })
    .map(([k]) => k);
  for (const f of current) if (!(f.key in baseline.figures)) keys.push(f.key);
  return keys.map((key) => {
    const b = baseline.figures[key];
    const c = byKey.get(key);
    const meta = c ?? describeFigure(key);
    const unit = meta?.unit ?? b?.unit ?? "";
    const higherIsBetter = meta?.higherIsBetter ?? b?.higherIsBetter ?? true;
    const kind = meta?.kind ?? "unknown";
    const mismatch =
      b !== undefined && meta !== undefined && (b.unit !== meta.unit || b.higherIsBetter !== meta.higherIsBetter)
        ? `the baseline has it in ${b.unit}, ${b.higherIsBetter ? "higher" : "lower"} is better`
        : undefined;
    const comparable = mismatch === undefined ? b?.value : undefined;
    const ratio = comparable !== undefined && c !== undefined && comparable !== 0 ? c.value / comparable : undefined;
    return {
      key,
      label: meta?.label ?? "(a figure this code no longer knows)",
      unit,
      higherIsBetter,
      kind,
      ...(b === undefined ? {} : { baseline: b.value }),
      ...(c === undefined ? {} : { current: c.value }),
      ...(ratio === undefined ? {} : { ratio }),
      change: change(kind, higherIsBetter, comparable, c?.value),
      ...(c?.detail === undefined ? {} : { detail: c.detail }),
      ...(mismatch === undefined ? {} : { mismatch }),
    };
  });
}

/** A figure in its unit's usual precision. */
export function formatValue(value: number | undefined, unit: string): string {
  if (value === undefined) return "n/a";
  const digits = unit === "fraction"
    ? 4
    : unit === "MiB/min"
    ? 3
    : unit === "×"
    ? (Math.abs(value) >= 100 ? 0 : 2)
    : (unit === "ms" || unit === "%") && Math.abs(value) < 1000
    ? 1
    : Math.abs(value) < 10
    ? 2
    : Math.abs(value) < 100
    ? 1
    : 0;
  return `${num(value, digits)}${unit === "×" ? "×" : ""}`;
}

/** new/baseline: two decimals, two significant digits below 0.1. */
export function formatRatio(ratio: number | undefined): string {
  if (ratio === undefined) return "n/a";
  return `${Math.abs(ratio) >= 0.1 ? ratio.toFixed(2) : ratio.toPrecision(2)}×`;
}

const ARROW: Record<Change, string> = {
  better: "↑ better",
  worse: "↓ worse",
  same: "= same",
  higher: "↑ higher",
  lower: "↓ lower",
  "n/a": "n/a",
};

const TRUST: Record<FigureKind | "unknown", string> = {
  ratio: "same-run ratio: trust",
  absolute: "absolute",
  reference: "reference (the machine)",
  seeded: "seeded: exact",
  unknown: "?",
};

/** Provenance on one line: when, code, command, settings, machine (and code changed during the run). */
export function describeSource(p: Provenance): string {
  const parts = [
    p.when ?? "time not recorded",
    p.code === null ? "code fingerprint not recorded" : `code ${p.code}`,
    p.command === null ? "command not recorded" : `\`${p.command}\``,
  ];
  if (p.settings !== null) parts.push(p.settings);
  if (p.machine !== null) parts.push(Object.entries(p.machine).map(([k, v]) => `${k} ${v}`).join(" "));
  if (p.codeChangedDuringRun !== undefined) parts.push(`CODE CHANGED DURING THE RUN: ${p.codeChangedDuringRun}`);
  return parts.join(", ");
}

/**
 * The comparison as text: where the baseline and the run come from, the table, a count of
 * better and worse (the same-run ratios apart), and how to read it.
 */
export function renderComparison(
  baseline: Baseline,
  inputs: readonly ResultsInput[],
  baselineName = "bench/baseline.json",
): string {
  const current: Figure[] = [];
  const kinds = new Set<ResultsKind>();
  const out: string[] = [];
  const runs: { file: string; p: Provenance; keys: Set<string> }[] = [];
  for (const { file, json } of inputs) {
    if (resultsKind(json) === undefined) {
      throw new Error(`${file}: not a results file of deno task bench, bench:episodes or bench:dashboard`);
    }
    const p = provenance(json);
    const figures = extractFigures(json);
    for (const f of figures) {
      const other = runs.find((r) => r.keys.has(f.key));
      if (other !== undefined) throw new Error(`${f.key} is in both ${other.file} and ${file}: give one of them`);
    }
    kinds.add(p.kind);
    current.push(...figures);
    runs.push({ file, p, keys: new Set(figures.map((f) => f.key)) });
  }
  const rows = compareFigures(baseline, current, kinds);
  out.push(`compared with ${baselineName}`);
  if (baseline.note !== undefined) out.push(`  its note: ${baseline.note}`);
  // the baseline's sources of the kinds compared, then each run with what differs from them
  for (const [id, s] of Object.entries(baseline.sources)) {
    if (!kinds.has(s.kind)) continue;
    out.push(`  baseline ${id} (${s.file}): ${describeSource(s)}`);
  }
  for (const { file, p, keys } of runs) {
    out.push(`  this run (${file}): ${describeSource(p)}`);
    for (const [id, s] of Object.entries(baseline.sources)) {
      const shared = Object.entries(baseline.figures).some(([k, f]) => f.from === id && keys.has(k));
      if (!shared || s.kind !== p.kind) continue;
      if (s.code !== null && s.code === p.code) {
        out.push(`  note: same code as baseline ${id}: any difference is the machine's`);
      }
      // each part of the baseline's settings must be among the run's (a full run holds a soak's)
      const parts = new Set((p.settings ?? "").split("; "));
      if (s.settings !== p.settings && !(s.settings ?? "").split("; ").every((x) => parts.has(x))) {
        out.push(
          `  note: baseline ${id} ran with ${s.settings ?? "settings not recorded"}, this run with ${p.settings}`,
        );
      }
      const cpus = (m: Provenance["machine"]) => m?.cpus;
      if (cpus(s.machine) !== undefined && cpus(p.machine) !== undefined && cpus(s.machine) !== cpus(p.machine)) {
        out.push(`  note: baseline ${id} ran on ${cpus(s.machine)} CPUs, this run on ${cpus(p.machine)}`);
      }
    }
  }
  out.push(
    "",
    table(
      ["figure", "unit", "baseline", "this run", "new/baseline", "change", "trust", "this run's detail"],
      rows.map((r) => [
        r.key,
        r.unit,
        formatValue(r.baseline, r.unit),
        formatValue(r.current, r.unit),
        formatRatio(r.ratio),
        ARROW[r.change],
        TRUST[r.kind],
        [r.detail, r.mismatch === undefined ? undefined : `NOT COMPARED: ${r.mismatch}`].filter((x) => x).join("; "),
      ]),
    ),
  );
  const count = (pick: (r: Row) => boolean, c: Change) => rows.filter((r) => pick(r) && r.change === c).length;
  const tally = (pick: (r: Row) => boolean) =>
    (["better", "worse", "same", "n/a"] as const).map((c) => `${count(pick, c)} ${c}`).join(", ");
  out.push(
    "",
    `same-run ratios (trust these): ${tally((r) => r.kind === "ratio")}`,
    `absolute and seeded figures: ${tally((r) => r.kind === "absolute" || r.kind === "seeded")}`,
    `references (the machine, not the code): ${count(() => true, "higher")} higher, ${
      count(() => true, "lower")
    } lower`,
    "",
    `"same" = within ${
      SAME_WITHIN * 100
    } % of the baseline (seeded figures: exactly equal). Absolute figures move with ` +
      "the machine's load; a reference going down means a slower machine, so read the ratios to the same-run " +
      "references first. A report, not a gate.",
  );
  return out.join("\n");
}
