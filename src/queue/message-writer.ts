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

import { serializeEnvelope, checkEnvelope } from "./envelope.ts";
import type { EnvelopeDraft } from "./envelope.ts";
import type { SpoolDisk, SpoolFile } from "./spool-disk.ts";
import { SpoolError, spoolErrorFrom, systemErrorCode } from "./spool-errors.ts";
import type { SpoolPaths } from "./spool-layout.ts";

export interface MessageWriter {
  /** Takes the chunk (do not reuse it); false: more than ~1 MiB waits for the disk, await drained(). */
  write(chunk: Buffer): boolean;
  /** Resolves once the bytes waiting for the disk are back under the limit (or the writer failed). */
  drained(): Promise<void>;
  /** Bytes received so far. */
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

export class SpoolMessageWriter implements MessageWriter {
  readonly #id: string;
  readonly #context: WriterContext;
  #phase: Phase = "receiving";
  #pending: Buffer[] = [];
  #buffered = 0;
  #size = 0;
  #file: SpoolFile | null = null;
  #bodyCreated = false;
  #pumping = false;
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
    if (this.#phase !== "receiving") {
      throw new SpoolError("SPOOL_WRITER_CLOSED", `message ${this.#id}: write() after commit() or abort()`);
    }
    this.#size += chunk.length;
    if (this.#failure !== null) return true; // the bytes are dropped; commit() will report the failure
    this.#pending.push(chunk);
    this.#buffered += chunk.length;
    if (this.#file !== null || this.#buffered > this.#context.memoryLimit) this.#startPump();
    return this.#buffered <= this.#context.highWater;
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
    const incomingPath = paths.envelope("incoming", this.#id);
    try {
      const bodyWritten = this.#file !== null || this.#pumping || this.#bodyCreated || this.#failure !== null;
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

  #startPump(): void {
    // After a failure #pumped stays the failed pump, which ends only once it has removed the partial body:
    // commit() and abort() wait for that removal before they report.
    if (this.#pumping || this.#failure !== null) return;
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
        for (const chunk of batch) this.#buffered -= chunk.length;
        this.#wakeDrainWaiters();
      }
      this.#pumping = false;
    } catch (error) {
      this.#pumping = false;
      this.#failure =
        systemErrorCode(error) === "EEXIST" && !this.#bodyCreated
          ? new SpoolError("SPOOL_ID_IN_USE", `message ${this.#id}: a body file with this id exists`, { cause: error })
          : spoolErrorFrom(error, `writing the body of message ${this.#id}`);
      this.#pending = [];
      this.#buffered = 0; // the batch that failed is gone too
      this.#wakeDrainWaiters();
      await this.#removeBody(); // free the disk at once; commit() reports the failure
    }
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
