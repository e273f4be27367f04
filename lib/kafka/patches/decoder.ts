/**
 * The consumer's side of the speed patches: kafkajs' record (v0) decoder and its fetched `Batch`
 * without BigInt arithmetic per message. Their output is what kafkajs' own give (`decoder_test.ts`
 * compares both on random records and batches).
 *
 * Why: kafkajs 2.2.4 computes every record's offset and timestamp as strings through its
 * BigInt-backed `Long` (parse the batch's first offset from its string, add the delta, print), reads
 * the timestamp delta as a `Long` varint, and its `Batch` parses every message's offset again to
 * compare it with the fetched offset. Under Deno that was a tenth of the consumer's CPU per record
 * (docs/performance.md). Offsets and timestamps stay below 2^53 for any topic a person will run,
 * so plain numbers give the same strings; anything else (a larger value, a record with headers, a
 * varint that does not fit) goes to kafkajs' own code, untouched.
 *
 * This module imports nothing of kafkajs: `mod.ts` hands it the functions it loaded.
 *
 * @module
 */

/** The slice of kafkajs' protocol Decoder that the record decoder uses. */
export interface DecoderLike {
  buffer: Uint8Array;
  offset: number;
  readInt8(): number;
  readVarInt(): number;
  readVarIntBytes(): Uint8Array | null;
}

/** The batch context kafkajs' record batch decoder hands to the record decoder. */
export interface RecordBatchContext {
  firstOffset?: string;
  firstTimestamp?: string;
  magicByte?: number;
  isControlBatch?: boolean;
  timestampType?: number;
  maxTimestamp?: string;
}

/** A decoded record, as kafkajs' record (v0) decoder returns it. */
export interface DecodedRecord {
  magicByte: number | undefined;
  attributes: number;
  timestamp: string;
  offset: string;
  key: Uint8Array | null;
  value: Uint8Array | null;
  headers: Record<string, unknown>;
  isControlRecord: boolean;
  batchContext: RecordBatchContext;
}

/** kafkajs' record (v0) decoder. */
export type RecordDecoder = (decoder: DecoderLike, batchContext?: RecordBatchContext) => DecodedRecord;

/** kafkajs' `TimestampTypes.LOG_APPEND_TIME`. */
const LOG_APPEND_TIME = 1;

/** The integer a decimal string holds, or NaN unless it is a safe integer printed as `String` would. */
function safeInteger(text: string | undefined): number {
  if (text === undefined) return Number.NaN;
  const n = Number(text);
  return Number.isSafeInteger(n) && String(n) === text ? n : Number.NaN;
}

/**
 * Reads a zigzag varint of at most 7 bytes (49 bits) at `decoder.offset` as a number and moves
 * past it; NaN (offset unchanged) when it is longer or runs past the buffer.
 */
function readSmallVarLong(decoder: DecoderLike): number {
  const buf = decoder.buffer;
  let at = decoder.offset, value = 0, scale = 1;
  for (let i = 0; i < 7; i++) {
    if (at >= buf.length) return Number.NaN;
    const byte = buf[at++]!;
    value += (byte & 0x7f) * scale;
    if (byte < 0x80) {
      decoder.offset = at;
      return value % 2 === 0 ? value / 2 : -(value + 1) / 2;
    }
    scale *= 128;
  }
  return Number.NaN;
}

/**
 * kafkajs' record (v0) decoder with numbers instead of `Long`: same fields, same strings. A record
 * that the number path cannot decode exactly (see the module documentation) is decoded by
 * `original`, from its start.
 *
 * @param original kafkajs' record (v0) decoder
 */
