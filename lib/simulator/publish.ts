/**
 * Pacing a simulation to the wall clock: a message is sent once its simulated time is reached,
 * so a run that starts in the past backfills at full speed and then follows real time.
 *
 * @module
 */
import { sleep } from "../ops/shutdown.ts";
import type { SimulatedMessage, Simulator } from "./simulator.ts";

/** Where simulated messages go: the Kafka publisher, or anything that takes keyed messages. */
export interface MessageSink {
  /** Accepts one message; may wait (back-pressure). */
  send(key: string, value: string | Uint8Array): Promise<void>;
  /** Sends what it holds and closes. */
  close(): Promise<void>;
}

/** What {@link publishSimulation} needs. */
export interface SimulationRun {
  /** The message source. */
  simulator: Simulator;
  /** Where messages go (the Kafka publisher). */
  publisher: MessageSink;
  /** Whether message `seq` is past the end of the run. */
  done: (seq: number) => boolean;
  /** Stops the run early (then the publisher still flushes what it accepted). */
  signal: AbortSignal;
  /** Called after each message is accepted. */
  onSent?: (message: SimulatedMessage) => void;
  /**
   * Which messages to send (default all). The others are still generated, so the simulation stays
   * the same, but skipped without waiting (e.g. one of several publishers sends its partitions).
   */
  include?: (message: SimulatedMessage) => boolean;
}

/**
 * Sends simulated messages in simulated-time order, paced to the wall clock: a message is sent
 * once its timestamp is reached, so a run starting in the past backfills at full speed and then
 * follows real time. Flushes and closes the publisher at the end or on abort.
 *
 * @returns how many messages were accepted
 */
export async function publishSimulation(run: SimulationRun): Promise<number> {
  const { simulator, publisher, done, signal } = run;
  let sent = 0;
  try {
    for (let seq = 0; !done(seq) && !signal.aborted; seq++) {
      const m = simulator.next();
      if (run.include !== undefined && !run.include(m)) continue;
      const ahead = m.timeMs - Date.now();
      if (ahead > 2) await sleep(ahead, signal).catch(() => {});
      if (signal.aborted) break;
      await publisher.send(m.key, m.value);
      sent++;
      run.onSent?.(m);
    }
  } finally {
    await publisher.close();
  }
  return sent;
}
