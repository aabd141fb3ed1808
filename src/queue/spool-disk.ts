// Every file-system call the spool makes, behind one small interface, so tests can count fsyncs and
// make a write fail with ENOSPC without a full disk. The Node implementation is a thin layer over
// node:fs/promises; it must never retry, cache or hide an error: the spool decides what errors mean.

import { chmod, mkdir, open, readdir, rename, stat, unlink } from "node:fs/promises";
import type { FileHandle } from "node:fs/promises";
import { systemErrorCode } from "./spool-errors.ts";
import { type FileMove, FileThreads, type MessageRemoval } from "./file-threads.ts";
import { dirname } from "node:path";
import { DirectorySync } from "./directory-sync.ts";
import { COMMITTED_BODY_MODE } from "./committed-body.js";

export interface SpoolFile {
  /** Appends every byte of the buffers, in order (short writes are continued, not reported). */
  writeAll(buffers: readonly Buffer[]): Promise<void>;
  /** Reads into `buffer` from `position`; resolves to the number of bytes read (0 at the end). */
  read(buffer: Buffer, position: number): Promise<number>;
  sync(): Promise<void>;
  size(): Promise<number>;
  close(): Promise<void>;
}

export interface SpoolDisk {
  /** mkdir -p with mode 0700; an existing directory is left as it is. */
  makeDirectory(path: string): Promise<void>;
  /** "create" fails with EEXIST if the file exists (O_EXCL) and makes it mode 0600. */
  open(path: string, mode: "create" | "read"): Promise<SpoolFile>;
  /**
   * A whole small file at once: created like open(path, "create"), written, fsynced (fdatasync) and closed.
   * When it fails, no file is left behind (except the one that was already there, for EEXIST).
   */
  createFile(path: string, buffers: readonly Buffer[]): Promise<void>;
  /**
   * Makes a new message durable, in this order: the body file created with `bodyData` (or, when `bodyWritten`,
   * already written by the caller and only fsynced) and the envelope written to `envelopeTmp`, both
   * fdatasynced, the body marked committed; the body's folder fsynced; the envelope renamed to `envelope`; the
   * envelope's folder fsynced.
   * One call, so that the Node implementation makes one trip to a file thread, which also shares folder
   * fsyncs among the messages that wait for it. On failure the envelope is in neither place; the body file
   * is left to the caller (EEXIST: it was never this message's).
   */
  commitMessage(plan: CommitPlan): Promise<void>;
  /** Gives a body file the committed mark (committed-body.js); commitMessage() does it on its own. */
  markCommitted(path: string): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  remove(path: string): Promise<void>;
  readDirectory(path: string): Promise<string[]>;
  readFile(path: string): Promise<Buffer>;
  /** The first `limit` bytes of a file (all of it when shorter), read in one go. */
  readStart(path: string, limit: number): Promise<Buffer>;
  /** Size in bytes, or undefined if there is no such file. */
  sizeOf(path: string): Promise<number | undefined>;
  /** fsync of the directory itself, making the names created or renamed in it durable. */
  syncDirectory(path: string): Promise<void>;
  /**
   * Several rename()s, each alone (one that fails does not stop the others), then one syncDirectory() of each of
   * `folders`, which hold both ends of every rename. Resolves with each rename's error or null; rejects when a
   * folder cannot be fsynced. One call, so that the Node layer makes one trip to a file thread for a batch.
   */
  moveFiles(moves: readonly FileMove[], folders: readonly string[]): Promise<(Error | null)[]>;
  /**
   * Removes messages as Spool.remove does one: each envelope removed (alone, as above), `folder` fsynced once,
   * then the body of each message whose envelope went (one already gone is no error). Resolves with each
   * message's error or null; rejects when the folder cannot be fsynced (the bodies are then left).
   */
  removeMessages(removals: readonly MessageRemoval[], folder: string): Promise<(Error | null)[]>;
}

export type { FileMove, MessageRemoval };

export type CommitPlan = {
  readonly body: string;
  readonly bodyData: readonly Buffer[];
  readonly bodyWritten: boolean;
  readonly envelopeTmp: string;
  readonly envelopeData: Buffer;
  readonly envelope: string;
};

const maxBuffersPerWrite = 1024; // IOV_MAX on Linux

class NodeSpoolFile implements SpoolFile {
  readonly #handle: FileHandle;

  constructor(handle: FileHandle) {
    this.#handle = handle;
  }

  async writeAll(buffers: readonly Buffer[]): Promise<void> {
    let pending = buffers.filter((buffer) => buffer.length > 0);
    while (pending.length > 0) {
      const batch = pending.slice(0, maxBuffersPerWrite);
      const { bytesWritten } = await this.#handle.writev(batch);
      if (bytesWritten === 0) throw new Error("the file system accepted no bytes of a write");
      pending = [...skipBytes(batch, bytesWritten), ...pending.slice(batch.length)];
    }
  }

  async read(buffer: Buffer, position: number): Promise<number> {
    const { bytesRead } = await this.#handle.read(buffer, 0, buffer.length, position);
    return bytesRead;
  }

  sync(): Promise<void> {
    // fdatasync: the data and the size needed to read it back, without the timestamps fsync also writes
    return this.#handle.datasync();
  }