export function numberRecordDecoder(original: RecordDecoder): RecordDecoder {
  // the batch context is one object per record batch: its first offset and timestamp parsed once
  let context: RecordBatchContext | undefined;
  let firstOffset = Number.NaN, firstTimestamp = Number.NaN;
  return (decoder, batchContext = {}) => {
    if (batchContext !== context) {
      context = batchContext;
      firstOffset = safeInteger(batchContext.firstOffset);
      firstTimestamp = safeInteger(batchContext.firstTimestamp);
    }
    const { magicByte, isControlBatch = false, timestampType, maxTimestamp } = batchContext;
    const start = decoder.offset;
    if (Number.isNaN(firstOffset) || Number.isNaN(firstTimestamp) || start >= decoder.buffer.length) {
      return original(decoder, batchContext);
    }
    const attributes = decoder.readInt8();
    const timestampDelta = readSmallVarLong(decoder);
    const timestampSum = firstTimestamp + timestampDelta;
    if (!Number.isSafeInteger(timestampSum)) {
      decoder.offset = start;
      return original(decoder, batchContext);
    }
    const timestamp = timestampType === LOG_APPEND_TIME && maxTimestamp ? maxTimestamp : String(timestampSum);
    const offsetSum = firstOffset + decoder.readVarInt();
    const key = decoder.readVarIntBytes();
    const value = decoder.readVarIntBytes();
    // no headers: one zero byte (zigzag 0); anything else, and any overrun, goes to kafkajs
    if (
      !Number.isSafeInteger(offsetSum) || decoder.offset >= decoder.buffer.length ||
      decoder.buffer[decoder.offset] !== 0
    ) {
      decoder.offset = start;
      return original(decoder, batchContext);
    }
    decoder.offset++;
    return {
      magicByte,
      attributes,
      timestamp,
      offset: String(offsetSum),
      key,
      value,
      headers: {},
      isControlRecord: isControlBatch,
      batchContext,
    };
  };
}

/** A fetched message as kafkajs' `Batch` reads it. */
interface BatchMessage {
  offset: string;
  isControlRecord?: boolean;
}

/** The partition data kafkajs hands a `Batch`. */
interface PartitionData {
  partition: number;
  highWatermark: string;
  abortedTransactions?: unknown[] | null;
  messages: BatchMessage[];
}

/** kafkajs' `Batch` class, as far as this module uses it. */
export interface BatchClass {
  new (topic: string, fetchedOffset: string, partitionData: PartitionData): object;
  prototype: object;
}

/** kafkajs' `filterAbortedMessages`. */
export type FilterAborted = (
  args: { messages: BatchMessage[]; abortedTransactions?: unknown[] | null | undefined },
) => BatchMessage[];

/**
 * kafkajs' `Batch` with the fetched-offset filter on numbers: the same fields, the same prototype
 * (so the same methods and `instanceof`). A batch whose offsets are not all safe integers is built
 * by kafkajs' own class.
 *
 * @param Original kafkajs' `Batch`
 * @param filterAbortedMessages kafkajs' `filterAbortedMessages`
 */
export function numberBatch(Original: BatchClass, filterAbortedMessages: FilterAborted): BatchClass {
  interface Fields {
    fetchedOffset: string;
    topic: string;
    partition: number;
    highWatermark: string;
    rawMessages: BatchMessage[];
    messagesWithinOffset: BatchMessage[];
    messages: BatchMessage[];
  }
  function Batch(this: Fields, topic: string, fetchedOffset: string, partitionData: PartitionData) {
    const fetched = safeInteger(String(fetchedOffset));
    const { abortedTransactions, messages } = partitionData;
    const offsets = new Array<number>(messages.length);
    for (let i = 0; i < messages.length; i++) {
      const n = safeInteger(messages[i]!.offset);
      if (Number.isNaN(n) || Number.isNaN(fetched)) return new Original(topic, fetchedOffset, partitionData);
      offsets[i] = n;
    }
    this.fetchedOffset = fetchedOffset;
    this.topic = topic;
    this.partition = partitionData.partition;
    this.highWatermark = partitionData.highWatermark;
    this.rawMessages = messages;
    // fetch can return records before the offset asked for (compressed batches): kafkajs drops them
    this.messagesWithinOffset = messages.filter((_, i) => offsets[i]! >= fetched);
    this.messages = filterAbortedMessages({ messages: this.messagesWithinOffset, abortedTransactions })
      .filter((message) => !message.isControlRecord);
  }
  Batch.prototype = Original.prototype;
  return Batch as unknown as BatchClass;
}
