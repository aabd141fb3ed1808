// The durable spool on disk: the one object the server, the scheduler and `petrel queue` use to reach
// spooled mail. A message is an immutable body file plus an envelope file whose folder is its state
// (layout in spool-layout.ts); writing is in message-writer.ts, crash repair in recovery.ts.
// Several worker processes share one spool directory: everything here relies only on atomic renames
// and exclusive creates, never on a lock held in memory. Reads tolerate a file that vanishes between
// readdir and read (another process moved it). This file must never report success for a change
// before the directories holding it are fsynced, and never delete a file of an acknowledged message.

import { parseEnvelopeFile, serializeEnvelope } from "./envelope.ts";
import type { Envelope } from "./envelope.ts";
import { type BatchMaker, BatchWindow } from "./batch-window.ts";
import { DirectorySync } from "./directory-sync.ts";
import { readHeaderSection } from "./header-section.ts";
import { SpoolMessageWriter } from "./message-writer.ts";
import type { MessageWriter } from "./message-writer.ts";
import { recoverSpool } from "./recovery.ts";
import { type DeadWorker, removeWorkerLeftovers } from "./worker-leftovers.ts";
import type { RecoveryReport } from "./recovery.ts";
import { nodeSpoolDisk } from "./spool-disk.ts";
import type { SpoolDisk, SpoolFile } from "./spool-disk.ts";
import { SpoolError, spoolErrorFrom, systemErrorCode } from "./spool-errors.ts";
import { isSafeId, liveStates, spoolFolders, spoolPaths, spoolStates } from "./spool-layout.ts";
import type { SpoolPaths, State } from "./spool-layout.ts";

export type { AttemptRecord, Envelope, EnvelopeDraft, SpoolRecipient } from "./envelope.ts";
export type { MessageWriter } from "./message-writer.ts";
export type { RecoveryReport } from "./recovery.ts";
export type { State } from "./spool-layout.ts";
export { SpoolError } from "./spool-errors.ts";
export type { SpoolErrorCode } from "./spool-errors.ts";

export type SpoolOptions = {
  /** The file-system layer; tests pass one that counts or fails calls. */
  disk?: SpoolDisk;
  /** false: only read an existing spool (the CLI), never create its folders. Default true. */
  create?: boolean;
  /** Bodies up to this many bytes are buffered and written once at commit. Default 64 KiB. */
  memoryLimit?: number;
  /** write() returns false above this many bytes waiting for the disk. Default 1 MiB. */
  highWater?: number;
};

export type SpoolEntry = { id: string; state: State; envelope: Envelope };

/** A file in corrupt/: its envelope if it reads back, else why not (`problem`). */
export type CorruptEntry = { name: string; envelope: Envelope; problem?: undefined } | { name: string; envelope: null; problem: string };

export type SpoolMessage = {
  state: State;
  envelope: Envelope;
  /** The header section of the body (up to, not including, the empty line). */
  headers: Buffer;
  /** The body file's size on disk, undefined if it is missing; differs from envelope.size if damaged. */
  bodySize: number | undefined;
};

/** How long a change may wait for others to be made with it as one batch (one trip, one fsync per folder), in ms. */
export type SyncWindow = { window?: number };

type SpoolSetup = { paths: SpoolPaths; disk: SpoolDisk; memoryLimit: number; highWater: number };

export class Spool {
  readonly root: string;
  readonly #paths: SpoolPaths;
  readonly #disk: SpoolDisk;
  readonly #memoryLimit: number;
  readonly #highWater: number;
  readonly #directorySyncs = new Map<string, DirectorySync>();
  readonly #batches = new Map<string, BatchWindow<string>>();

  /** Use Spool.open(). */
  constructor(setup: SpoolSetup) {
    this.root = setup.paths.root;
    this.#paths = setup.paths;
    this.#disk = setup.disk;
    this.#memoryLimit = setup.memoryLimit;
    this.#highWater = setup.highWater;
  }

  static async open(dir: string, options: SpoolOptions = {}): Promise<Spool> {
    const disk = options.disk ?? nodeSpoolDisk;
    const paths = spoolPaths(dir);
    try {
      if (options.create === false) {
        await disk.readDirectory(dir);
      } else {
        await disk.makeDirectory(dir);
        for (const folder of spoolFolders) await disk.makeDirectory(paths.folder(folder));
        await disk.syncDirectory(dir);
      }
    } catch (error) {
      throw spoolErrorFrom(error, `opening the spool directory ${dir}`);
    }
    const memoryLimit = options.memoryLimit ?? 64 * 1024;
    const highWater = options.highWater ?? 1024 * 1024;
    return new Spool({ paths, disk, memoryLimit, highWater });
  }

