/**
 * The kafkajs patches, fenced: one {@link install} puts every patch in place and says, for each,
 * whether it took. Four exist because kafkajs 2.2.4 (its last release) spends half of the
 * producer's CPU under Deno in three places, and a tenth of the consumer's in a fourth
 * (docs/architecture.md, docs/performance.md):
 *
 * - `grouping`: the producer's quadratic `groupMessagesPerPartition` (`grouping.ts`);
 * - `record`: the record (v0) encoder that zero-fills and copies a 512-byte buffer per record
 *   (`encoder.ts`, {@link directRecordEncoder});
 * - `encoder`: the protocol Encoder's varint and copy methods (`encoder.ts`, {@link EncoderPatch});
 * - `decoder`: the record (v0) decoder and the consumer's `Batch`, which compute every record's
 *   offset and timestamp with BigInt-backed longs (`decoder.ts`).
 *
 * Two fix defects, and are installed whatever the switch says (`HEARTBEAT_KAFKAJS_PATCHES=off`
 * turns off the four speed patches only):
 *
 * - `send`: the producer's request loop, which loses acknowledged messages when partition
 *   leadership moves during a send (`send.ts`);
 * - `coordinator`: the consumer's offset manager, which keeps committing to a group coordinator
 *   that moved, for ever (`coordinator.ts`).
 *
 * kafkajs' producer captures the first two when it loads, so they must be in kafkajs' CommonJS
 * module cache before kafkajs loads: `preload.ts` calls {@link install} as a side effect and
 * every module that imports kafkajs imports it first (tests/layout_test.ts checks the evaluation
 * order on the module graph). Each kafkajs file is reached through a guarded `require`: a kafkajs
 * whose files moved or whose code changed is left as it is, and the state says so
 * (`unknown`, `failed`), never a crash.
 * `deno task check:patches` fails unless every state is `installed`.
 *
 * @module
 */
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import {
  directRecordEncoder,
  type EncodedRecord,
  type EncoderClass,
  EncoderPatch,
  type RecordArgs,
} from "./encoder.ts";
import { type GroupArgs, groupMessagesPerPartition } from "./grouping.ts";
import { partitionSafeSendMessages, type SendDeps } from "./send.ts";
import { followingCoordinator, type OffsetManagerLike } from "./coordinator.ts";
import {
  type BatchClass,
  type FilterAborted,
  numberBatch,
  numberRecordDecoder,
  type RecordDecoder,
} from "./decoder.ts";

/**
 * Whether a patch took: `installed`; `off` when turned off (`HEARTBEAT_KAFKAJS_PATCHES=off`);
 * `late` when kafkajs' module that captures it had loaded before (an import order mistake);
 * `unknown` when kafkajs' code is not the one it replaces (another kafkajs version); `failed`
 * when kafkajs' file could not be loaded at all (moved, hidden by an `exports` map, or another
 * CommonJS loader).
 */
export type PatchState = "installed" | "off" | "late" | "unknown" | "failed";

/** The names of the patches, in the order they are installed. */
export const PATCHES = ["encoder", "grouping", "record", "decoder", "send", "coordinator"] as const;

/** The state of every patch. */
export type PatchReport = Record<typeof PATCHES[number], PatchState>;

/** A line of each patched kafkajs source: without it, kafkajs is not the one the patch was written for. */
export interface PatchMarks {
  /** Marks of the four Encoder methods. */
  encoder: Record<"sizeOfVarLong" | "writeUVarInt" | "writeVarLong" | "writeBufferInternal", string>;
  /** A line of kafkajs' `groupMessagesPerPartition`. */
  grouping: string;
  /** A line of kafkajs' record (v0) encoder. */
  record: string;
  /** A line of kafkajs' record (v0) decoder and one of its consumer's `Batch`. */
  decoder: Record<"record" | "batch", string>;
  /** A line of kafkajs' `sendMessages`. */
  send: string;
  /** A line of kafkajs' `OffsetManager.prototype.commitOffsets`. */
  coordinator: string;
}

/** The environment variable that turns the patches off (`off`) or on (`on`, the default). */
export const PATCHES_ENV = "HEARTBEAT_KAFKAJS_PATCHES";

