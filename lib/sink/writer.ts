/**
 * Retrying database steps without losing or skipping a record: a step that fails for a
 * `TransientError` (or anything else not about the data) is retried with exponential backoff
 * until it succeeds, heartbeating the caller's Kafka session meanwhile; a {@link DataError} is
 * thrown at once (retrying the same data cannot help). The sink is not ready while any writer's
 * last attempt failed, or while an attempt has been running longer than
 * {@link RetryOptions.stallMs} (a database link that carries nothing: the write has not failed,
 * but nothing is being stored).
 *
 * @module
 */
import type { Logger } from "../ops/log.ts";
import { sleep } from "../ops/shutdown.ts";
import { DataError } from "../storage/mod.ts";

/** Runs a database step, retrying it while it fails for a reason that may pass. */
export type Attempt = <T>(step: () => Promise<T>) => Promise<T>;

/** Options of {@link Readiness}. */
export interface RetryOptions {
  /** First retry delay, ms; doubles up to {@link RetryOptions.maxRetryMs}. */
  initialRetryMs: number;
  /** Longest retry delay, ms. */
  maxRetryMs: number;
  /** Logs each failed attempt. */
  log: Logger;
  /** Aborting it ends the retries (at shutdown while the database is down). */
  signal?: AbortSignal | undefined;
  /** Called when readiness changes (false while the database fails). */
  onReadyChange?: ((ready: boolean) => void) | undefined;
  /** An attempt running longer than this, ms, makes the sink not ready until it ends (default 10,000). */
  stallMs?: number | undefined;
}

/** One batch's attempts: how many failed, and the {@link Attempt} to run its steps with. */
export interface BatchAttempts {
  /** Runs a step with retries. */
  attempt: Attempt;
  /** Failed attempts so far. */
  readonly retries: number;
  /** Ends the batch: a batch that ends in an error after failing attempts no longer speaks for the database. */
  end(): void;
}

/** The sink's readiness across its writers, and the retry loop that feeds it. */
export class Readiness {
  readonly #o: RetryOptions;
  #failingWriters = 0;
  #ready = true;

  /** @param options see {@link RetryOptions} */
  constructor(options: RetryOptions) {
    this.#o = options;
  }

  /** False while any writer's last attempt failed; true otherwise. */
  get ready(): boolean {
    return this.#ready;
  }

  /**
   * Starts one batch's attempts. `keepAlive` is called after each failed attempt's delay (the
   * Kafka heartbeat, so that the group does not drop a member that waits on its database).
   */
  begin(keepAlive?: () => Promise<void>): BatchAttempts {
    let retries = 0;
    // a writer whose step needed no database (or that has not failed) says nothing about the others
    let failing = false;
    const setFailing = (now: boolean) => {
      if (failing === now) return;
      failing = now;
      this.#failingWriters += now ? 1 : -1;
      this.#setReady(this.#failingWriters === 0);
    };
    const o = this.#o;
    const stallMs = o.stallMs ?? 10_000;
    const attempt: Attempt = async (step) => {
      let delay = o.initialRetryMs;
      for (;;) {
        const stall = setTimeout(() => {
          o.log.warn("database write stalled; not ready until it ends", { stalledMs: stallMs });
          setFailing(true);
        }, stallMs);
        try {
          const result = await step();
          setFailing(false);
          return result;
        } catch (error) {
          if (error instanceof DataError) throw error;
          if (o.signal?.aborted) throw o.signal.reason;
          retries++;
          setFailing(true);
          o.log.warn("database write failed; retrying", { error, retryInMs: delay, attempt: retries });
          await sleep(delay, o.signal); // an abort ends the sink: it stays not ready
          await keepAlive?.().catch(() => {});
          delay = Math.min(o.maxRetryMs, delay * 2);
        } finally {
          clearTimeout(stall);
        }
      }
    };
    return {
      attempt,
      get retries() {
        return retries;
      },
      // unless the sink was stopped while the database was down: it stays not ready then
      end: () => {
        if (failing && !o.signal?.aborted) setFailing(false);
      },
    };
  }

  #setReady(ready: boolean): void {
    if (this.#ready === ready) return;
    this.#ready = ready;
    if (ready) this.#o.log.info("database writes succeed again");
    this.#o.onReadyChange?.(ready);
  }
}
