/**
 * Graceful shutdown: turns the first SIGINT/SIGTERM into an aborted {@link AbortSignal} that the
 * loops watch, and exits hard if the process has not stopped within a grace period (or on a
 * second signal).
 *
 * @module
 */
import type { Logger } from "./log.ts";

/** The handle returned by {@link onShutdown}. */
export interface Shutdown extends Disposable {
  /** Aborted when a stop was asked for. */
  readonly signal: AbortSignal;
  /** Resolves when a stop was asked for (the signal aborted). */
  readonly done: Promise<void>;
  /** Asks for a stop programmatically (e.g. when a count is reached). */
  stop(reason?: string): void;
}

/**
 * Installs SIGINT and SIGTERM handlers. Dispose the handle (`using`) to remove them.
 *
 * @param log where to say what happens
 * @param graceMs how long a stop may take before the process exits with code 1
 * @example
 * ```ts ignore
 * import { onShutdown } from "./shutdown.ts";
 * using shutdown = onShutdown(log, 15_000);
 * while (!shutdown.signal.aborted) await work();
 * ```
 */
export function onShutdown(log: Logger, graceMs = 15_000): Shutdown {
  const controller = new AbortController();
  let timer: ReturnType<typeof setTimeout> | undefined;
  let firstAt = 0;
  const stop = (reason = "stop requested") => {
    if (controller.signal.aborted) return;
    firstAt = Date.now();
    controller.abort(new DOMException(reason, "AbortError"));
    timer = setTimeout(() => {
      log.error(`did not stop within ${graceMs / 1000} s; exiting`);
      Deno.exit(1);
    }, graceMs);
    Deno.unrefTimer(timer as unknown as number);
  };
  const handler = (name: Deno.Signal) => () => {
    if (controller.signal.aborted) {
      // `deno task` forwards the terminal's signal, so one Ctrl-C can arrive twice: only a
      // signal more than a second after the first means "stop now"
      if (Date.now() - firstAt < 1_000) return;
      log.warn(`second ${name}: exiting now`);
      Deno.exit(130);
    }
    log.info(`${name} received: finishing the current batch, then stopping`);
    stop(name);
  };
  const onInt = handler("SIGINT"), onTerm = handler("SIGTERM");
  Deno.addSignalListener("SIGINT", onInt);
  Deno.addSignalListener("SIGTERM", onTerm);
  const done = new Promise<void>((resolve) =>
    controller.signal.addEventListener("abort", () => resolve(), { once: true })
  );
  return {
    signal: controller.signal,
    done,
    stop,
    [Symbol.dispose]() {
      Deno.removeSignalListener("SIGINT", onInt);
      Deno.removeSignalListener("SIGTERM", onTerm);
      if (timer !== undefined) clearTimeout(timer);
    },
  };
}

/** Resolves after `ms`, or rejects at once when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