/** The kafkajs files patched, and the files that capture them when they load. */
const FILES = {
  encoder: "kafkajs/src/protocol/encoder.js",
  grouping: "kafkajs/src/producer/groupMessagesPerPartition.js",
  groupingCaller: "kafkajs/src/producer/sendMessages.js",
  record: "kafkajs/src/protocol/recordBatch/record/v0/index.js",
  recordCaller: "kafkajs/src/protocol/requests/produce/v3/request.js",
  recordDecoder: "kafkajs/src/protocol/recordBatch/record/v0/decoder.js",
  recordDecoderCaller: "kafkajs/src/protocol/recordBatch/v0/decoder.js",
  batch: "kafkajs/src/consumer/batch.js",
  batchCaller: "kafkajs/src/consumer/consumerGroup.js",
  filterAborted: "kafkajs/src/consumer/filterAbortedMessages.js",
  send: "kafkajs/src/producer/sendMessages.js",
  sendCaller: "kafkajs/src/producer/messageProducer.js",
  errors: "kafkajs/src/errors.js",
  protocolErrors: "kafkajs/src/protocol/error.js",
  offsetManager: "kafkajs/src/consumer/offsetManager/index.js",
} as const;

type Group = <M>(args: GroupArgs<M>) => Record<number, M[]>;
type RecordEncoder = (args: RecordArgs) => EncodedRecord;

/** kafkajs' own functions behind the patches, for the tests that compare both (when they loaded). */
export interface Originals {
  /** kafkajs' Encoder class, with its own methods kept in the patch. */
  encoder?: EncoderPatch;
  /** kafkajs' `groupMessagesPerPartition`. */
  groupMessagesPerPartition?: Group;
  /** kafkajs' record (v0) encoder. */
  recordEncoder?: RecordEncoder;
  /** kafkajs' record (v0) decoder. */
  recordDecoder?: RecordDecoder;
  /** kafkajs' consumer `Batch`. */
  batch?: BatchClass;
  /** kafkajs' `sendMessages` factory. */
  sendMessages?: unknown;
  /** kafkajs' `OffsetManager.prototype.commitOffsets`. */
  commitOffsets?: unknown;
}

/** Options of {@link install}. */
export interface InstallOptions {
  /** False installs nothing and reports every patch `off` (default true). */
  enabled?: boolean;
  /** The marks to check kafkajs' sources against (tests give others to see a refusal). */
  marks?: PatchMarks;
}

/** The marks of kafkajs 2.2.4. */
export const KAFKAJS_2_2_4_MARKS: Readonly<PatchMarks> = Object.freeze({
  encoder: {
    sizeOfVarLong: "Encoder.encodeZigZag64(value)",
    writeUVarInt: "this.writeBufferInternal(Buffer.from(byteArray))",
    writeVarLong: "Encoder.encodeZigZag64(value)",
    writeBufferInternal: "buffer.copy(this.buf, this.offset, 0)",
  },
  grouping: "[...current, message]",
  record: "writeVarIntArray(headersArray.map(Header))",
  decoder: {
    record: "Long.fromValue(firstOffset)",
    batch: "Long.fromValue(message.offset).gte(longFetchedOffset)",
  },
  send: "brokersWithoutResponse",
  coordinator: "e.type === 'NOT_COORDINATOR_FOR_GROUP'",
});

let done: { report: PatchReport; originals: Originals } | undefined;

/**
 * Installs every patch, once: later calls return the first call's report. Never throws.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { install } from "./mod.ts";
 * const report = install(); // preload.ts already did: the same report
 * assert.deepEqual(Object.keys(report), ["encoder", "grouping", "record", "decoder", "send", "coordinator"]);
 * ```
 */
export function install(options: InstallOptions = {}): PatchReport {
  if (done !== undefined) return done.report;
  const marks = options.marks ?? KAFKAJS_2_2_4_MARKS;
  const originals: Originals = {};
  if (options.enabled === false) {
    const send = installSend(marks, originals);
    const coordinator = installCoordinator(marks, originals);
    done = { report: { encoder: "off", grouping: "off", record: "off", decoder: "off", send, coordinator }, originals };
    return done.report;
  }
  let encoder: PatchState;
  try {
    const patch = new EncoderPatch(load<EncoderClass>(FILES.encoder));
    originals.encoder = patch;
    encoder = patch.install(marks.encoder) ? "installed" : "unknown";
  } catch {
    encoder = "failed";
  }
  const grouping = swap<Group>(FILES.grouping, FILES.groupingCaller, marks.grouping, (original) => {
    originals.groupMessagesPerPartition = original;
    return groupMessagesPerPartition;
  });
  const Encoder = originals.encoder?.Encoder;
  const record = Encoder === undefined
    ? "failed"
    : swap<RecordEncoder>(FILES.record, FILES.recordCaller, marks.record, (original) => {
      originals.recordEncoder = original;
      return directRecordEncoder(original, Encoder);
    });
  const decoder = installDecoder(marks, originals);
  const send = installSend(marks, originals);
  const coordinator = installCoordinator(marks, originals);
  done = { report: { encoder, grouping, record, decoder, send, coordinator }, originals };
  return done.report;
}

