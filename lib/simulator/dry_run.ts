/**
 * `--dry-run`: the simulated messages as NDJSON on stdout instead of Kafka. One line per message
 * (`{"seq","key","value"|"value_base64","truth"}`) and, when an injected anomaly episode ends,
 * one line of ground truth (`{"episode":{...}}`).
 *
 * @module
 */
import type { Episode, SimulatedMessage, Simulator } from "./simulator.ts";

/** NDJSON line of a message: the payload as text, or base64 when it is not UTF-8 text. */
export function dryRunLine(m: SimulatedMessage): string {
  const value = typeof m.value === "string"
    ? { value: m.value }
    : { value_base64: btoa(String.fromCharCode(...m.value)) };
  return JSON.stringify({ seq: m.seq, key: m.key, ...value, truth: m.truth });
}

/** NDJSON line of an injected anomaly episode. */
export function episodeLine(e: Episode): string {
  return JSON.stringify({
    episode: {
      customer_id: e.customerId,
      kind: e.kind,
      start: new Date(e.startMs).toISOString(),
      end: new Date(e.endMs).toISOString(),
      readings: e.readings,
      target_bpm: e.targetBpm,
      clock_skew_ms: e.clockSkewMs,
      delivered: e.delivered,
      asleep: e.asleep,
      in_gap: e.inGap,
      late: e.late,
    },
  });
}

/** Where the lines go and when to stop. */
export interface DryRunOptions {
  /** The simulator, built with `onEpisode` pushing into `episodes`. */
  simulator: Simulator;
  /** Episodes reported by the simulator, drained as they come. */
  episodes: Episode[];
  /** Whether message `seq` is past the end of the run. */
  done: (seq: number) => boolean;
  /** Stops early when aborted. */
  signal: AbortSignal;
  /** The output (default: stdout). */
  out?: WritableStream<Uint8Array>;
}

/** Writes the run as NDJSON, in chunks of 1,000 lines. */
export async function printDryRun(options: DryRunOptions): Promise<void> {
  const { simulator, episodes, done, signal } = options;
  const out = (options.out ?? Deno.stdout.writable).getWriter();
  const encoder = new TextEncoder();
  let chunk: string[] = [];
  const flush = async () => {
    if (chunk.length > 0) await out.write(encoder.encode(chunk.join("\n") + "\n"));
    chunk = [];
  };
  for (let seq = 0; !done(seq) && !signal.aborted; seq++) {
    chunk.push(dryRunLine(simulator.next()));
    for (const e of episodes.splice(0)) chunk.push(episodeLine(e));
    if (chunk.length >= 1000) await flush();
  }
  simulator.finish();
  for (const e of episodes.splice(0)) chunk.push(episodeLine(e));
  await flush();
  await out.close().catch(() => {});
}
