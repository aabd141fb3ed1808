// Delivery into an mbox file (mbox(5), mboxrd variant): under the mailbox's dot-lock, one append of
// `From <sender or MAILER-DAEMON> <asctime>`, the message with LF endings and mboxrd quoting, and a blank
// line; then fdatasync. Any failure truncates the file back to its size before the delivery, so no partial
// message stays; a file that does not end in a blank line (a crash of another writer, a tool that omits it)
// gets one before our From_ line, so our message never runs into the one before it. The file is opened
// without following symbolic links and refused when it is not a regular file or has several hard links
// (the classic ways of tricking a delivery agent into writing elsewhere); it is created 0600 when missing.
//
// Locking, and what readers must do. Two locks, taken in the order Debian's Dovecot and mutt take them (fcntl,
// then dot-lock), so that a writer of theirs and Petrel never hold one each and wait for the other:
// - an fcntl() write lock on the whole mbox file (an open-file-description lock, F_OFD_SETLK, through
//   fs-native-extensions: it conflicts with the classic POSIX locks other programs take, and belongs to our
//   descriptor rather than the process, so no other close() in Petrel can drop it);
// - the dot-lock `<path>.lock`, created with O_EXCL, holding `<pid>:<hostname>` as Dovecot writes and reads it.
// Readers then never see a delivery in progress, whichever lock they take: Dovecot's readers (Debian 2.3.19
// defaults: mbox_read_locks = fcntl, mbox_write_locks = fcntl dotlock, mbox_lock_timeout = 5 mins) wait for the
// fcntl lock and its writers for both; mutt (Debian: +USE_DOTLOCK +USE_FCNTL) and Python's mailbox.lock() take
// both to read too (mutt gives up after a few seconds of a busy lock and reads read-only without it). Dovecot
// breaks our dot-lock only once our pid is dead (it reads our `pid:host`), never a live one; an fcntl lock dies
// with its holder by itself.
// The mbox is opened before it is locked (created 0600 when missing); once both locks are held, a path that no
// longer names the file opened (another program renamed or replaced the mbox meanwhile) is opened and locked
// again.
// A lock is stale, and removed, when the pid it names on this host is dead or when it was not modified for
// `staleLockAge` (5 min): we touch our own lock while we hold it, so only a dead holder's lock ages. A busy
// lock (either) is retried with back-off until `lockTimeout` (20 s, like Postfix's 20 lock attempts), then the
// delivery fails temporarily with 4.2.0. Deliveries of this process to one mbox take turns in memory first,
// so they do not all poll the same lock. This file must never write outside the lock or leave a partial
// message in the mbox.

import { constants, type Stats } from "node:fs";
import { lstat, open, unlink } from "node:fs/promises";
import type { FileHandle } from "node:fs/promises";
import { hostname } from "node:os";
import { dirname, isAbsolute, resolve } from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import { systemErrorCode } from "../queue/spool-errors.ts";
import type { LocalDelivery } from "./local-delivery.ts";
import { LocalDeliveryError, localDeliveryErrorFrom, storedMessage, syncFolder, writeAll } from "./local-delivery.ts";

export type MboxOptions = {
  /** Milliseconds a delivery waits for the mbox (its locks and this process's other deliveries); 20 s. */
  readonly lockTimeout?: number;
  /** A dot-lock not modified for this many milliseconds is stale and removed; 5 min. */
  readonly staleLockAge?: number;
};

const defaultLockTimeout = 20_000;
const defaultStaleLockAge = 5 * 60_000;

