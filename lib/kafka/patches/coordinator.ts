/**
 * kafkajs' offset manager taught to follow the group coordinator when it moves: the second patch
 * that fixes a defect rather than a cost.
 *
 * kafkajs 2.2.4's `OffsetManager` is given the group coordinator once, when the member joins, and
 * keeps it: a commit answered NOT_COORDINATOR_FOR_GROUP (the coordinator moved, as in a rolling
 * restart of the brokers) only refreshes the cluster metadata and is retried against the same
 * broker, for ever; a coordinator that died is reconnected to by its node id, for ever. While the
 * consumer runs, a failing heartbeat makes it rejoin and find the new coordinator; on a stop there
 * is no heartbeat, and the final commit never lands (seen in tests/cluster_faults_suite.ts: both
 * consumers past their 30 s grace after a rolling restart, and after a broker was killed).
 * {@link followingCoordinator} looks the coordinator up again after such a failure, so the retry
 * goes to the new one.
 *
 * @module
 */

/** The protocol error types after which the coordinator is looked up again. */
export const COORDINATOR_MOVED: ReadonlySet<string> = new Set([
  "NOT_COORDINATOR_FOR_GROUP",
  "GROUP_COORDINATOR_NOT_AVAILABLE",
]);

/** The kafkajs error names that say the coordinator's broker cannot be reached (it may have died). */
export const COORDINATOR_UNREACHABLE: ReadonlySet<string> = new Set([
  "KafkaJSConnectionError",
  "KafkaJSConnectionClosedError",
  "KafkaJSRequestTimeoutError",
  "KafkaJSBrokerNotFound",
]);

/** Whether a failed commit should look the coordinator up again before kafkajs retries it. */
export function coordinatorMayHaveMoved(error: unknown): boolean {
  const e = error as { type?: string; name?: string; code?: string };
  return COORDINATOR_MOVED.has(e.type ?? "") || COORDINATOR_UNREACHABLE.has(e.name ?? "") ||
    e.code === "ECONNREFUSED";
}

/** The part of kafkajs' `OffsetManager` the patch touches. */
export interface OffsetManagerLike {
  groupId: string;
  coordinator: unknown;
  cluster: { findGroupCoordinator(args: { groupId: string }): Promise<unknown> };
  commitOffsets(offsets?: unknown): Promise<void>;
}

/**
 * Wraps kafkajs' `OffsetManager.prototype.commitOffsets`: after a failure that
 * {@link coordinatorMayHaveMoved}, the manager's coordinator is looked up again (a failed lookup is left
 * to the next attempt), then the failure goes on to kafkajs' retries as before.
 *
 * @param original kafkajs' own `commitOffsets`
 * @returns the method to put in its place
 */
export function followingCoordinator(
  original: (this: OffsetManagerLike, offsets?: unknown) => Promise<void>,
): (this: OffsetManagerLike, offsets?: unknown) => Promise<void> {
  return async function (this: OffsetManagerLike, offsets?: unknown): Promise<void> {
    try {
      return await original.call(this, offsets);
    } catch (error) {
      if (coordinatorMayHaveMoved(error)) {
        try {
          this.coordinator = await this.cluster.findGroupCoordinator({ groupId: this.groupId });
        } catch {
          // the next attempt looks again
        }
      }
      throw error;
    }
  };
}
