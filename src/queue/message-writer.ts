// Writing one message into the spool while DATA arrives, then committing it before the "250".
//
// The body is kept in memory up to `memoryLimit` bytes (most mail: one write at commit); past that it is
// streamed into body/<id> as it comes, and write() returns false while more than `highWater` bytes wait
// for the disk, so a 50 MB message never sits in memory. commit() makes it durable in this order:
//   body/<id> written and fsynced, the envelope written to tmp/<id> and fsynced, body/ fsynced, tmp/<id>
//   renamed to incoming/<id>, incoming/ fsynced (shared by concurrent commits): one SpoolDisk.commitMessage
//   call, one trip to a file thread;
// and resolves only then. An envelope is never visible before its body is durable, so a crash at any
// point leaves either a complete message or nothing that recovery keeps. Any failure removes every file
// of the message and rejects with a SpoolError. This file must never resolve commit() early, never
// remove a file it did not create, and never keep a body after abort().
// Before commit, the preq stage may read and replace the start of the message (its header section):
// in memory by splicing the chunks; once streamed, by writing the new head and the rest of the body into
// body/<id>.edit and renaming it over body/<id>. Neither name has an envelope until commit, so after a
// crash recovery removes both as orphans. Disk steps (pump, head read, head rewrite) run one at a time,
// in order, on the #pumped chain; a failed rewrite fails the writer like a failed pump.

import { serializeEnvelope, checkEnvelope } from "./envelope.ts";
import type { EnvelopeDraft } from "./envelope.ts";
import { type SpoolDisk, type SpoolFile, skipBytes } from "./spool-disk.ts";
import { SpoolError, spoolErrorFrom, systemErrorCode } from "./spool-errors.ts";
import type { SpoolPaths } from "./spool-layout.ts";

export interface MessageWriter {
  /** Takes the chunk (do not reuse it); false: more than ~1 MiB waits for the disk, await drained(). */
  write(chunk: Buffer): boolean;
  /** Resolves once the bytes waiting for the disk are back under the limit (or the writer failed). */
  drained(): Promise<void>;
  /**
   * The first `limit` bytes of the message so far (fewer if it is shorter), from memory or the body file.
   * Only while receiving; rejects with the writer's failure if it failed.
   */
  readHead(limit: number): Promise<Buffer>;
  /**
   * Replaces the first `length` bytes of the message with `replacement` (taken: do not reuse it), the rest
   * unchanged. Only while receiving; a disk failure fails the writer: commit() then rejects, nothing is left.
   */
  replaceHead(length: number, replacement: Buffer): Promise<void>;
  /** Bytes received so far (after replaceHead(): the size of the message as it will be spooled). */
  readonly size: number;
  /** Bytes received but not yet written to the body file. */
  readonly buffered: number;
  /** Resolves only when the message is durable; rejects with a SpoolError, leaving nothing behind. */
  commit(envelope: EnvelopeDraft): Promise<void>;
  /** Removes every trace of the message. After commit() started it waits for it and changes nothing. */
  abort(): Promise<void>;
}

export type WriterContext = {
  disk: SpoolDisk;
  paths: SpoolPaths;
  /** Bodies up to this size are written with one write at commit. */
  memoryLimit: number;
  /** write() returns false above this many bytes waiting for the disk. */
  highWater: number;
};

type Phase = "receiving" | "committing" | "done";

/** Blocks in which replaceHead() copies a streamed body into its new file. */
const copyBlockSize = 1024 * 1024;

export class SpoolMessageWriter implements MessageWriter {
  readonly #id: string;
  readonly #context: WriterContext;
  #phase: Phase = "receiving";
  #pending: Buffer[] = [];
  #buffered = 0;
  #size = 0;
  #file: SpoolFile | null = null;
  /** Bytes in the body file. */
  #written = 0;
  #bodyCreated = false;
  #pumping = false;
  /** Head reads and rewrites queued or running on #pumped; no pump starts while there are any. */
  #held = 0;
  #pumped: Promise<void> = Promise.resolve();
  #failure: SpoolError | null = null;
  #drainWaiters: (() => void)[] = [];
  #finished: Promise<void> | null = null;