  async size(): Promise<number> {
    return (await this.#handle.stat()).size;
  }

  close(): Promise<void> {
    return this.#handle.close();
  }
}

/** The buffers left after the first `count` bytes were written. */
export function skipBytes(buffers: readonly Buffer[], count: number): Buffer[] {
  const rest: Buffer[] = [];
  let skip = count;
  for (const buffer of buffers) {
    if (skip >= buffer.length) {
      skip -= buffer.length;
    } else {
      rest.push(skip === 0 ? buffer : buffer.subarray(skip));
      skip = 0;
    }
  }
  return rest;
}

/** createFile() made of a disk's own open/writeAll/sync/close, for disk layers that wrap those calls. */
export function createFileWith(open: SpoolDisk["open"], remove: SpoolDisk["remove"]): SpoolDisk["createFile"] {
  return async (path, buffers) => {
    const file = await open(path, "create");
    try {
      await file.writeAll(buffers);
      await file.sync();
    } catch (error) {
      await file.close();
      await remove(path);
      throw error;
    }
    await file.close();
  };
}

/**
 * commitMessage() made of a disk's own calls, in the order the file thread follows (file-thread.js); the
 * last fsync is shared by concurrent commits (group commit), as the thread shares it within a batch.
 */
export function commitMessageWith(disk: SpoolDisk): SpoolDisk["commitMessage"] {
  const folderSyncs = new Map<string, DirectorySync>();
  const syncFolder = (folder: string): Promise<void> => {
    let sync = folderSyncs.get(folder);
    if (sync === undefined) {
      sync = new DirectorySync(() => disk.syncDirectory(folder));
      folderSyncs.set(folder, sync);
    }
    return sync.sync();
  };
  return async (plan) => {
    if (plan.bodyWritten) {
      const body = await disk.open(plan.body, "read");
      try {
        await body.sync();
      } finally {
        await body.close();
      }
    } else await disk.createFile(plan.body, plan.bodyData);
    await disk.markCommitted(plan.body);
    await disk.createFile(plan.envelopeTmp, [plan.envelopeData]);
    try {
      await disk.syncDirectory(dirname(plan.body));
      await disk.rename(plan.envelopeTmp, plan.envelope);
    } catch (error) {
      await disk.remove(plan.envelopeTmp).catch(() => {});
      throw error;
    }
    try {
      await syncFolder(dirname(plan.envelope));
    } catch (error) {
      await disk.remove(plan.envelope).catch(() => {});
      throw error;
    }
  };
}

/** Each step on each item, alone: its error, or null. */
async function eachAlone<T>(items: readonly T[], step: (item: T) => Promise<void>): Promise<(Error | null)[]> {
  const outcomes: (Error | null)[] = [];
  for (const item of items) outcomes.push(await step(item).then(() => null, (error: Error) => error));
  return outcomes;
}

/** moveFiles() made of a disk's own calls, in the order the file thread follows (for layers that wrap them). */
export function moveFilesWith(disk: SpoolDisk): SpoolDisk["moveFiles"] {
  return async (moves, folders) => {
    const outcomes = await eachAlone(moves, (move) => disk.rename(move.from, move.to));
    for (const folder of folders) await disk.syncDirectory(folder);
    return outcomes;
  };
}

/** removeMessages() made of a disk's own calls, in the order the file thread follows. */
export function removeMessagesWith(disk: SpoolDisk): SpoolDisk["removeMessages"] {
  return async (removals, folder) => {
    const outcomes = await eachAlone(removals, (removal) => disk.remove(removal.envelope));
    if (outcomes.some((outcome) => outcome === null)) await disk.syncDirectory(folder);
    for (const [index, removal] of removals.entries()) {
      if (outcomes[index] !== null) continue;
      await disk.remove(removal.body).catch((error: Error) => {
        if (systemErrorCode(error) !== "ENOENT") outcomes[index] = error;
      });
    }
    return outcomes;
  };
}

// The file threads of this process, started on first use (file-threads.ts says why they exist).
let fileThreads: FileThreads | undefined;
const threads = (): FileThreads => (fileThreads ??= new FileThreads(2));

export const nodeSpoolDisk: SpoolDisk = {
  async makeDirectory(path) {
    await mkdir(path, { recursive: true, mode: 0o700 });
  },
  async open(path, mode) {
    const handle = mode === "create" ? await open(path, "wx", 0o600) : await open(path, "r");
    return new NodeSpoolFile(handle);
  },
  createFile: (path, buffers) => threads().createFile(path, buffers),
  commitMessage: (plan) => threads().commitMessage(plan),
  markCommitted: (path) => chmod(path, COMMITTED_BODY_MODE),
  rename: (from, to) => rename(from, to),
  remove: (path) => unlink(path),
  readDirectory: (path) => readdir(path),
  readFile: (path) => threads().readFile(path),
  readStart: (path, limit) => threads().readFile(path, limit),
  async sizeOf(path) {
    try {
      return (await stat(path)).size;
    } catch (error) {
      if (systemErrorCode(error) === "ENOENT") return undefined;
      throw error;
    }
  },
  syncDirectory: (path) => threads().syncDirectory(path),
  moveFiles: (moves, folders) => threads().moveFiles(moves, folders),
  removeMessages: (removals, folder) => threads().removeMessages(removals, folder),
};
