/**
 * The consumer's partition maintenance: {@link Repository.maintainPartitions} once at start and
 * then every `everyMs`, so that tomorrow's partitions exist and retention is applied even where
 * no cron runs `deno task db:maintain`. Each run logs what it changed; a lock it did not get is a
 * warning (the next run retries); a failure never stops the consumer, which goes on writing (a
 * day with no partition lands in the default one, which the next run empties).
 *
 * Requires what the repository requires.
 *
 * @module
 */
import type { Logger } from "../ops/log.ts";
import { TransientError } from "./errors.ts";
import type { PartitionAction } from "./repository.ts";

/** What the schedule needs of the repository. */
export interface Maintainer {
  maintainPartitions(): Promise<PartitionAction[]>;
}

/** A running schedule; `stop()` ends it. */
export interface MaintenanceSchedule {
  /** Resolves when the current run (if any) is over. */
  stop(): Promise<void>;
}

/** Runs maintenance now (awaited) and then every `everyMs` (0: only now). */
export async function startPartitionMaintenance(
  repository: Maintainer,
  options: { everyMs: number; log: Logger },
): Promise<MaintenanceSchedule> {
  const log = options.log.child({ component: "partitions" });
  let running: Promise<void> = Promise.resolve();
  let timer: ReturnType<typeof setInterval> | undefined;
  const run = async () => {
    const began = performance.now();
    try {
      const actions = await repository.maintainPartitions();
      for (const a of actions) {
        if (a.action === "skipped") log.warn("partition maintenance step skipped; the next run retries", { ...a });
        else log.info(`partition ${a.action}`, { partition: a.partition, detail: a.detail });
      }
      log.debug("partition maintenance done", { actions: actions.length, ms: Math.round(performance.now() - began) });
    } catch (error) {
      if (error instanceof TransientError && error.code === "42883") {
        log.warn("the database has no partition maintenance (it predates migration 002): run deno task db:migrate");
        if (timer !== undefined) clearInterval(timer);
        timer = undefined;
        return;
      }
      log.warn("partition maintenance failed; the next run retries", { error });
    }
  };
  running = run();
  await running;
  if (options.everyMs > 0) {
    timer = setInterval(() => void (running = running.then(run)), options.everyMs);
    Deno.unrefTimer(timer as unknown as number);
  }
  const stop = async () => {
    if (timer !== undefined) clearInterval(timer);
    timer = undefined;
    await running;
  };
  return { stop };
}
