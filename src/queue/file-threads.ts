// A few threads that run the spool's whole-file operations (staging a new message, create-write-fsync-close
// of a small file, fsync of a directory) as one request each; a thread answers all the requests that waited
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
  | {
      readonly id: number;
      readonly op: "commit";
      readonly plan: Omit<CommitPlan, "bodyData" | "envelopeData"> & { bodyData: Uint8Array; envelopeData: Uint8Array };
    };

export type FileResult = { readonly id: number; readonly error?: { code?: string; message: string } };

type Pending = { resolve: () => void; reject: (error: Error) => void };
type Thread = { worker: Worker; pending: Map<number, Pending> };

/** An Error shaped like the one node:fs would have thrown (with its errno `code`). */
function systemError(error: NonNullable<FileResult["error"]>): Error {
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
        else waiting?.resolve();
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

  private run(request: FileRequest, transfer: ArrayBuffer[]): Promise<void> {
    const thread = this.pick();
    return new Promise((resolve, reject) => {
      if (thread.pending.size === 0) thread.worker.ref(); // a request in flight keeps the process alive
      thread.pending.set(request.id, { resolve, reject });
      thread.worker.postMessage(request, transfer);
    });
  }

  /** Creates `path` (O_EXCL, mode 0600) holding `buffers`, fdatasynced and closed; leaves nothing on failure. */
  createFile(path: string, buffers: readonly Buffer[]): Promise<void> {
    const data = owned(buffers);
    return this.run({ id: this.nextId++, op: "create", path, data }, [data.buffer as ArrayBuffer]);
  }

  /** SpoolDisk.commitMessage, in one trip. */
  commitMessage(plan: CommitPlan): Promise<void> {
    const bodyData = owned(plan.bodyData);
    const envelopeData = owned([plan.envelopeData]);
    const request: FileRequest = { id: this.nextId++, op: "commit", plan: { ...plan, bodyData, envelopeData } };
    return this.run(request, [bodyData.buffer as ArrayBuffer, envelopeData.buffer as ArrayBuffer]);
  }

  syncDirectory(path: string): Promise<void> {
    return this.run({ id: this.nextId++, op: "syncDirectory", path }, []);
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