  constructor(id: string, context: WriterContext) {
    this.#id = id;
    this.#context = context;
  }

  get size(): number {
    return this.#size;
  }

  get buffered(): number {
    return this.#buffered;
  }

  write(chunk: Buffer): boolean {
    this.#checkReceiving("write()");
    this.#size += chunk.length;
    if (this.#failure !== null) return true; // the bytes are dropped; commit() will report the failure
    this.#pending.push(chunk);
    this.#buffered += chunk.length;
    if (this.#file !== null || this.#buffered > this.#context.memoryLimit) this.#startPump();
    return this.#buffered <= this.#context.highWater;
  }

  async readHead(limit: number): Promise<Buffer> {
    this.#checkReceiving("readHead()");
    checkLength("readHead() limit", limit, Number.POSITIVE_INFINITY);
    if (this.#failure !== null) throw this.#failure;
    if (!this.#streamed()) return headOf(this.#pending, limit);
    return this.#whileIdle(async () => {
      if (this.#failure !== null) throw this.#failure;
      const fromFile = Math.min(limit, this.#written);
      const rest = headOf(this.#pending, limit - fromFile);
      if (fromFile === 0) return rest;
      const head = Buffer.alloc(fromFile);
      try {
        await this.#readingBody((reader) => readFully(reader, head, 0));
      } catch (error) {
        throw spoolErrorFrom(error, `reading the head of message ${this.#id}`);
      }
      return Buffer.concat([head, rest]);
    });
  }

  async replaceHead(length: number, replacement: Buffer): Promise<void> {
    this.#checkReceiving("replaceHead()");
    checkLength("replaceHead() length", length, this.#size);
    if (this.#failure !== null) throw this.#failure;
    this.#size += replacement.length - length; // now, so that a commit() already waiting spools the right size
    if (!this.#streamed()) {
      this.#pending = [replacement, ...skipBytes(this.#pending, length)];
      this.#buffered += replacement.length - length;
      return;
    }
    await this.#whileIdle(async () => {
      if (this.#failure !== null) throw this.#failure;
      const fromFile = Math.min(length, this.#written);
      const fromPending = length - fromFile;
      await this.#rewriteHead(fromFile, fromPending === 0 ? replacement : Buffer.alloc(0));
      if (fromPending > 0) {
        this.#pending = [replacement, ...skipBytes(this.#pending, fromPending)];
        this.#buffered += replacement.length - fromPending;
      }
    });
  }

  drained(): Promise<void> {
    if (this.#buffered <= this.#context.highWater) return Promise.resolve();
    return new Promise((resolve) => this.#drainWaiters.push(resolve));
  }

  commit(draft: EnvelopeDraft): Promise<void> {
    if (this.#phase !== "receiving") {
      return Promise.reject(new SpoolError("SPOOL_WRITER_CLOSED", `message ${this.#id}: commit() called twice or after abort()`));
    }
    this.#phase = "committing";
    this.#finished = this.#commit(draft).finally(() => {
      this.#phase = "done";
    });
    return this.#finished;
  }

  abort(): Promise<void> {
    if (this.#finished !== null) return this.#finished.then(noop, noop);
    this.#phase = "done";
    this.#dropPending();
    this.#finished = this.#pumped.then(() => this.#removeBody());
    return this.#finished;
  }

  async #commit(draft: EnvelopeDraft): Promise<void> {
    const { disk, paths } = this.#context;
    const check = checkEnvelope({ ...draft, version: 1, size: this.#size });
    if (!check.ok || check.envelope.id !== this.#id) {
      const problem = check.ok ? `id ${check.envelope.id} is not the writer's id` : check.problem;
      await this.#pumpedThenRemoveBody();
      throw new SpoolError("SPOOL_BAD_ENVELOPE", `message ${this.#id}: bad envelope, ${problem}`);
    }
    const tmpPath = paths.tmp(this.#id);
    // A message a rule quarantined goes to quarantine/ instead of incoming/, by the same steps.
    const incomingPath = paths.envelope(draft.quarantine === undefined ? "incoming" : "quarantine", this.#id);
    try {
      const bodyWritten = this.#streamed() || this.#failure !== null;
      if (bodyWritten) {
        this.#startPump(); // writes what is left of a streamed body
        await this.#pumped;
        if (this.#failure !== null) throw this.#failure;
        const body = this.#file;
        if (body === null) throw new Error("the body file was not opened");
        this.#file = null;
        await body.close(); // commitMessage fsyncs it by name
      }
      const bodyData = this.#pending;
      this.#pending = [];
      try {
        await disk.commitMessage({
          body: paths.body(this.#id),
          bodyData,
          bodyWritten,
          envelopeTmp: tmpPath,
          envelopeData: serializeEnvelope(check.envelope),
          envelope: incomingPath,
        });
      } catch (error) {
        if (!bodyWritten && systemErrorCode(error) === "EEXIST") {
          throw new SpoolError("SPOOL_ID_IN_USE", `message ${this.#id}: a body file with this id exists`, {
            cause: error,
          });
        }
        this.#bodyCreated = true; // whatever is left of it is this message's: removed below
        throw error;
      } finally {
        for (const chunk of bodyData) this.#buffered -= chunk.length;
      }
      this.#bodyCreated = true;
    } catch (error) {
      const failure = spoolErrorFrom(error, `spooling message ${this.#id}`);
      await removeQuietly(disk, tmpPath);
      await this.#removeBody();
      throw failure;
    }
  }

  #checkReceiving(call: string): void {
    if (this.#phase !== "receiving") {
      throw new SpoolError("SPOOL_WRITER_CLOSED", `message ${this.#id}: ${call} after commit() or abort()`);
    }
  }

  /** True once the body goes to the body file (or is about to): it is no longer all in #pending. */
  #streamed(): boolean {
    return this.#file !== null || this.#pumping || this.#held > 0 || this.#bodyCreated;
  }

  #startPump(): void {
    // After a failure #pumped stays the failed pump, which ends only once it has removed the partial body:
    // commit() and abort() wait for that removal before they report. While a head step waits or runs,
    // the chunks wait in #pending: the step's end writes them.
    if (this.#pumping || this.#held > 0 || this.#failure !== null) return;
    this.#pumping = true;
    this.#pumped = this.#pump();
  }

  /** Opens the body file if needed and writes pending chunks until none are left. Never rejects. */
  async #pump(): Promise<void> {
    try {
      if (this.#failure !== null) {
        this.#pumping = false;
        return;
      }
      if (this.#file === null) {
        this.#file = await this.#context.disk.open(this.#context.paths.body(this.#id), "create");
        this.#bodyCreated = true;
      }
      while (this.#pending.length > 0 && this.#failure === null) {
        const batch = this.#pending;
        this.#pending = [];
        await this.#file.writeAll(batch);
        for (const chunk of batch) {
          this.#buffered -= chunk.length;
          this.#written += chunk.length;
        }
        this.#wakeDrainWaiters();
      }
      this.#pumping = false;
    } catch (error) {
      this.#pumping = false;
      await this.#fail(
        systemErrorCode(error) === "EEXIST" && !this.#bodyCreated
          ? new SpoolError("SPOOL_ID_IN_USE", `message ${this.#id}: a body file with this id exists`, { cause: error })
          : spoolErrorFrom(error, `writing the body of message ${this.#id}`),
      );
    }
  }

  /**
   * Runs `step` on the #pumped chain once the disk steps before it are done, holding back pumps until it
   * ends; then writes the chunks that arrived meanwhile. A step's rejection goes to its caller only.
   */
  #whileIdle<T>(step: () => Promise<T>): Promise<T> {
    this.#held += 1;
    const result = this.#pumped.then(step);
    this.#pumped = result.then(noop, noop).then(async () => {
      this.#held -= 1;
      if (this.#held > 0 || this.#pending.length === 0 || this.#failure !== null) return;
      this.#pumping = true;
      await this.#pump();
    });
    return result;
  }

  /**
   * The body file becomes `replacement` followed by its bytes from `length` on: written to body/<id>.edit
   * in blocks, then renamed over body/<id>. Any failure removes the new file and fails the writer.
   */
  async #rewriteHead(length: number, replacement: Buffer): Promise<void> {
    const { disk, paths } = this.#context;
    const old = this.#file!;
    const bodyPath = paths.body(this.#id);
    const editPath = `${bodyPath}.edit`;
    let edited: SpoolFile | null = null;
    try {
      const copy = await disk.open(editPath, "create");
      edited = copy;
      await copy.writeAll([replacement]);
      await this.#readingBody(async (reader) => {
        const block = Buffer.alloc(Math.min(copyBlockSize, this.#written - length));
        for (let position = length; position < this.#written; position += block.length) {
          const piece = block.subarray(0, Math.min(block.length, this.#written - position));
          await readFully(reader, piece, position);
          await copy.writeAll([piece]);
        }
      });
      this.#file = null;
      await old.close();
      await disk.rename(editPath, bodyPath);
    } catch (error) {
      if (edited !== null) {
        await closeQuietly(edited);
        await removeQuietly(disk, editPath); // only if this writer created it
      }
      throw await this.#fail(spoolErrorFrom(error, `replacing the head of message ${this.#id}`));
    }
    this.#file = edited;
    this.#written += replacement.length - length;
  }

  /** Runs `use` with a handle of its own that reads the body file (#file is opened write-only). */
  async #readingBody<T>(use: (reader: SpoolFile) => Promise<T>): Promise<T> {
    const reader = await this.#context.disk.open(this.#context.paths.body(this.#id), "read");
    try {
      return await use(reader);
    } finally {
      await closeQuietly(reader);
    }
  }

  /** Puts the writer into its failed state: nothing kept in memory, the body file removed. */
  async #fail(failure: SpoolError): Promise<SpoolError> {
    this.#failure = failure;
    this.#pending = [];
    this.#buffered = 0; // a batch that failed is gone too
    this.#wakeDrainWaiters();
    await this.#removeBody(); // free the disk at once; commit() reports the failure
    return failure;
  }

  /** Forgets chunks not yet handed to the disk; a write in flight still subtracts its own bytes. */
  #dropPending(): void {
    for (const chunk of this.#pending) this.#buffered -= chunk.length;
    this.#pending = [];
    this.#wakeDrainWaiters();
  }

  #wakeDrainWaiters(): void {
    if (this.#buffered > this.#context.highWater) return;
    const waiters = this.#drainWaiters;
    this.#drainWaiters = [];
    for (const wake of waiters) wake();
  }

  async #pumpedThenRemoveBody(): Promise<void> {
    this.#dropPending();
    await this.#pumped;
    await this.#removeBody();
  }

  async #removeBody(): Promise<void> {
    const file = this.#file;
    this.#file = null;
    await closeQuietly(file);
    if (this.#bodyCreated) {
      this.#bodyCreated = false;
      await removeQuietly(this.#context.disk, this.#context.paths.body(this.#id));
    }
  }
}

function noop(): void {}

function checkLength(what: string, value: number, most: number): void {
  if (!Number.isSafeInteger(value) || value < 0 || value > most) {
    throw new RangeError(`${what} must be a whole number from 0 to ${most}, not ${value}`);
  }
}

/** A copy of the first `limit` bytes of the chunks. */
function headOf(chunks: readonly Buffer[], limit: number): Buffer {
  const head: Buffer[] = [];
  let left = limit;
  for (const chunk of chunks) {
    if (left <= 0) break;
    head.push(chunk.length <= left ? chunk : chunk.subarray(0, left));
    left -= chunk.length;
  }
  return Buffer.concat(head);
}

/** Fills `buffer` from `position` of the file; the file ending first is an error (it was written that far). */
async function readFully(file: SpoolFile, buffer: Buffer, position: number): Promise<void> {
  for (let filled = 0; filled < buffer.length; ) {
    const count = await file.read(buffer.subarray(filled), position + filled);
    if (count === 0) throw new Error(`the body file ends at ${position + filled} bytes, shorter than written`);
    filled += count;
  }
}

async function closeQuietly(file: SpoolFile | null): Promise<void> {
  if (file === null) return;
  try {
    await file.close();
  } catch {
    // already failing: the error that matters is the one being reported
  }
}

async function removeQuietly(disk: SpoolDisk, path: string): Promise<void> {
  try {
    await disk.remove(path);
  } catch {
    // absent or unremovable: recovery removes what has no envelope
  }
}
