// What Maildir and mbox delivery share: the work the scheduler hands them (LocalDelivery), the one error they
// throw (LocalDeliveryError, carrying the enhanced status code of the DSN, RFC 3463), and the message as a
// Unix mailbox stores it: the trace header lines of the final delivery (RFC 5321 §4.4 Return-Path, and
// Delivered-To) followed by the spooled bytes with LF line endings, and for mbox with mboxrd From_ quoting.
// The spooled message is streamed, one read at a time; bytes stay bytes (8-bit and non-UTF-8 mail passes
// untouched, a CR not followed by LF stays). Nothing here chooses a file or writes a mailbox.

import { createReadStream } from "node:fs";
import { open } from "node:fs/promises";
import type { FileHandle } from "node:fs/promises";
import { systemErrorCode } from "../queue/spool-errors.ts";

export type LocalDelivery = {
  queueId: string;
  /** The envelope sender, "" for the null sender. */
  sender: string;
  /** The envelope recipient this copy is for. */
  recipient: string;
  /** The spooled message: CRLF line endings, as received; streamed, never read whole. */
  bodyPath: string;
};

/**
 * Every status a local delivery fails with, and when. The class digit says whether to retry: 4 = temporary
 * (the message stays queued), 5 = permanent (a DSN goes back). Like Postfix's local(8), problems an
 * administrator can fix without the sender (permissions, a missing parent folder, a read-only file system)
 * are temporary; only a mailbox path holding the wrong kind of file, or an address that cannot be written
 * into a header, is permanent.
 */
export const localDeliveryStatuses = {
  "4.2.0": "the mbox stayed locked for the whole wait (its fcntl lock or dot-lock, or other deliveries of this process to it)",
  "4.2.2": "the mailbox's file system is full, over quota or the file too large (ENOSPC, EDQUOT, EFBIG)",
  "4.3.0": "another temporary failure: I/O error, permission denied, missing parent folder, read-only file system",
  "4.3.5": "the mailbox path is not absolute: a configuration error",
  "5.1.3": "the recipient address contains CR, LF or NUL and cannot go into Delivered-To",
  "5.1.7": "the sender address contains CR, LF or NUL and cannot go into Return-Path",
  "5.2.0": "the mailbox is the wrong kind of file: not a folder (Maildir); a symlink, hard-linked, not a file (mbox)",
} as const;

export type LocalDeliveryStatus = keyof typeof localDeliveryStatuses;

export class LocalDeliveryError extends Error {
  override readonly name = "LocalDeliveryError";
  /** True: retry later; false: bounce. Follows from the status's class digit. */
  readonly temporary: boolean;
  readonly status: LocalDeliveryStatus;

  constructor(status: LocalDeliveryStatus, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.status = status;
    this.temporary = status.startsWith("4.");
  }
}

const fullErrnos = new Set(["ENOSPC", "EDQUOT", "EFBIG"]);
const wrongKindErrnos = new Set(["ENOTDIR", "EISDIR", "ELOOP"]);

/** The LocalDeliveryError for whatever a file-system call threw while `doing`; one passes through unchanged. */
export function localDeliveryErrorFrom(error: unknown, doing: string): LocalDeliveryError {
  if (error instanceof LocalDeliveryError) return error;
  const errno = systemErrorCode(error) ?? "";
  const status = fullErrnos.has(errno) ? "4.2.2" : wrongKindErrnos.has(errno) ? "5.2.0" : "4.3.0";
  const detail = error instanceof Error ? error.message : String(error);
  return new LocalDeliveryError(status, `${doing}: ${detail}`, { cause: error });
}

/** Writes every byte of `bytes` at the handle's position (or the end, when opened for appending). */
export async function writeAll(file: FileHandle, bytes: Buffer): Promise<void> {
  for (let written = 0; written < bytes.length; ) {
    const { bytesWritten } = await file.write(bytes, written, bytes.length - written, null);
    if (bytesWritten === 0) throw new Error("the file system accepted no bytes of a write");
    written += bytesWritten;
  }
}

/** fsync of a folder, making the names created, renamed or linked in it durable. */
export async function syncFolder(path: string): Promise<void> {
  const folder = await open(path, "r");
  try {
    await folder.sync();
  } finally {
    await folder.close();
  }
}

/**
 * The message as the mailbox stores it, in pieces of about one read each. The addresses are checked now
 * (a LocalDeliveryError 5.1.7 / 5.1.3 is thrown before any I/O); the spooled file is read when iterated.
 */
export function storedMessage(delivery: LocalDelivery, options: { quoteFrom: boolean }): AsyncIterable<Buffer> {
  return stored(traceHeaders(delivery), delivery.bodyPath, options.quoteFrom);
}

const unsafeInHeader = /[\r\n\0]/;

/** Return-Path and Delivered-To, as Postfix's local(8) writes them, in the stored (LF) form. */
function traceHeaders(delivery: LocalDelivery): Buffer {
  if (unsafeInHeader.test(delivery.sender)) {
    throw new LocalDeliveryError("5.1.7", `message ${delivery.queueId}: the sender contains CR, LF or NUL`);
  }
  if (unsafeInHeader.test(delivery.recipient)) {
    throw new LocalDeliveryError("5.1.3", `message ${delivery.queueId}: the recipient contains CR, LF or NUL`);
  }
  return Buffer.from(`Return-Path: <${delivery.sender}>\nDelivered-To: ${delivery.recipient}\n`, "utf8");
}

