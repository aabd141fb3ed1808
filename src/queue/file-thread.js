// The body of one spool file thread (see file-threads.ts): runs whole file operations with synchronous
// system calls, off the event loop, and answers each request once with its outcome. It creates files
// exclusively and removes only files it created itself and failed to finish.
//
// Group commit: the thread takes every request waiting for it as one batch. New messages in a batch are
// committed in phases: all files written, then each fdatasynced, then each body folder fsynced once, then
// the envelopes renamed, then each envelope folder fsynced once. On ext4 the first fdatasync commits the journal for the whole batch (and, with
// data=ordered, writes the other files' data), so the fdatasyncs after it find almost nothing left to do:
// a batch of twenty messages costs about what one costs. Every file is still fdatasynced by itself, so no
// file system's behaviour is relied on for durability.
//
// Plain JavaScript, checked by tsc through its JSDoc types: a thread that loaded a .ts file would start
// Node's TypeScript stripper of its own, some 17 MB per thread.

import { closeSync, constants, fchmodSync, fdatasyncSync, fsyncSync, fstatSync, openSync, readSync, renameSync, unlinkSync, writeSync } from "node:fs";
import { dirname } from "node:path";
import { parentPort, receiveMessageOnPort } from "node:worker_threads";
import { COMMITTED_BODY_MODE } from "./committed-body.js";

/** @typedef {import("./file-threads.ts").FileRequest} FileRequest */
/** @typedef {import("./file-threads.ts").FileResult} FileResult */
/** @typedef {Extract<FileRequest, { op: "commit" }>} CommitRequest */
/** @typedef {{ request: CommitRequest; bodyFd: number; envelopeFd: number; error: unknown }} Staging */

const CREATE = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL;

/**
 * @param {number} fd
 * @param {Uint8Array} data
 */
function writeAll(fd, data) {
  for (let written = 0; written < data.length; ) {
    const count = writeSync(fd, data, written, data.length - written);
    if (count === 0) throw new Error("the file system accepted no bytes of a write");
    written += count;
  }
}

/**
 * open(O_EXCL, `mode`, 0600 by default) and write every byte; on failure nothing of the file is left. Returns the
 * open fd.
 * @param {string} path
 * @param {Uint8Array} data
 * @param {number} [mode]
 */
function createWritten(path, data, mode = 0o600) {
  const fd = openSync(path, CREATE, mode);
  try {
    writeAll(fd, data);
  } catch (error) {
    closeSync(fd);
    unlinkSync(path);
    throw error;
  }
  return fd;
}

/**
 * fdatasync and close; on failure the file is removed (`path` given) or only closed.
 * @param {number} fd
 * @param {string | null} path
 */
function syncAndClose(fd, path) {
  try {
    fdatasyncSync(fd);
  } catch (error) {
    closeSync(fd);
    if (path !== null) unlinkQuietly(path);
    throw error;
  }
  closeSync(fd);
}

/** @param {string} path */
function unlinkQuietly(path) {
  try {
    unlinkSync(path);
  } catch {
    // already gone
  }
}

