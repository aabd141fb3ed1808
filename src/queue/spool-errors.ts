// The spool's error codes, in one registry, and the one function that turns a system error into them.
// A caller (the SMTP server, the CLI) decides what to answer from `code` alone; it must never need to
// read `message` or the errno. This file must never swallow an error or invent a code outside the table.

export const spoolErrorCodes = {
  SPOOL_FULL: "the spool's file system is full or over quota (ENOSPC, EDQUOT)",
  SPOOL_IO: "the spool's file system failed a read, write, fsync or rename",
  SPOOL_ID_IN_USE: "a body file with this queue id already exists",
  SPOOL_BAD_ID: "the queue id is not a safe file name (1-64 of A-Z a-z 0-9 _ -)",
  SPOOL_BAD_ENVELOPE: "the envelope given to commit() does not match the envelope schema",
  SPOOL_WRITER_CLOSED: "write() or commit() was called after commit() or abort()",
  SPOOL_NOT_FOUND: "no message with this queue id in the given state",
  SPOOL_DAMAGED: "the envelope file cannot be read back as a version 1 envelope",
} as const;

export type SpoolErrorCode = keyof typeof spoolErrorCodes;

export class SpoolError extends Error {
  readonly code: SpoolErrorCode;

  constructor(code: SpoolErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "SpoolError";
    this.code = code;
  }
}

const fullErrnos = new Set(["ENOSPC", "EDQUOT"]);

/** Wraps whatever a file-system call threw; a SpoolError passes through unchanged. */
export function spoolErrorFrom(error: unknown, doing: string): SpoolError {
  if (error instanceof SpoolError) return error;
  const errno = systemErrorCode(error);
  if (errno !== undefined && fullErrnos.has(errno)) {
    return new SpoolError("SPOOL_FULL", `${doing}: the spool is full (${errno})`, { cause: error });
  }
  const detail = error instanceof Error ? error.message : String(error);
  return new SpoolError("SPOOL_IO", `${doing}: ${detail}`, { cause: error });
}

/** The errno name (ENOENT, EEXIST, ...) of a Node system error, if it is one. */
export function systemErrorCode(error: unknown): string | undefined {
  if (typeof error !== "object" || error === null || !("code" in error)) return undefined;
  return typeof error.code === "string" ? error.code : undefined;
}
