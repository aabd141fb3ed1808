// Gathers spool changes for a few milliseconds and makes them as one batch: the delivery process's moves into
// active/ and removals of delivered mail, which nobody waits on, each cost a trip to a file thread and a folder
// fsync when made alone; a batch costs one trip and one fsync per folder for all of them. The first change
// starts the window; the batch is handed over when it ends (changes asked for meanwhile join it, later ones
// start the next window). Each caller is settled by its own item's outcome, never by another's. No I/O here:
// the spool gives the function that makes a batch.

/** Makes a batch: one outcome per item, in order (null: done). It must not reject. */
export type BatchMaker<T> = (items: readonly T[]) => Promise<readonly (Error | null)[]>;

type Waiting<T> = { readonly item: T; readonly resolve: () => void; readonly reject: (error: Error) => void };

export class BatchWindow<T> {
  readonly #window: number;
  readonly #make: BatchMaker<T>;
  #waiting: Waiting<T>[] = [];

  /** `window`: milliseconds from the first change of a batch until the batch is made. */
  constructor(window: number, make: BatchMaker<T>) {
    this.#window = window;
    this.#make = make;
  }

  /** Resolves once the batch holding `item` is made and its outcome was success; rejects with its error. */
  add(item: T): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.#waiting.length === 0) setTimeout(() => this.#makeBatch(), this.#window);
      this.#waiting.push({ item, resolve, reject });
    });
  }

  #makeBatch(): void {
    const batch = this.#waiting;
    this.#waiting = [];
    const settle = (outcomes: readonly (Error | null)[]) => {
      for (const [index, { resolve, reject }] of batch.entries()) {
        const outcome = outcomes[index];
        if (outcome === null) resolve();
        else reject(outcome ?? new Error("bug: a spool batch gave no outcome for one of its changes"));
      }
    };
    this.#make(batch.map(({ item }) => item)).then(settle, (error: Error) => settle(batch.map(() => error)));
  }
}