  /** Run once by the primary before any worker accepts mail: see recovery.ts. */
  recover(): Promise<RecoveryReport> {
    return recoverSpool(this.#disk, this.#paths);
  }

  /** Run by the primary when an SMTP worker died, before its replacement starts: see worker-leftovers.ts. */
  removeWorkerLeftovers(dead: DeadWorker): Promise<string[]> {
    return removeWorkerLeftovers(this.#disk, this.#paths, dead);
  }

  /** Starts a message; nothing is visible to list() or show() before commit() resolves. */
  create(id: string): MessageWriter {
    checkId(id);
    return new SpoolMessageWriter(id, {
      disk: this.#disk,
      paths: this.#paths,
      memoryLimit: this.#memoryLimit,
      highWater: this.#highWater,
    });
  }

  /** Readable envelopes in the given states, each state in id (= arrival) order. */
  async *list(states: readonly State[] = spoolStates): AsyncGenerator<SpoolEntry> {
    for (const state of states) {
      for (const id of await this.#namesIn(state)) {
        if (!isSafeId(id)) continue;
        const bytes = await this.#readEnvelopeFile(state, id);
        if (bytes === undefined) continue;
        const check = parseEnvelopeFile(bytes, id);
        if (check.ok) yield { id, state, envelope: check.envelope };
      }
    }
  }

  /**
   * The message with this id in whichever state it is, or null if there is none. Rejects with
   * SPOOL_DAMAGED if its envelope file cannot be read back.
   */
  async show(id: string): Promise<SpoolMessage | null> {
    if (!isSafeId(id)) return null;
    // Two passes: a message moved by another process during the first one is found in the second.
    for (let pass = 0; pass < 2; pass++) {
      for (const state of spoolStates) {
        const bytes = await this.#readEnvelopeFile(state, id);
        if (bytes === undefined) continue;
        const check = parseEnvelopeFile(bytes, id);
        if (!check.ok) {
          throw new SpoolError("SPOOL_DAMAGED", `message ${id} in ${state}/ cannot be read: ${check.problem}`);
        }
        return { state, envelope: check.envelope, ...(await this.#readBodyStart(id)) };
      }
    }
    return null;
  }

  /**
   * Moves a message between states with one atomic rename, resolved once both folders are fsynced. `window`:
   * milliseconds the move may wait for others to be made with it, as one batch (batch-window.ts), default none.
   */
  async move(id: string, from: State, to: State, { window = 0 }: SyncWindow = {}): Promise<void> {
    checkId(id);
    if (from === to) return;
    if (window > 0) return this.#batch(`move ${from} ${to} ${window}`, window, (moves) => this.#moveAll(moves, from, to)).add(id);
    try {
      await this.#disk.rename(this.#paths.envelope(from, id), this.#paths.envelope(to, id));
    } catch (error) {
      if (systemErrorCode(error) === "ENOENT") {
        throw new SpoolError("SPOOL_NOT_FOUND", `no message ${id} in ${from}/`, { cause: error });
      }
      throw spoolErrorFrom(error, `moving message ${id} from ${from}/ to ${to}/`);
    }
    try {
      await Promise.all([this.#directorySync(this.#paths.folder(to)).sync(), this.#directorySync(this.#paths.folder(from)).sync()]);
    } catch (error) {
      throw spoolErrorFrom(error, `making the move of message ${id} to ${to}/ durable`);
    }
  }

  /**
   * Replaces the envelope of a message in `state` with one atomic rename over it (written to tmp/ and fsynced
   * first), resolved once the folder is fsynced: a crash leaves either the old envelope or the new one.
   * SPOOL_NOT_FOUND if the message is not (any more) in that state; the new envelope is then not written.
   */
  async rewrite(state: State, envelope: Envelope): Promise<void> {
    const id = envelope.id;
    checkId(id);
    const target = this.#paths.envelope(state, id);
    if ((await this.#disk.sizeOf(target)) === undefined) {
      throw new SpoolError("SPOOL_NOT_FOUND", `no message ${id} in ${state}/`);
    }
    // tmp/ names of rewrites carry the process and a counter: the CLI and the scheduler may rewrite at once.
    const temporary = `${this.#paths.tmp(id)}.${process.pid}.${++rewrites}`;
    try {
      await this.#disk.createFile(temporary, [serializeEnvelope(envelope)]);
      await this.#disk.rename(temporary, target);
    } catch (error) {
      await this.#disk.remove(temporary).catch(() => {});
      throw spoolErrorFrom(error, `rewriting the envelope of message ${id} in ${state}/`);
    }
    try {
      await this.#directorySync(this.#paths.folder(state)).sync();
    } catch (error) {
      throw spoolErrorFrom(error, `making the new envelope of message ${id} durable`);
    }
  }

  /**
   * Removes a message that needs nothing more (every recipient final and reported): the envelope first, fsynced,
   * then the body, so that a crash in between leaves an orphan body (removed at recovery), never an envelope
   * without its body. `window`: as for move().
   */
  async remove(state: State, id: string, { window = 0 }: SyncWindow = {}): Promise<void> {
    checkId(id);
    if (window > 0) return this.#batch(`remove ${state} ${window}`, window, (ids) => this.#removeAll(ids, state)).add(id);
    try {
      await this.#disk.remove(this.#paths.envelope(state, id));
    } catch (error) {
      if (systemErrorCode(error) === "ENOENT") {
        throw new SpoolError("SPOOL_NOT_FOUND", `no message ${id} in ${state}/`, { cause: error });
      }
      throw spoolErrorFrom(error, `removing message ${id} from ${state}/`);
    }
    try {
      await this.#directorySync(this.#paths.folder(state)).sync();
      await this.#disk.remove(this.#paths.body(id));
    } catch (error) {
      if (systemErrorCode(error) !== "ENOENT") throw spoolErrorFrom(error, `removing the body of message ${id}`);
    }
  }

  /** The envelope of the message `id` in `state`, or null if it is not there (any more). */
  async read(state: State, id: string): Promise<Envelope | null> {
    checkId(id);
    const bytes = await this.#readEnvelopeFile(state, id);
    if (bytes === undefined) return null;
    const check = parseEnvelopeFile(bytes, id);
    if (!check.ok) throw new SpoolError("SPOOL_DAMAGED", `message ${id} in ${state}/ cannot be read: ${check.problem}`);
    return check.envelope;
  }

  /** Ids in `state`, sorted (= arrival order). */
  ids(state: State): Promise<string[]> {
    return this.#namesIn(state).then((names) => names.filter(isSafeId));
  }

  /**
   * Every file in corrupt/, readable or not, in name order. Recovery names a file after its id, a second copy of an
   * id `<id>.1`, `<id>.2`..., and keeps the name of a file that was not a queue id at all.
   */
  async *corrupt(): AsyncGenerator<CorruptEntry> {
    for (const name of await this.#namesIn("corrupt")) {
      if (!isCorruptName(name)) continue;
      const bytes = await this.#readEnvelopeFile("corrupt", name);
      if (bytes === undefined) continue;
      const check = parseEnvelopeFile(bytes, idOfCorruptName(name));
      yield check.ok ? { name, envelope: check.envelope } : { name, envelope: null, problem: check.problem };
    }
  }

  /**
   * Removes corrupt/<name>, fsynced, then the body of its id unless an envelope in another state or another file in
   * corrupt/ still names that id (a second copy shares its body with the first). SPOOL_NOT_FOUND if it is not there.
   */
  async removeCorrupt(name: string): Promise<void> {
    if (!isCorruptName(name)) throw new SpoolError("SPOOL_BAD_ID", `${JSON.stringify(name)} is not a file name in corrupt/`);
    try {
      await this.#disk.remove(this.#paths.envelope("corrupt", name));
      await this.#directorySync(this.#paths.folder("corrupt")).sync();
    } catch (error) {
      if (systemErrorCode(error) === "ENOENT") {
        throw new SpoolError("SPOOL_NOT_FOUND", `no file ${name} in corrupt/`, { cause: error });
      }
      throw spoolErrorFrom(error, `removing ${name} from corrupt/`);
    }
    const id = idOfCorruptName(name);
    if (!isSafeId(id)) return;
    for (const state of liveStates) {
      if ((await this.#disk.sizeOf(this.#paths.envelope(state, id))) !== undefined) return;
    }
    if ((await this.#namesIn("corrupt")).some((other) => idOfCorruptName(other) === id)) return;
    try {
      await this.#disk.remove(this.#paths.body(id));
    } catch (error) {
      if (systemErrorCode(error) !== "ENOENT") throw spoolErrorFrom(error, `removing the body of message ${id}`);
    }
  }

  /** The first `limit` bytes of a message's body file (all of it when shorter), read in one go. */
  async readBody(id: string, limit: number): Promise<Buffer> {
    checkId(id);
    try {
      return await this.#disk.readStart(this.#paths.body(id), limit);
    } catch (error) {
      const doing = systemErrorCode(error) === "ENOENT" ? "opening" : "reading";
      throw spoolErrorFrom(error, `${doing} the body of message ${id}`);
    }
  }

  /** The path of a message's body file, for transports that stream it. */
  bodyPath(id: string): string {
    checkId(id);
    return this.#paths.body(id);
  }

  /** The batch window of one kind of change (made by `make`), created on first use. */
  #batch(kind: string, window: number, make: BatchMaker<string>): BatchWindow<string> {
    let batch = this.#batches.get(kind);
    if (batch === undefined) {
      batch = new BatchWindow(window, make);
      this.#batches.set(kind, batch);
    }
    return batch;
  }

  /** move() of several messages at once: the renames, then one fsync of each folder. */
  async #moveAll(ids: readonly string[], from: State, to: State): Promise<(Error | null)[]> {
    const moves = ids.map((id) => ({ from: this.#paths.envelope(from, id), to: this.#paths.envelope(to, id) }));
    let outcomes: (Error | null)[];
    try {
      outcomes = await this.#disk.moveFiles(moves, [this.#paths.folder(to), this.#paths.folder(from)]);
    } catch (error) {
      return ids.map((id) => spoolErrorFrom(error, `making the move of message ${id} to ${to}/ durable`));
    }
    return outcomes.map((error, index) => {
      const id = ids[index]!;
      if (error === null) return null;
      if (systemErrorCode(error) === "ENOENT") return new SpoolError("SPOOL_NOT_FOUND", `no message ${id} in ${from}/`, { cause: error });
      return spoolErrorFrom(error, `moving message ${id} from ${from}/ to ${to}/`);
    });
  }

  /** remove() of several messages at once: the envelopes, one fsync of their folder, then the bodies. */
  async #removeAll(ids: readonly string[], state: State): Promise<(Error | null)[]> {
    const removals = ids.map((id) => ({ envelope: this.#paths.envelope(state, id), body: this.#paths.body(id) }));
    let outcomes: (Error | null)[];
    try {
      outcomes = await this.#disk.removeMessages(removals, this.#paths.folder(state));
    } catch (error) {
      return ids.map((id) => spoolErrorFrom(error, `removing the body of message ${id}`));
    }
    return outcomes.map((error, index) => {
      const id = ids[index]!;
      if (error === null) return null;
      if (systemErrorCode(error) === "ENOENT") return new SpoolError("SPOOL_NOT_FOUND", `no message ${id} in ${state}/`, { cause: error });
      return spoolErrorFrom(error, `removing message ${id} from ${state}/`);
    });
  }

  #directorySync(folder: string): DirectorySync {
    let sync = this.#directorySyncs.get(folder);
    if (sync === undefined) {
      sync = new DirectorySync(() => this.#disk.syncDirectory(folder));
      this.#directorySyncs.set(folder, sync);
    }
    return sync;
  }

  async #namesIn(state: State): Promise<string[]> {
    try {
      return (await this.#disk.readDirectory(this.#paths.folder(state))).sort();
    } catch (error) {
      if (systemErrorCode(error) === "ENOENT") return []; // a read-only open of a spool never started
      throw spoolErrorFrom(error, `listing ${state}/ of the spool`);
    }
  }

  /** The envelope file's bytes, or undefined if it is not there (any more). */
  async #readEnvelopeFile(state: State, id: string): Promise<Buffer | undefined> {
    try {
      return await this.#disk.readFile(this.#paths.envelope(state, id));
    } catch (error) {
      const errno = systemErrorCode(error);
      if (errno === "ENOENT" || errno === "EISDIR") return undefined;
      throw spoolErrorFrom(error, `reading the envelope of message ${id} in ${state}/`);
    }
  }

  async #readBodyStart(id: string): Promise<{ headers: Buffer; bodySize: number | undefined }> {
    let file: SpoolFile;
    try {
      file = await this.#disk.open(this.#paths.body(id), "read");
    } catch (error) {
      if (systemErrorCode(error) === "ENOENT") return { headers: Buffer.alloc(0), bodySize: undefined };
      throw spoolErrorFrom(error, `opening the body of message ${id}`);
    }
    try {
      return { headers: await readHeaderSection(file), bodySize: await file.size() };
    } catch (error) {
      throw spoolErrorFrom(error, `reading the body of message ${id}`);
    } finally {
      await file.close();
    }
  }
}

/** Rewrites by this process so far: the tmp/ name of each rewrite is unique. */
let rewrites = 0;

/** Any plain file name: recovery moves whatever it finds in a state folder to corrupt/ under its own name. */
function isCorruptName(name: string): boolean {
  return name !== "" && name !== "." && name !== ".." && !/[/\0]/.test(name);
}

/** The queue id a corrupt/ file name stands for: `01ABC.1` → `01ABC`. */
function idOfCorruptName(name: string): string {
  return name.split(".")[0]!;
}

function checkId(id: string): void {
  if (!isSafeId(id)) throw new SpoolError("SPOOL_BAD_ID", `${JSON.stringify(id)} is not a queue id`);
}
