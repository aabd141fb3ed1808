// A few threads that run the spool's whole-file operations (staging a new message, create-write-fsync-close
// of a small file, fsync of a directory, reading a whole small file) as one request each; a thread answers all the requests that waited
// for it at once, and stages their messages as one group commit (file-thread.js). Every asynchronous file call of node:fs costs the event loop a trip
// to libuv's thread pool; committing a small message took about twelve of them, and on this kind of machine
// each trip costs more main-thread CPU than the write itself. Here the same work is one trip per file.
// The threads start on first use, keep the process alive only while a request is in flight, and hold no
// state between requests; each request is answered exactly once.

import { Worker } from "node:worker_threads";
import type { CommitPlan } from "./spool-disk.ts";

export type FileRequest =
  | { readonly id: number; readonly op: "create"; readonly path: string; readonly data: Uint8Array }
  | { readonly id: number; readonly op: "syncDirectory"; readonly path: string }
  | { readonly id: number; readonly op: "read"; readonly path: string; readonly limit?: number }
  | { readonly id: number; readonly op: "move"; readonly moves: readonly FileMove[]; readonly folders: readonly string[] }
  | { readonly id: number; readonly op: "removeMessages"; readonly removals: readonly MessageRemoval[]; readonly folder: string }
  | {
      readonly id: number;
      readonly op: "commit";
      readonly plan: Omit<CommitPlan, "bodyData" | "envelopeData"> & { bodyData: Uint8Array; envelopeData: Uint8Array };
    };

/** One rename of a "move" request; one message of a "removeMessages" request (its envelope, then its body). */
export type FileMove = { readonly from: string; readonly to: string };
export type MessageRemoval = { readonly envelope: string; readonly body: string };

type ErrorRecord = { code?: string; message: string };

/**
 * `data`: the bytes a "read" request read (handed over, not copied). `each`: a "move" or "removeMessages"
 * request's outcome per item, null for success (`error` then fails them all).
 */
export type FileResult = { readonly id: number; readonly error?: ErrorRecord; readonly data?: Uint8Array; readonly each?: readonly (ErrorRecord | null)[] };

type Pending = { resolve: (result: FileResult) => void; reject: (error: Error) => void };
type Thread = { worker: Worker; pending: Map<number, Pending> };

/** An Error shaped like the one node:fs would have thrown (with its errno `code`). */
function systemError(error: ErrorRecord): Error {
  return Object.assign(new Error(error.message), error.code === undefined ? {} : { code: error.code });
}

export class FileThreads {
  private readonly size: number;
  private readonly threads: Thread[] = [];
  private nextId = 1;

  constructor(size: number) {
    this.size = size;
  }

  private start(): Thread {
    const worker = new Worker(new URL("./file-thread.js", import.meta.url));
    const thread: Thread = { worker, pending: new Map() };
    worker.on("message", (results: FileResult[]) => {
      for (const result of results) {
        const waiting = thread.pending.get(result.id);
        thread.pending.delete(result.id);
        if (result.error) waiting?.reject(systemError(result.error));
        else waiting?.resolve(result);
      }
      if (thread.pending.size === 0) worker.unref();
    });
    worker.on("error", (error) => this.fail(thread, error));
    worker.on("exit", (code) => this.fail(thread, new Error(`spool file thread exited (${code})`)));
    worker.unref(); // after the listeners (attaching one refs the worker): an idle thread keeps nothing alive
    this.threads.push(thread);
    return thread;
  }

  /** A thread that died takes its requests with it: they fail, and the next request starts a new thread. */
  private fail(thread: Thread, error: Error): void {
    const index = this.threads.indexOf(thread);
    if (index >= 0) this.threads.splice(index, 1);
    for (const waiting of thread.pending.values()) waiting.reject(error);
    thread.pending.clear();
  }

  /** The least busy thread, starting one while fewer than `size` run and all are busy. */
  private pick(): Thread {
    let best: Thread | undefined;
    for (const thread of this.threads) if (!best || thread.pending.size < best.pending.size) best = thread;
    if (best && (best.pending.size === 0 || this.threads.length >= this.size)) return best;
    return this.start();
  }

  private run(request: FileRequest, transfer: ArrayBuffer[]): Promise<FileResult> {
    const thread = this.pick();
    return new Promise((resolve, reject) => {
      if (thread.pending.size === 0) thread.worker.ref(); // a request in flight keeps the process alive
      thread.pending.set(request.id, { resolve, reject });
      thread.worker.postMessage(request, transfer);
    });
  }

  /** Creates `path` (O_EXCL, mode 0600) holding `buffers`, fdatasynced and closed; leaves nothing on failure. */
  async createFile(path: string, buffers: readonly Buffer[]): Promise<void> {
    const data = owned(buffers);
    await this.run({ id: this.nextId++, op: "create", path, data }, [data.buffer as ArrayBuffer]);
  }

  /** SpoolDisk.commitMessage, in one trip. */
  async commitMessage(plan: CommitPlan): Promise<void> {
    const bodyData = owned(plan.bodyData);
    const envelopeData = owned([plan.envelopeData]);
    const request: FileRequest = { id: this.nextId++, op: "commit", plan: { ...plan, bodyData, envelopeData } };
    await this.run(request, [bodyData.buffer as ArrayBuffer, envelopeData.buffer as ArrayBuffer]);
  }

  async syncDirectory(path: string): Promise<void> {
    await this.run({ id: this.nextId++, op: "syncDirectory", path }, []);
  }

  /**
   * Renames each file (one that fails does not stop the others), then fsyncs each of `folders` once; they must
   * hold both ends of every rename. Resolves with each rename's error or null; rejects if an fsync fails.
   */
  async moveFiles(moves: readonly FileMove[], folders: readonly string[]): Promise<(Error | null)[]> {
    const { each = [] } = await this.run({ id: this.nextId++, op: "move", moves, folders }, []);
    return each.map((error) => (error === null ? null : systemError(error)));
  }

  /**
   * Removes messages the way Spool.remove does, as one batch: every envelope unlinked, `folder` (which holds
   * them) fsynced once, then the bodies of the messages whose envelope went (a body already gone is no error).
   * Resolves with each message's error or null; rejects if the fsync fails (the bodies then stay).
   */
  async removeMessages(removals: readonly MessageRemoval[], folder: string): Promise<(Error | null)[]> {
    const { each = [] } = await this.run({ id: this.nextId++, op: "removeMessages", removals, folder }, []);
    return each.map((error) => (error === null ? null : systemError(error)));
  }

  /**
   * The whole file, or its first `limit` bytes, in one trip (open, read, close: three or more with node:fs, each
   * a trip through libuv's pool). For small reads: the bytes come in one piece, and a large read would hold its
   * thread.
   */
  async readFile(path: string, limit?: number): Promise<Buffer> {
    const request: FileRequest = limit === undefined ? { id: this.nextId++, op: "read", path } : { id: this.nextId++, op: "read", path, limit };
    const { data } = await this.run(request, []);
    if (data === undefined) throw new Error(`spool file thread read ${path} but sent no bytes`);
    return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  }
}

/** The bytes as one buffer that owns its memory, so it can be handed to a thread without a copy. */
function owned(buffers: readonly Buffer[]): Buffer {
  let length = 0;
  for (const buffer of buffers) length += buffer.length;
  const data = Buffer.allocUnsafeSlow(length);
  let offset = 0;
  for (const buffer of buffers) offset += buffer.copy(data, offset);
  return data;
}