/** @param {string} path */
function syncDirectory(path) {
  const fd = openSync(path, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * The file's bytes up to `limit` (all of them without one), in a buffer of its own so that it can be handed to
 * the event loop without a copy; read until the end or the limit, even if the file grew since fstat.
 * @param {string} path
 * @param {number} limit
 * @returns {Uint8Array}
 */
function readStart(path, limit) {
  const fd = openSync(path, constants.O_RDONLY);
  try {
    let data = new Uint8Array(new ArrayBuffer(Math.min(fstatSync(fd).size + 1, limit)));
    let length = 0;
    while (length < limit) {
      if (length === data.length) {
        const larger = new Uint8Array(new ArrayBuffer(Math.min(data.length * 2, limit)));
        larger.set(data);
        data = larger;
      }
      const count = readSync(fd, data, length, data.length - length, null);
      if (count === 0) break;
      length += count;
    }
    return data.subarray(0, length);
  } finally {
    closeSync(fd);
  }
}

/**
 * SpoolDisk.commitMessage for a batch (spool-disk.ts says what it promises; commitMessageWith there follows
 * the same order). Returns one result per request.
 * @param {CommitRequest[]} requests
 * @returns {FileResult[]}
 */
function commitBatch(requests) {
  /** @type {Staging[]} */
  const staged = requests.map((request) => ({ request, bodyFd: -1, envelopeFd: -1, error: null }));
  const failed = (/** @type {Staging} */ item, /** @type {unknown} */ error) => {
    item.error = error;
    if (item.envelopeFd >= 0) closeSync(item.envelopeFd);
    if (item.bodyFd >= 0) closeSync(item.bodyFd);
    item.envelopeFd = item.bodyFd = -1;
    unlinkQuietly(item.request.plan.envelopeTmp);
  };
  each(staged, failed, (item) => {
    const { plan } = item.request;
    item.bodyFd = plan.bodyWritten ? openCommitted(plan.body) : createWritten(plan.body, plan.bodyData, COMMITTED_BODY_MODE);
    item.envelopeFd = createWritten(plan.envelopeTmp, plan.envelopeData);
  });
  each(staged, failed, (item) => {
    const bodyFd = item.bodyFd;
    item.bodyFd = -1;
    syncAndClose(bodyFd, null);
    const envelopeFd = item.envelopeFd;
    item.envelopeFd = -1;
    syncAndClose(envelopeFd, item.request.plan.envelopeTmp);
  });
  syncFolders(staged, (plan) => dirname(plan.body), failed);
  each(staged, failed, (item) => renameSync(item.request.plan.envelopeTmp, item.request.plan.envelope));
  syncFolders(staged, (plan) => dirname(plan.envelope), (item, error) => {
    unlinkQuietly(item.request.plan.envelope);
    failed(item, error);
  });
  return staged.map((item) => (item.error === null ? { id: item.request.id } : failure(item.request.id, item.error)));
}

/**
 * Opens a body streamed earlier and marks it committed (committed-body.js); returns the open fd.
 * @param {string} path
 */
function openCommitted(path) {
  const fd = openSync(path, constants.O_RDONLY);
  try {
    fchmodSync(fd, COMMITTED_BODY_MODE);
  } catch (error) {
    closeSync(fd);
    throw error;
  }
  return fd;
}

/**
 * Runs one phase for every message still going; a message whose step throws is failed, the others go on.
 * @param {Staging[]} staged
 * @param {(item: Staging, error: unknown) => void} failed
 * @param {(item: Staging) => void} step
 */
function each(staged, failed, step) {
  for (const item of staged) {
    if (item.error !== null) continue;
    try {
      step(item);
    } catch (error) {
      failed(item, error);
    }
  }
}

/**
 * fsyncs once each folder that a message still going needs; if one fails, so do its messages.
 * @param {Staging[]} staged
 * @param {(plan: CommitRequest["plan"]) => string} folderOf
 * @param {(item: Staging, error: unknown) => void} failed
 */
function syncFolders(staged, folderOf, failed) {
  const going = staged.filter((item) => item.error === null);
  for (const folder of new Set(going.map((item) => folderOf(item.request.plan)))) {
    try {
      syncDirectory(folder);
    } catch (error) {
      for (const item of going) if (folderOf(item.request.plan) === folder) failed(item, error);
    }
  }
}

/**
 * @param {number} id
 * @param {unknown} error
 * @returns {FileResult}
 */
function failure(id, error) {
  const { code, message } = /** @type {NodeJS.ErrnoException} */ (error);
  return { id, error: { code, message } };
}

/**
 * Runs `step` on each item; its error is that item's outcome, the others go on.
 * @template T
 * @param {readonly T[]} items
 * @param {(item: T) => void} step
 * @returns {({ code?: string; message: string } | null)[]}
 */
function eachAlone(items, step) {
  return items.map((item) => {
    try {
      step(item);
      return null;
    } catch (error) {
      const { code, message } = /** @type {NodeJS.ErrnoException} */ (error);
      return { code, message };
    }
  });
}

/**
 * FileThreads.moveFiles: the renames, then each folder fsynced once.
 * @param {Extract<FileRequest, { op: "move" }>} request
 * @returns {FileResult}
 */
function moveFiles(request) {
  const each = eachAlone(request.moves, (move) => renameSync(move.from, move.to));
  for (const folder of request.folders) syncDirectory(folder);
  return { id: request.id, each };
}

/**
 * FileThreads.removeMessages: the envelopes, their folder fsynced once, then the bodies of those removed.
 * @param {Extract<FileRequest, { op: "removeMessages" }>} request
 * @returns {FileResult}
 */
function removeMessages(request) {
  const each = eachAlone(request.removals, (removal) => unlinkSync(removal.envelope));
  if (each.some((error) => error === null)) syncDirectory(request.folder);
  request.removals.forEach((removal, index) => {
    if (each[index] !== null) return;
    try {
      unlinkSync(removal.body);
    } catch (error) {
      const { code, message } = /** @type {NodeJS.ErrnoException} */ (error);
      if (code !== "ENOENT") each[index] = { code, message };
    }
  });
  return { id: request.id, each };
}

/**
 * @param {Exclude<FileRequest, CommitRequest>} request
 * @returns {FileResult}
 */
function runOne(request) {
  try {
    if (request.op === "read") return { id: request.id, data: readStart(request.path, request.limit ?? Number.POSITIVE_INFINITY) };
    if (request.op === "move") return moveFiles(request);
    if (request.op === "removeMessages") return removeMessages(request);
    if (request.op === "create") syncAndClose(createWritten(request.path, request.data), request.path);
    else syncDirectory(request.path);
    return { id: request.id };
  } catch (error) {
    return failure(request.id, error);
  }
}

/**
 * Every request waiting now, the given one first.
 * @param {import("node:worker_threads").MessagePort} port
 * @param {FileRequest} first
 */
function waiting(port, first) {
  const batch = [first];
  for (let next = receiveMessageOnPort(port); next !== undefined; next = receiveMessageOnPort(port)) {
    batch.push(/** @type {FileRequest} */ (next.message));
  }
  return batch;
}

const port = parentPort;
if (port === null) throw new Error("file-thread.js runs only as a worker thread of file-threads.ts");
port.on("message", (/** @type {FileRequest} */ first) => {
  const batch = waiting(port, first);
  /** @type {CommitRequest[]} */
  const stages = [];
  /** @type {FileResult[]} */
  const results = [];
  for (const request of batch) {
    if (request.op === "commit") stages.push(request);
    else results.push(runOne(request));
  }
  if (stages.length > 0) results.push(...commitBatch(stages));
  /** @type {ArrayBuffer[]} */
  const read = [];
  for (const result of results) if (result.data !== undefined) read.push(/** @type {ArrayBuffer} */ (result.data.buffer));
  port.postMessage(results, read);
});
