/**
 * Progress reporting for the command line: a live status line on a terminal, periodic log lines
 * otherwise, and number formatting for both.
 *
 * @module
 */
import type { Logger } from "./log.ts";

/** Formats a count with thousands separators, e.g. `1,234,567`. */
export function formatCount(n: number): string {
  return Math.round(n).toLocaleString("en-US");
}

/** Formats seconds as `1h02m03s`, `2m03s` or `3.4s`. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return "?";
  if (seconds < 60) return `${seconds.toFixed(1)}s`;
  const h = Math.floor(seconds / 3600), m = Math.floor((seconds % 3600) / 60), s = Math.floor(seconds % 60);
  const mm = String(m).padStart(2, "0"), ss = String(s).padStart(2, "0");
  return h > 0 ? `${h}h${mm}m${ss}s` : `${m}m${ss}s`;
}

/** A progress reporter: call {@link Progress.update} often; it prints at most every `everyMs`. */
export class Progress {
  readonly #log: Logger;
  readonly #render: () => { line: string; fields: Record<string, unknown> };
  readonly #everyMs: number;
  readonly #tty: boolean;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #drawn = false;

  /**
   * @param log where non-terminal progress goes
   * @param render builds the status line and its structured fields
   * @param everyMs how often to print (terminal: 1 s is good; logs: 10 s)
   */
  constructor(log: Logger, render: () => { line: string; fields: Record<string, unknown> }, everyMs?: number) {
    this.#log = log;
    this.#render = render;
    this.#tty = Deno.stderr.isTerminal();
    this.#everyMs = everyMs ?? (this.#tty ? 1000 : 10_000);
  }

  /** Starts printing periodically. */
  start(): void {
    this.#timer = setInterval(() => this.#print(), this.#everyMs);
  }

  /** Stops printing and ends the live line. */
  stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    if (this.#drawn) Deno.stderr.writeSync(new TextEncoder().encode("\n"));
    this.#drawn = false;
  }

  #print(): void {
    const { line, fields } = this.#render();
    if (this.#tty) {
      Deno.stderr.writeSync(new TextEncoder().encode(`\r\x1b[2K${line}`));
      this.#drawn = true;
    } else {
      this.#log.info("progress", fields);
    }
  }
}
