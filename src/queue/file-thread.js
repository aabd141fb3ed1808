// The body of one spool file thread (see file-threads.ts): runs whole file operations with synchronous
// system calls, off the event loop, and answers each request once with its outcome. It creates files
// exclusively and removes only a file it created itself and failed to finish.
//
// Plain JavaScript, checked by tsc through its JSDoc types: a thread that loaded a .ts file would start
// Node's TypeScript stripper of its own, some 17 MB per thread, for these forty lines.

import { closeSync, constants, fdatasyncSync, fsyncSync, openSync, renameSync, unlinkSync, writeSync } from "node:fs";
import { dirname } from "node:path";
import { parentPort } from "node:worker_threads";

/** @typedef {import("./file-threads.ts").FileRequest} FileRequest */
/** @typedef {import("./file-threads.ts").FileResult} FileResult */

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
 * open(O_EXCL, 0600), write every byte, fdatasync, close; on failure nothing of the file is left.
 * @param {string} path
 * @param {Uint8Array} data
 */
function createFile(path, data) {
  const fd = openSync(path, CREATE, 0o600);
  try {
    writeAll(fd, data);
    fdatasyncSync(fd);
  } catch (error) {
    closeSync(fd);
    unlinkSync(path);
    throw error;
  }
  closeSync(fd);
}

/**
 * SpoolDisk.stageMessage (spool-disk.ts says what it promises; stageMessageWith there is the same order).
 * @param {Extract<FileRequest, { op: "stage" }>["plan"]} plan
 */
function stage(plan) {
  if (plan.bodyWritten) {
    const fd = openSync(plan.body, constants.O_RDONLY);
    try {
      fdatasyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } else createFile(plan.body, plan.bodyData);
  createFile(plan.envelopeTmp, plan.envelopeData);
  try {
    syncDirectory(dirname(plan.body));
    renameSync(plan.envelopeTmp, plan.envelope);
  } catch (error) {
    try {
      unlinkSync(plan.envelopeTmp);
    } catch {
      // already gone
    }
    throw error;
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
 * @param {FileRequest} request
 * @returns {FileResult}
 */
function run(request) {
  try {
    if (request.op === "create") createFile(request.path, request.data);
    else if (request.op === "stage") stage(request.plan);
    else syncDirectory(request.path);
    return { id: request.id };
  } catch (error) {
    const { code, message } = /** @type {NodeJS.ErrnoException} */ (error);
    return { id: request.id, error: { code, message } };
  }
}

const port = parentPort;
if (port === null) throw new Error("file-thread.js runs only as a worker thread of file-threads.ts");
port.on("message", (/** @type {FileRequest} */ request) => port.postMessage(run(request)));