const readSize = 256 * 1024;

async function* stored(trace: Buffer, bodyPath: string, quoteFrom: boolean): AsyncGenerator<Buffer> {
  yield trace;
  const endings = new LineEndings();
  const quoting = quoteFrom ? new FromQuoting() : null;
  const convert = (chunk: Buffer | null): Buffer => {
    const lines: Buffer[] = [];
    endings.convert(chunk, lines);
    if (quoting === null) return Buffer.concat(lines);
    const quoted: Buffer[] = [];
    for (const line of lines) quoting.quote(line, quoted);
    if (chunk === null) quoting.end(quoted);
    return Buffer.concat(quoted);
  };
  const body = createReadStream(bodyPath, { highWaterMark: readSize })[Symbol.asyncIterator]();
  try {
    for (let chunk = await readFrom(body, bodyPath); chunk !== null; chunk = await readFrom(body, bodyPath)) {
      const piece = convert(chunk);
      if (piece.length > 0) yield piece;
    }
  } finally {
    await body.return?.(); // closes the file when the mailbox side stopped early
  }
  const last = convert(null);
  if (last.length > 0) yield last;
}

/** The next chunk of the spooled message, null at its end. A failed read is the spool's trouble, not the mailbox's. */
async function readFrom(body: AsyncIterator<Buffer>, bodyPath: string): Promise<Buffer | null> {
  try {
    const next = await body.next();
    return next.done === true ? null : next.value;
  } catch (error) {
    const detail = error instanceof Error ? error.message : String(error);
    throw new LocalDeliveryError("4.3.0", `reading the spooled message ${bodyPath}: ${detail}`, { cause: error });
  }
}

const CR = 0x0d;
const LF = 0x0a;
const GT = 0x3e;
const loneCR = Buffer.from([CR]);

/** CRLF → LF over a stream of chunks: a CR is dropped only when an LF follows it, even in the next chunk. */
export class LineEndings {
  #heldCR = false;

  /** Appends the converted bytes of `chunk` (views into it) to `out`; null ends the stream. */
  convert(chunk: Buffer | null, out: Buffer[]): void {
    if (chunk === null) {
      if (this.#heldCR) out.push(loneCR);
      this.#heldCR = false;
      return;
    }
    if (chunk.length === 0) return;
    if (this.#heldCR && chunk[0] !== LF) out.push(loneCR);
    this.#heldCR = false;
    let start = 0;
    for (let cr = chunk.indexOf(CR); cr !== -1; cr = chunk.indexOf(CR, cr + 1)) {
      if (cr === chunk.length - 1) {
        this.#heldCR = true;
        out.push(chunk.subarray(start, cr));
        return;
      }
      if (chunk[cr + 1] === LF) {
        out.push(chunk.subarray(start, cr));
        start = cr + 1;
      }
    }
    out.push(chunk.subarray(start));
  }
}

const fromSpace = Buffer.from("From ");
const quoteMark = Buffer.from(">");

/**
 * mboxrd quoting over a stream of LF-ended pieces: a line matching /^>*From / gets one more ">", so that a
 * reader removing one ">" from such lines gets the message back exactly. Since every ">" of the leading run
 * is alike, the added one goes just before "From ". Only the (at most four) bytes of a possible "From " that
 * end a piece are held back until the next piece decides them.
 */
export class FromQuoting {
  /** At the start of a line or inside its leading run of ">": the line may still be a From_ line. */
  #deciding = true;
  /** Bytes of "From " matched so far at the decision point. */
  #matched = 0;
  /** Of those, how many came in earlier pieces (held back, not yet written). */
  #heldEarlier = 0;

  /** Appends the quoted bytes of `piece` (views into it, and constants) to `out`. */
  quote(piece: Buffer, out: Buffer[]): void {
    this.#heldEarlier = this.#matched;
    let start = 0;
    let at = 0;
    while (at < piece.length) {
      if (!this.#deciding) {
        const lf = piece.indexOf(LF, at);
        if (lf === -1) break;
        at = lf + 1;
        this.#deciding = true;
        continue;
      }
      const byte = piece[at];
      if (this.#matched === 0 && byte === GT) {
        at += 1;
      } else if (byte === fromSpace[this.#matched]) {
        if (this.#matched === 0) {
          out.push(piece.subarray(start, at));
          start = at;
        }
        this.#matched += 1;
        at += 1;
        if (this.#matched === fromSpace.length) {
          out.push(quoteMark, fromSpace);
          start = at;
          this.#settle();
        }
      } else {
        // not a From_ line: the held bytes go out as they were, and this byte is looked at again
        if (this.#heldEarlier > 0) out.push(fromSpace.subarray(0, this.#heldEarlier));
        this.#settle();
      }
    }
    if (this.#matched === 0) out.push(piece.subarray(start));
  }

  /** The end of the message: bytes still held back were not a From_ line. */
  end(out: Buffer[]): void {
    if (this.#matched > 0) out.push(fromSpace.subarray(0, this.#matched));
    this.#matched = 0;
  }

  #settle(): void {
    this.#deciding = false;
    this.#matched = 0;
    this.#heldEarlier = 0;
  }
}
