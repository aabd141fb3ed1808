// Where log lines end up when they go to standard output, standard error or a file: a sonic-boom stream
// (pino's own asynchronous writer) with the few things Petrel needs around it — a flush that really waits,
// reopen after logrotate, and close. Several Petrel processes append to the same file: it is opened with O_APPEND
// and sonic-boom hands whole lines to each write(2), so lines never interleave (only a short write, on a full
// disk, could split one). Lines are gathered for up to 100 ms or 4 KiB and written together: one write(2) for
// many lines, at the price of losing at most that much of the log if the process is killed. This file never
// formats a line.

import fs from "node:fs";
import path from "node:path";
import pino from "pino";

/** A destination for finished lines (each ends with "\n"). */
export type LogSink = {
  write(line: string): void;
  /** Opens the file again by name (after logrotate renamed it); nothing for stdout and stderr. */
  reopen(): void;
  /** Resolves once every line written so far has reached the operating system. */
  flush(): Promise<void>;
  /** Flushes, then lets go of the file. Lines written after close are dropped. */
  close(): Promise<void>;
};

type Boom = ReturnType<typeof pino.destination>;

/** Lines are written once this many bytes wait, or after FLUSH_INTERVAL_MS, whichever comes first. */
const BATCH_BYTES = 4096;
const FLUSH_INTERVAL_MS = 100;

function sinkOver(boom: Boom, file: string | undefined): LogSink {
  let unwritten = 0; // bytes handed to sonic-boom and not yet reported by its 'write' event
  let failed = false; // after a write error nothing tells what still arrives: flush stops waiting, until reopen
  let waiting: (() => void)[] = [];
  let closed = false;
  const settle = () => {
    if (unwritten > 0 && !failed) return;
    const resolved = waiting;
    waiting = [];
    for (const resolve of resolved) resolve();
  };
  boom.on("write", (bytes: number) => {
    unwritten = Math.max(0, unwritten - bytes);
    settle();
  });
  boom.on("error", (error: Error) => {
    if (!failed) process.stderr.write(`petrel: cannot write the log ${file ?? "stream"}: ${error.message}\n`);
    failed = true;
    unwritten = 0;
    settle();
  });
  const flush = () =>
    new Promise<void>((resolve) => {
      waiting.push(resolve);
      if (unwritten > 0 && !failed) boom.flush();
      settle();
    });
  // Lines wait in memory until a few KiB have gathered (one write(2) for many lines), at most this long.
  const timer = setInterval(() => {
    if (unwritten > 0 && !failed && !closed) boom.flush();
  }, FLUSH_INTERVAL_MS);
  timer.unref();
  return {
    write(line) {
      if (closed) return;
      if (!failed) unwritten += Buffer.byteLength(line);
      boom.write(line);
    },
    reopen() {
      if (file === undefined || closed) return;
      failed = false;
      boom.reopen();
    },
    flush,
    async close() {
      if (closed) return;
      await flush();
      closed = true;
      clearInterval(timer);
      await new Promise<void>((resolve) => {
        boom.once("close", () => resolve());
        boom.end();
      });
    },
  };
}

/** Standard output (1) or standard error (2). */
export function openStreamSink(fd: 1 | 2): LogSink {
  return sinkOver(pino.destination({ dest: fd, sync: false, minLength: BATCH_BYTES }), undefined);
}

/**
 * A file, appended to and created (with its folder) when missing. Opens it once synchronously first, so that a
 * wrong path or a permission problem stops the start with a clear error instead of surfacing later.
 */
export function openFileSink(file: string): LogSink {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.closeSync(fs.openSync(file, "a"));
  return sinkOver(pino.destination({ dest: file, sync: false, append: true, minLength: BATCH_BYTES }), file);
}
