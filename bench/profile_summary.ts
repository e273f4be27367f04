#!/usr/bin/env -S deno run --allow-read
/**
 * Summarises a V8 CPU profile (`deno run --cpu-prof`, e.g. the consumer's from
 * `deno task bench --cpu-prof`): self time by package or module (kafkajs, pg, zod, our lib/...,
 * garbage collection, idle) and the hottest functions.
 *
 * ```sh
 * deno run --allow-read bench/profile_summary.ts bench/results/profiles/<stamp>/CPU.*.cpuprofile [--top 30]
 * ```
 *
 * @module
 */
import { parseArgs } from "node:util";
import { table } from "./report.ts";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}

interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** The package or module a frame belongs to, e.g. `kafkajs`, `pg-protocol`, `lib/sink.ts`. */
export function ownerOf(url: string, functionName: string): string {
  if (url === "") return functionName.startsWith("(") ? functionName : "(native)";
  const npm = /\/npm\/registry\.npmjs\.org\/(@[^/]+\/[^/]+|[^/]+)\/[^/]+\/(.*)$/.exec(url);
  if (npm !== null) {
    const pkg = npm[1]!;
    if (pkg === "kafkajs") {
      const area = /^src\/([^/]+)(?:\/([^/]+))?/.exec(npm[2]!);
      return `kafkajs/${area?.[1] ?? "?"}${area?.[2] && !area[2].endsWith(".js") ? `/${area[2]}` : ""}`;
    }
    return pkg;
  }
  const ours = /\/(lib|bench|tests)\/([^/]+)$/.exec(url) ?? /\/([^/]+\.ts)$/.exec(url);
  if (ours !== null) return ours.length === 3 ? `${ours[1]}/${ours[2]}` : ours[1]!;
  if (url.startsWith("ext:") || url.startsWith("node:")) return url.replace(/^(ext:[^/]+|node:[^/]+).*$/, "$1");
  return url;
}

/** Self time in ms by owner and by function, and the profile's length. */
export function summarise(p: Profile): {
  totalMs: number;
  byOwner: Map<string, number>;
  byFunction: Map<string, number>;
} {
  const node = new Map(p.nodes.map((n) => [n.id, n]));
  const selfMs = new Map<number, number>();
  for (let i = 0; i < p.samples.length; i++) {
    const id = p.samples[i]!;
    selfMs.set(id, (selfMs.get(id) ?? 0) + (p.timeDeltas[i] ?? 0) / 1000);
  }
  const byOwner = new Map<string, number>(), byFunction = new Map<string, number>();
  let totalMs = 0;
  for (const [id, ms] of selfMs) {
    const n = node.get(id);
    if (n === undefined) continue;
    const { functionName, url, lineNumber } = n.callFrame;
    const owner = ownerOf(url, functionName);
    byOwner.set(owner, (byOwner.get(owner) ?? 0) + ms);
    const fn = `${functionName || "(anonymous)"} ${owner}:${lineNumber + 1}`;
    byFunction.set(fn, (byFunction.get(fn) ?? 0) + ms);
    totalMs += ms;
  }
  return { totalMs, byOwner, byFunction };
}

function rows(m: Map<string, number>, total: number, top: number): string[][] {
  return [...m].sort((a, b) => b[1] - a[1]).slice(0, top).map(([k, ms]) => [
    k,
    (ms / 1000).toFixed(2),
    `${(100 * ms / total).toFixed(1)}%`,
  ]);
}

if (import.meta.main) {
  const { values, positionals } = parseArgs({
    args: Deno.args,
    allowPositionals: true,
    options: { top: { type: "string", default: "25" } },
  });
  const top = Number(values.top);
  for (const file of positionals) {
    const p = JSON.parse(await Deno.readTextFile(file)) as Profile;
    const s = summarise(p);
    const busy = s.totalMs - (s.byOwner.get("(idle)") ?? 0);
    console.log(`${file}: ${(s.totalMs / 1000).toFixed(1)} s sampled, ${(busy / 1000).toFixed(1)} s busy\n`);
    console.log(table(["owner (self time)", "s", "share"], rows(s.byOwner, s.totalMs, top)));
    console.log();
    console.log(table(["function (self time)", "s", "share"], rows(s.byFunction, s.totalMs, top)));
    console.log();
  }
}
