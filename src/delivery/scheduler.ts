// The scheduler: takes due mail from the spool and runs it through message-run.ts. New mail appears in
// incoming/ (committed by the SMTP workers, released or flushed by `petrel queue`); a watch on that folder
// hands each new id over at once, and a scan every few seconds catches anything a watch event missed. A
// message is moved incoming/ → active/ before its run (an atomic rename: whoever renames first owns it; made in a
// batch with the other messages taken within SPOOL_BATCH_WINDOW, one fsync of each folder for all of them), and
// deferred/ messages come back when their nextAttemptAt is due. At start, active/ leftovers of a process that
// died are taken again: their envelopes say which recipients were already delivered.
// At most max_active messages are in runs at once; more wait in the spool, not in memory.

import { type FSWatcher, watch } from "node:fs";
import type { Logger } from "pino";
import { SpoolError, type State } from "../queue/spool.ts";
import { type RunParts, runMessage, SPOOL_BATCH_WINDOW } from "./message-run.ts";

/** A scan of incoming/ this often, for mail a watch event did not announce. */
const SCAN_INTERVAL = 5000;
/** Messages in runs at once. */
const MAX_ACTIVE = 1000;

export class Scheduler {
  #parts: RunParts;
  #log: Logger;
  readonly #running = new Map<string, Promise<void>>();
  /** Deferred ids → when they are due (ms). */
  readonly #deferred = new Map<string, number>();
  #dueTimer: NodeJS.Timeout | undefined;
  #dueAt = Infinity;
  #watcher: FSWatcher | undefined;
  #scanTimer: NodeJS.Timeout | undefined;
  #scanning = false;
  #rescan = false;
  #stopped = false;

  constructor(parts: RunParts, log: Logger) {
    this.#parts = parts;
    this.#log = log;
  }

  /** New settings and log (a reload) for the runs that start from now on; resolves once the runs going on end. */
  reconfigure(parts: RunParts, log: Logger): Promise<void> {
    this.#parts = parts;
    this.#log = log;
    return Promise.allSettled(this.#running.values()).then(() => undefined);
  }

  async start(): Promise<void> {
    const spool = this.#parts.spool;
    for (const id of await spool.ids("active")) this.#take(id, "active");
    for (const id of await spool.ids("deferred")) {
      const envelope = await spool.read("deferred", id).catch(() => null);
      const due = envelope?.schedule === undefined ? 0 : Date.parse(envelope.schedule.nextAttemptAt);
      this.#deferred.set(id, Number.isNaN(due) ? 0 : due);
    }
    this.#armDue();
    this.#watcher = watch(`${spool.root}/incoming`, (_event, name) => {
      if (typeof name === "string" && !name.includes(".")) this.#take(name, "incoming");
      else this.#scan();
    });
    this.#watcher.on("error", (error) => this.#log.error({ err: error }, "watching incoming/ failed; scanning it every few seconds"));
    this.#scanTimer = setInterval(() => this.#scan(), SCAN_INTERVAL);
    this.#scan();
    this.#log.info({ deferred: this.#deferred.size, active: this.#running.size }, "delivery started");
  }

  /** Takes no more mail; resolves when the runs in progress are over (the caller bounds the wait). */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#watcher?.close();
    clearInterval(this.#scanTimer);
    clearTimeout(this.#dueTimer);
    await Promise.all(this.#running.values());
  }

  /** Runs the message `id` found in `state`, unless it runs already; false when the scheduler is full or stopped. */
  #take(id: string, state: State): boolean {
    if (this.#stopped) return false;
    if (this.#running.has(id)) return true;
    if (this.#running.size >= MAX_ACTIVE) {
      this.#rescan = true;
      return false;
    }
    const run = this.#run(id, state).finally(() => {
      this.#running.delete(id);
      if (this.#rescan) this.#scan();
    });
    this.#running.set(id, run);
    return true;
  }

  async #run(id: string, state: State): Promise<void> {
    const parts = this.#parts;
    try {
      if (state !== "active") await parts.spool.move(id, state, "active", { window: SPOOL_BATCH_WINDOW });
    } catch (error) {
      if (error instanceof SpoolError && error.code === "SPOOL_NOT_FOUND") return; // moved by someone else first
      this.#log.error({ err: error, queueId: id }, "cannot take the message for delivery");
      return;
    }
    this.#deferred.delete(id);
    try {
      const envelope = await parts.spool.read("active", id);
      if (envelope === null) return;
      const result = await runMessage(parts, envelope);
      if (!result.removed) {
        this.#deferred.set(id, result.nextAttemptAt);
        this.#armDue();
      }
    } catch (error) {
      // A spool error in the middle of a run: the message stays in active/ and is taken again at the next
      // start, or after retry_min by putting it back into incoming/.
      this.#log.error({ err: error, queueId: id }, "delivery run failed; the message will be tried again");
      const retry = setTimeout(() => void parts.spool.move(id, "active", "incoming").catch(() => {}), parts.retry.retryMin);
      retry.unref();
    }
  }

  #scan(): void {
    if (this.#stopped) return;
    if (this.#scanning) {
      this.#rescan = true;
      return;
    }
    this.#scanning = true;
    this.#rescan = false;
    this.#parts.spool
      .ids("incoming")
      .then((ids) => {
        for (const id of ids) this.#take(id, "incoming");
      })
      .catch((error: unknown) => this.#log.error({ err: error }, "cannot list incoming/"))
      .finally(() => {
        this.#scanning = false;
        if (this.#rescan && this.#running.size < MAX_ACTIVE) this.#scan();
      });
  }

  /** Sets the timer for the earliest deferred message. */
  #armDue(): void {
    let earliest = Infinity;
    for (const due of this.#deferred.values()) if (due < earliest) earliest = due;
    if (earliest === this.#dueAt && this.#dueTimer !== undefined) return;
    clearTimeout(this.#dueTimer);
    this.#dueTimer = undefined;
    this.#dueAt = earliest;
    if (earliest === Infinity || this.#stopped) return;
    this.#dueTimer = setTimeout(() => this.#takeDue(), Math.min(Math.max(earliest - this.#parts.now(), 0), 2 ** 31 - 1));
  }

  #takeDue(): void {
    if (this.#stopped) return;
    this.#dueTimer = undefined;
    this.#dueAt = Infinity;
    const now = this.#parts.now();
    for (const [id, due] of this.#deferred) {
      if (due > now) continue;
      if (!this.#take(id, "deferred")) {
        // Full: the rest waits a second (the runs in progress free room meanwhile).
        this.#dueAt = now + 1000;
        this.#dueTimer = setTimeout(() => this.#takeDue(), 1000);
        return;
      }
      this.#deferred.delete(id);
    }
    this.#armDue();
  }
}
