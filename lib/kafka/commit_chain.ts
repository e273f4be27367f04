/**
 * Ordered offset commits for a pipelined consumer: per partition, each batch's commit runs only
 * after its own records and those of every earlier batch of the partition are stored, whatever
 * order the stores finish in. A store that fails breaks its partition's chain: no later commit of
 * that partition runs, so a committed offset never passes a record that is not stored.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { CommitChains } from "./commit_chain.ts";
 * const chains = new CommitChains();
 * const committed: number[] = [];
 * const stored = Promise.resolve(); // the sink's promise for the batch
 * chains.add(0, stored, () => {
 *   committed.push(0); // commit partition 0 past the batch
 * });
 * await chains.settled();
 * assert.deepEqual(committed, [0]);
 * ```
 *
 * @module
 */

/** Per-partition chains of commits; see the module documentation. */
export class CommitChains {
  readonly #tails = new Map<number, Promise<void>>();
  readonly #pending = new Set<Promise<void>>();

  /** Commits queued and not yet run or skipped. */
  get size(): number {
    return this.#pending.size;
  }

  /**
   * Queues `commit` for `partition`, to run once `stored` and every earlier link of the partition
   * resolved. If `stored` rejects, `onFailure` is called with the error (once, where the chain
   * breaks) and neither this commit nor any later one of the partition runs. Errors of `commit`
   * itself are the caller's to handle: one that throws also breaks the chain.
   */
  add(
    partition: number,
    stored: Promise<void>,
    commit: () => void | Promise<void>,
    onFailure?: (error: unknown) => void,
  ): void {
    stored.catch(() => {}); // handled in the chain
    const previous = this.#tails.get(partition) ?? Promise.resolve();
    const link = previous.then(async () => {
      try {
        await stored;
      } catch (error) {
        onFailure?.(error);
        throw error;
      }
      await commit();
    });
    this.#tails.set(partition, link);
    this.#pending.add(link);
    link.catch(() => {}).finally(() => this.#pending.delete(link));
  }

  /** Resolves once every queued commit ran or was skipped, including ones queued meanwhile. */
  async settled(): Promise<void> {
    while (this.#pending.size > 0) await Promise.allSettled([...this.#pending]);
  }
}
