/**
 * What a failed database call means for the caller, decided here so that no other folder knows
 * PostgreSQL's error codes: a {@link DataError} is about the batch's data (retrying the same
 * batch cannot help: split it and set the culprit aside), a {@link TransientError} is about the
 * connection or the server (lost connections, a server shutting down, too many connections, a
 * missing table: retry until it passes).
 *
 * @module
 */

/** A failure about the data: SQLSTATE class 22 (data exception) or 23 (integrity violation), or a value no column can hold. */
export class DataError extends Error {
  /** The SQLSTATE, e.g. `22003`. */
  readonly code: string;

  /**
   * @param message what the database (or the encoder) said
   * @param code the SQLSTATE
   */
  constructor(message: string, code: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "DataError";
    this.code = code;
  }

  /** The one line a dead letter keeps as the reason's detail. */
  get detail(): string {
    return `the database refused it: ${this.message}`;
  }
}

/**
 * A batch holds a value the repository cannot encode for its column (a reading id that is not a
 * UUID, say; the validator keeps such values out, so this means the two disagree). Refused before
 * the server saw it, with SQLSTATE 22000 (data_exception), like the server's own refusals of data.
 */
export class UnencodableRowError extends DataError {
  /** @param cause what the encoder threw */
  constructor(cause: unknown) {
    super(`cannot encode the row for PostgreSQL: ${cause instanceof Error ? cause.message : String(cause)}`, "22000", {
      cause,
    });
    this.name = "UnencodableRowError";
  }

  /** The encoder's own message: the database never saw the row. */
  override get detail(): string {
    return this.message;
  }
}

/** A failure that may pass: the connection, the server or the schema, not the data. */
export class TransientError extends Error {
  /** The SQLSTATE when the server gave one (e.g. `57P01`), else undefined. */
  readonly code: string | undefined;

  /** @param message what went wrong; @param code the SQLSTATE, when known */
  constructor(message: string, code: string | undefined, options?: ErrorOptions) {
    super(message, options);
    this.name = "TransientError";
    this.code = code;
  }
}

/**
 * Classifies what node-postgres (or the encoder) threw.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { classifyError, DataError, TransientError } from "./errors.ts";
 * const refused = Object.assign(new Error("value out of range"), { code: "22003" });
 * assert.ok(classifyError(refused) instanceof DataError);
 * assert.ok(classifyError(new Error("Connection terminated unexpectedly")) instanceof TransientError);
 * ```
 */
export function classifyError(error: unknown): DataError | TransientError {
  if (error instanceof DataError || error instanceof TransientError) return error;
  const raw = (error as { code?: unknown } | null)?.code;
  const code = typeof raw === "string" ? raw : undefined;
  const message = error instanceof Error ? error.message : String(error);
  if (code !== undefined && /^2[23]/.test(code)) return new DataError(message, code, { cause: error });
  return new TransientError(message, code, { cause: error });
}
