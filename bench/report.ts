/**
 * Formatting of the benchmark's results: numbers, the printed table, a least-squares slope for
 * memory over time, and CPU-seconds per 100,000 records.
 *
 * @module
 */

/**
 * CPU-seconds per 100,000 records of a process group that used `pctOfCore` percent of one core for
 * `wallS` seconds while `records` went through; undefined when a figure is missing or no record went.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { cpuPer100k } from "./report.ts";
 * assert.equal(cpuPer100k(75, 20, 1_000_000), 1.5);
 * ```
 */
export function cpuPer100k(pctOfCore: number | undefined, wallS: number | undefined, records: number | undefined) {
  if (pctOfCore === undefined || wallS === undefined || !records) return undefined;
  return (pctOfCore / 100) * wallS / (records / 100_000);
}

/** Formats a number with thousands separators and `digits` decimals; `n/a` for NaN/undefined. */
export function num(n: number | undefined, digits = 0): string {
  if (n === undefined || !Number.isFinite(n)) return "n/a";
  return n.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** Formats a ratio as `0.42×`. */
export function ratio(a: number | undefined, b: number | undefined, digits = 2): string {
  if (a === undefined || b === undefined || !Number.isFinite(a) || !Number.isFinite(b) || b === 0) return "n/a";
  return `${(a / b).toFixed(digits)}×`;
}

/** Renders rows as a Markdown table (which reads well on a terminal too). */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(" | ")} |`;
  return [line(header), `| ${widths.map((w) => "-".repeat(w)).join(" | ")} |`, ...rows.map(line)].join("\n");
}

/**
 * Least-squares slope of `y` over `x`.
 *
 * @example
 * ```ts
 * import { slope } from "./report.ts";
 * slope([[0, 1], [1, 3], [2, 5]]); // 2
 * ```
 */
export function slope(points: readonly (readonly [number, number])[]): number {
  const n = points.length;
  if (n < 2) return NaN;
  let sx = 0, sy = 0, sxx = 0, sxy = 0;
  for (const [x, y] of points) {
    sx += x;
    sy += y;
    sxx += x * x;
    sxy += x * y;
  }
  const d = n * sxx - sx * sx;
  return d === 0 ? NaN : (n * sxy - sx * sy) / d;
}

/** SHA-256 (hex) of each file of the pipeline's code, to record what a run measured. */
export async function codeFingerprint(root: URL): Promise<Record<string, string>> {
  const files: string[] = ["deno.json", "deno.lock", "producer.ts", "consumer.ts"];
  for (const dir of ["lib", "sql"]) {
    for await (const e of Deno.readDir(new URL(`${dir}/`, root))) {
      if (e.isFile && /\.(ts|sql)$/.test(e.name) && !e.name.endsWith("_test.ts")) files.push(`${dir}/${e.name}`);
    }
  }
  const out: Record<string, string> = {};
  for (const f of files.sort()) {
    const bytes = await Deno.readFile(new URL(f, root)).catch(() => new Uint8Array());
    const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
    out[f] = Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
  }
  return out;
}

/** One short hash of a {@link codeFingerprint}. */
export async function fingerprintHash(files: Record<string, string>): Promise<string> {
  const text = Object.entries(files).map(([f, h]) => `${f} ${h}`).join("\n");
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)));
  return Array.from(digest.slice(0, 6), (b) => b.toString(16).padStart(2, "0")).join("");
}
