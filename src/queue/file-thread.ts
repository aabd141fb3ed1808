// The body of one spool file thread (see file-threads.ts): runs whole file operations with synchronous
// system calls, off the event loop, and answers each request once with its outcome. It creates files
// exclusively and removes only a file it created itself and failed to finish.

import { closeSync, constants, fdatasyncSync, fsyncSync, openSync, unlinkSync, writeSync } from "node:fs";
import { parentPort } from "node:worker_threads";
import type { FileRequest, FileResult } from "./file-threads.ts";

const CREATE = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL;

/** open(O_EXCL, 0600), write every byte, fdatasync, close; on failure nothing of the file is left. */
function createFile(path: string, data: Uint8Array): void {
  const fd = openSync(path, CREATE, 0o600);
  try {
    for (let written = 0; written < data.length; ) {
      const count = writeSync(fd, data, written, data.length - written);
      if (count === 0) throw new Error("the file system accepted no bytes of a write");
      written += count;
    }
    fdatasyncSync(fd);
  } catch (error) {
    closeSync(fd);
    unlinkSync(path);
    throw error;
  }
  closeSync(fd);
}

function syncDirectory(path: string): void {
  const fd = openSync(path, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function run(request: FileRequest): FileResult {
  try {
    if (request.op === "create") createFile(request.path, request.data);
    else syncDirectory(request.path);
    return { id: request.id };
  } catch (error) {
    const { code, message } = error as NodeJS.ErrnoException;
    return { id: request.id, error: { code, message } };
  }
}

parentPort!.on("message", (request: FileRequest) => parentPort!.postMessage(run(request)));