/** Swaps kafkajs' record (v0) decoder and consumer `Batch` for the number-based ones; installed when both are. */
function installDecoder(marks: PatchMarks, originals: Originals): PatchState {
  const record = swap<RecordDecoder>(
    FILES.recordDecoder,
    FILES.recordDecoderCaller,
    marks.decoder.record,
    (original) => {
      originals.recordDecoder = original;
      return numberRecordDecoder(original);
    },
  );
  let filterAborted: FilterAborted;
  try {
    filterAborted = load<FilterAborted>(FILES.filterAborted);
    if (typeof filterAborted !== "function") return "unknown";
  } catch {
    return "failed";
  }
  const batch = swap<BatchClass>(FILES.batch, FILES.batchCaller, marks.decoder.batch, (original) => {
    originals.batch = original;
    return numberBatch(original, filterAborted);
  });
  const worst: PatchState[] = ["failed", "unknown", "late"];
  return worst.find((state) => record === state || batch === state) ?? "installed";
}

/** Wraps kafkajs' `OffsetManager.prototype.commitOffsets` with {@link followingCoordinator}. */
function installCoordinator(marks: PatchMarks, originals: Originals): PatchState {
  try {
    const proto = load<{ prototype: OffsetManagerLike }>(FILES.offsetManager).prototype;
    const original = proto.commitOffsets;
    if (typeof original !== "function" || !String(original).includes(marks.coordinator)) return "unknown";
    originals.commitOffsets = original;
    proto.commitOffsets = followingCoordinator(original);
    return "installed";
  } catch {
    return "failed";
  }
}

/** Swaps kafkajs' `sendMessages` for {@link partitionSafeSendMessages}, on the grouping in place. */
function installSend(marks: PatchMarks, originals: Originals): PatchState {
  let deps: SendDeps;
  try {
    const errors = load<{ KafkaJSMetadataNotLoaded: SendDeps["MetadataNotLoaded"] }>(FILES.errors);
    const protocol = load<{ staleMetadata: SendDeps["staleMetadata"] }>(FILES.protocolErrors);
    deps = {
      groupMessagesPerPartition: load<SendDeps["groupMessagesPerPartition"]>(FILES.grouping),
      staleMetadata: protocol.staleMetadata,
      MetadataNotLoaded: errors.KafkaJSMetadataNotLoaded,
    };
    if (typeof deps.staleMetadata !== "function" || typeof deps.MetadataNotLoaded !== "function") return "unknown";
  } catch {
    return "failed";
  }
  return swap<unknown>(FILES.send, FILES.sendCaller, marks.send, (original) => {
    originals.sendMessages = original;
    return partitionSafeSendMessages(deps);
  });
}

/** kafkajs' own functions behind the patches (empty before {@link install}, or when they are off). */
export function originals(): Originals {
  return done?.originals ?? {};
}

/**
 * Reads the switch: `on` (or unset) installs the patches, `off` does not.
 *
 * @throws {TypeError} for any other value, naming the variable
 */
export function patchesEnabled(value: string | undefined): boolean {
  if (value === undefined || value === "" || value === "on") return true;
  if (value === "off") return false;
  throw new TypeError(`Invalid ${PATCHES_ENV} (environment): expected on or off, got ${JSON.stringify(value)}`);
}

/** The patches of a report that are not installed, e.g. `["grouping (late)"]`. */
export function notInstalled(report: PatchReport): string[] {
  return PATCHES.filter((p) => report[p] !== "installed").map((p) => `${p} (${report[p]})`);
}

/** Requires a kafkajs file, resolved as imports are (`require.resolve` would need `--allow-read`). */
function load<T>(specifier: string): T {
  return createRequire(import.meta.url)(pathOf(specifier)) as T;
}

function pathOf(specifier: string): string {
  return fileURLToPath(import.meta.resolve(specifier));
}

/**
 * Swaps the CommonJS module `target` (a kafkajs file) for `replace(original)` in the module cache,
 * before `caller` (the kafkajs file that requires it) loads. `mark` is a line of the original's
 * source. Never throws.
 */
function swap<F>(target: string, caller: string, mark: string, replace: (original: F) => F): PatchState {
  try {
    const require = createRequire(import.meta.url);
    if (pathOf(caller) in require.cache) return "late";
    const path = pathOf(target);
    const original: F = require(path);
    if (!String(original).includes(mark)) return "unknown";
    const cached = require.cache[path];
    if (cached === undefined) return "failed";
    cached.exports = replace(original);
    return "installed";
  } catch {
    return "failed";
  }
}
