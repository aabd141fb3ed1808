// Group commit of one directory: many sessions that each renamed a file into the same directory share
// one fsync of it. The promise a caller gets settles only after an fsync that STARTED after the caller
// asked, so it covers the caller's rename, which was done before asking. While one fsync runs, every new
// caller joins the single next one, which starts as soon as the running one ends. This file must never
// resolve a caller from an fsync that began before it asked, and never turn an fsync error into success.
// It batches within one process only; other worker processes run their own, nothing is shared.

export class DirectorySync {
  readonly #syncNow: () => Promise<void>;
  #running: Promise<void> | null = null;
  #next: Promise<void> | null = null;

  /** `syncNow` performs one fsync of the directory. */
  constructor(syncNow: () => Promise<void>) {
    this.#syncNow = syncNow;
  }

  /** Resolves when everything renamed into the directory before this call is durable. */
  sync(): Promise<void> {
    if (this.#next !== null) return this.#next;
    const running = this.#running;
    if (running === null) return this.#start();
    const settled = () => {
      this.#next = null;
      return this.#start();
    };
    this.#next = running.then(settled, settled);
    return this.#next;
  }

  #start(): Promise<void> {
    const fsync = this.#syncNow().finally(() => {
      if (this.#running === fsync) this.#running = null;
    });
    this.#running = fsync;
    return fsync;
  }
}