/** Appends one copy to the mbox at `path` (absolute). Resolves once durable; rejects with a LocalDeliveryError. */
export async function deliverToMbox(path: string, delivery: LocalDelivery, options: MboxOptions = {}): Promise<void> {
  if (!isAbsolute(path)) {
    throw new LocalDeliveryError("4.3.5", `message ${delivery.queueId}: the mbox path "${path}" is not absolute`);
  }
  const message = storedMessage(delivery, { quoteFrom: true });
  const mailbox = resolve(path);
  const lockTimeout = options.lockTimeout ?? defaultLockTimeout;
  const deadline = Date.now() + lockTimeout;
  const busy = (holder: string) => {
    const text = `message ${delivery.queueId}: ${mailbox} stayed locked ${holder} for ${lockTimeout} ms`;
    return new LocalDeliveryError("4.2.0", text);
  };
  await waitForTurn(mailbox, deadline, () => busy("by other deliveries of this process"));
  try {
    const file = await lockedMailbox(mailbox, deadline, busy).catch((error: unknown) => {
      throw localDeliveryErrorFrom(error, `message ${delivery.queueId}: opening the mbox ${mailbox}`);
    });
    try {
      const lock = await DotLock.take(mailbox, deadline, options.staleLockAge ?? defaultStaleLockAge, busy);
      try {
        await append(file, mailbox, delivery.sender, message);
      } catch (error) {
        throw localDeliveryErrorFrom(error, `message ${delivery.queueId}: appending to the mbox ${mailbox}`);
      } finally {
        await lock.release();
      }
    } finally {
      await file.close().catch(() => {}); // releases the fcntl lock
    }
  } finally {
    endTurn(mailbox);
  }
}

/** A wait before the next attempt at a busy lock: growing from about 10 ms to about 250 ms, never past `left`. */
function backOff(attempt: number, left: number): Promise<void> {
  return delay(Math.min(left, Math.min(250, 10 * 1.5 ** attempt) * (0.5 + Math.random())));
}

/**
 * The mbox opened and under our fcntl write lock; opened again when the path no longer names the file that was
 * locked. Its size is read only once the dot-lock is ours too (append()): a writer that takes only the dot-lock
 * may still append until then.
 */
async function lockedMailbox(path: string, deadline: number, busy: (holder: string) => LocalDeliveryError): Promise<FileHandle> {
  const tryLock = await fcntlLocking();
  for (let attempt = 0; ; ) {
    const handle = await openMailbox(path);
    try {
      while (!tryLock(handle.fd)) {
        const left = deadline - Date.now();
        if (left <= 0) throw busy("by another program's fcntl lock");
        await backOff(attempt++, left);
      }
      if (await stillNamed(path, await handle.stat())) return handle;
    } catch (error) {
      await handle.close().catch(() => {});
      throw error;
    }
    await handle.close();
  }
}

/**
 * The native fcntl lock, loaded at the first mbox delivery rather than with the server: a platform without a
 * prebuilt addon then defers its mbox deliveries (4.3.0, saying why) and runs everything else.
 */
async function fcntlLocking(): Promise<(fd: number) => boolean> {
  try {
    return (await import("fs-native-extensions")).tryLock;
  } catch (error) {
    throw new LocalDeliveryError("4.3.0", `fcntl() locking is not available here (fs-native-extensions: ${String(error)})`, { cause: error });
  }
}

/** Whether `path` still names the file whose status is `status`. */
async function stillNamed(path: string, status: Stats): Promise<boolean> {
  try {
    const named = await lstat(path);
    return named.ino === status.ino && named.dev === status.dev;
  } catch (error) {
    if (systemErrorCode(error) === "ENOENT") return false;
    throw error;
  }
}

// Deliveries of this process waiting for an mbox that another of them is writing, by path, in order of
// arrival. Process-wide on purpose: the lock it stands in front of is process-wide too.
const turns = new Map<string, Array<() => void>>();

function waitForTurn(mailbox: string, deadline: number, busy: () => LocalDeliveryError): Promise<void> {
  const waiting = turns.get(mailbox);
  if (waiting === undefined) {
    turns.set(mailbox, []);
    return Promise.resolve();
  }
  return new Promise((begin, giveUp) => {
    const start = () => {
      clearTimeout(timer);
      begin();
    };
    const timer = setTimeout(() => {
      waiting.splice(waiting.indexOf(start), 1);
      giveUp(busy());
    }, Math.max(0, deadline - Date.now()));
    waiting.push(start);
  });
}

function endTurn(mailbox: string): void {
  const next = turns.get(mailbox)?.shift();
  if (next === undefined) turns.delete(mailbox);
  else next();
}

/** The dot-lock `<mailbox>.lock`, held from take() to release(). */
class DotLock {
  readonly #path: string;
  readonly #file: FileHandle;
  readonly #refresh: NodeJS.Timeout;

  private constructor(path: string, file: FileHandle, staleLockAge: number) {
    this.#path = path;
    this.#file = file;
    this.#refresh = setInterval(() => {
      const now = new Date();
      file.utimes(now, now).catch(() => {}); // a lock we cannot touch only risks being broken as stale later
    }, Math.max(1, staleLockAge / 3));
    this.#refresh.unref();
  }

  /** Creates the lock, removing stale ones and retrying a busy one with back-off until `deadline`. */
  static async take(
    mailbox: string,
    deadline: number,
    staleLockAge: number,
    busy: (holder: string) => LocalDeliveryError,
  ): Promise<DotLock> {
    const path = `${mailbox}.lock`;
    for (let attempt = 0; ; attempt += 1) {
      const file = await createLock(path);
      if (file !== null) return new DotLock(path, file, staleLockAge);
      if (await removeIfStale(path, staleLockAge)) continue;
      const left = deadline - Date.now();
      if (left <= 0) throw busy(`by ${path} (${await holderOf(path)})`);
      await backOff(attempt, left);
    }
  }

  /** Removes the lock if it is still ours (it is not if someone broke it as stale and locked again). */
  async release(): Promise<void> {
    clearInterval(this.#refresh);
    try {
      const [mine, current] = await Promise.all([this.#file.stat(), lstat(this.#path)]);
      if (mine.ino === current.ino && mine.dev === current.dev) await unlink(this.#path);
    } catch {
      // gone already, or not ours to judge: the delivery itself is done, it must not fail now
    } finally {
      await this.#file.close().catch(() => {});
    }
  }
}

/** The new lock file holding `<pid>:<hostname>`, or null when a lock exists. */
async function createLock(path: string): Promise<FileHandle | null> {
  let file: FileHandle;
  try {
    file = await open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o644);
  } catch (error) {
    if (systemErrorCode(error) === "EEXIST") return null;
    throw localDeliveryErrorFrom(error, `creating the dot-lock ${path}`);
  }
  try {
    await writeAll(file, Buffer.from(`${process.pid}:${hostname()}`));
    return file;
  } catch (error) {
    await file.close().catch(() => {});
    await unlink(path).catch(() => {});
    throw localDeliveryErrorFrom(error, `writing the dot-lock ${path}`);
  }
}

/** Removes the lock when stale; true when it is gone (so taking it can be tried again at once). */
async function removeIfStale(path: string, staleLockAge: number): Promise<boolean> {
  const seen = await lockStatus(path);
  if (seen === null) return true;
  if (Date.now() - seen.mtimeMs <= staleLockAge && !(await holderIsDead(path))) return false;
  // look again just before removing, so a lock taken or touched meanwhile is left alone
  const again = await lockStatus(path);
  if (again === null) return true;
  if (again.ino !== seen.ino || again.mtimeMs !== seen.mtimeMs) return false;
  try {
    await unlink(path);
  } catch (error) {
    if (systemErrorCode(error) !== "ENOENT") throw localDeliveryErrorFrom(error, `removing the stale dot-lock ${path}`);
  }
  return true;
}

async function lockStatus(path: string): Promise<{ ino: number; mtimeMs: number } | null> {
  try {
    return await lstat(path);
  } catch (error) {
    if (systemErrorCode(error) === "ENOENT") return null;
    throw localDeliveryErrorFrom(error, `looking at the dot-lock ${path}`);
  }
}

/** What the lock file says: "pid:host" (Dovecot, Petrel), "pid" (liblockfile), "" (mutt); null if gone. */
async function lockContent(path: string): Promise<string | null> {
  let file: FileHandle;
  try {
    file = await open(path, "r");
  } catch {
    return null;
  }
  try {
    const buffer = Buffer.alloc(128);
    const { bytesRead } = await file.read(buffer, 0, buffer.length, 0);
    return buffer.subarray(0, bytesRead).toString("utf8").trim();
  } finally {
    await file.close();
  }
}

async function holderOf(path: string): Promise<string> {
  const content = await lockContent(path);
  return content === null ? "gone by now" : content === "" ? "no pid in it" : `it says ${content}`;
}

const pidAndHost = /^(\d+)(?::(.*))?$/s;

/** True only when the lock names a process of this host that no longer exists. */
async function holderIsDead(path: string): Promise<boolean> {
  const match = pidAndHost.exec((await lockContent(path)) ?? "");
  if (match === null || (match[2] !== undefined && match[2] !== hostname())) return false;
  const pid = Number(match[1]);
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return false;
  } catch (error) {
    return systemErrorCode(error) === "ESRCH";
  }
}

const appendFlags =
  constants.O_RDWR | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW | constants.O_NONBLOCK;
const LF = 0x0a;

/** The append itself, under both locks: separation, From_ line, message, blank line, fdatasync. */
async function append(mailbox: FileHandle, path: string, sender: string, message: AsyncIterable<Buffer>): Promise<void> {
  const status = await mailbox.stat();
  if (!status.isFile()) throw new LocalDeliveryError("5.2.0", `${path} is not a regular file`);
  if (status.nlink > 1) throw new LocalDeliveryError("5.2.0", `${path} has ${status.nlink} hard links; refusing to write to it`);
  const sizeBefore = status.size;
  try {
    await writeAll(mailbox, Buffer.concat([await separation(mailbox, sizeBefore), fromLine(sender, new Date())]));
    let lastByte = LF;
    for await (const piece of message) {
      await writeAll(mailbox, piece);
      lastByte = piece[piece.length - 1] ?? lastByte;
    }
    await writeAll(mailbox, Buffer.from(lastByte === LF ? "\n" : "\n\n"));
    await mailbox.datasync();
    if (sizeBefore === 0) await syncFolder(dirname(path)); // the file may be new: make its name durable
  } catch (error) {
    // best effort: the caller must see the first error, and the next delivery separates itself anyway
    await mailbox
      .truncate(sizeBefore)
      .then(() => mailbox.datasync())
      .catch(() => {});
    throw error;
  }
}

async function openMailbox(path: string): Promise<FileHandle> {
  try {
    return await open(path, appendFlags, 0o600);
  } catch (error) {
    if (systemErrorCode(error) !== "ELOOP") throw error;
    throw new LocalDeliveryError("5.2.0", `${path} is a symbolic link; mbox delivery does not follow them`, {
      cause: error,
    });
  }
}

/** What must precede our From_ line so that it starts after a blank line: "", "\n" or "\n\n". */
async function separation(mailbox: FileHandle, size: number): Promise<Buffer> {
  if (size === 0) return Buffer.alloc(0);
  const tail = Buffer.alloc(Math.min(2, size));
  await mailbox.read(tail, 0, tail.length, size - tail.length);
  if (tail.at(-1) !== LF) return Buffer.from("\n\n");
  return tail.length === 2 && tail[0] === LF ? Buffer.alloc(0) : Buffer.from("\n");
}

const weekdays = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/**
 * `From <sender> <asctime>` in local time, like ctime(3). The null sender is MAILER-DAEMON; spaces and
 * control characters of a (quoted) sender become "_", since readers split the line at spaces.
 */
function fromLine(sender: string, date: Date): Buffer {
  const who = sender === "" ? "MAILER-DAEMON" : sender.replace(/[\0-\x20\x7f]/g, "_");
  const two = (value: number) => String(value).padStart(2, "0");
  const day = String(date.getDate()).padStart(2, " ");
  const time = `${two(date.getHours())}:${two(date.getMinutes())}:${two(date.getSeconds())}`;
  const when = `${weekdays[date.getDay()]} ${months[date.getMonth()]} ${day} ${time} ${date.getFullYear()}`;
  return Buffer.from(`From ${who} ${when}\n`, "utf8");
}
