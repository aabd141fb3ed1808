// How many deliveries run at once: delivery.concurrency in all, delivery.destination_concurrency per
// destination (hop key). A delivery waits, first come first served, until both have room; the release
// function it gets frees both. No timers, no I/O.

type Waiter = { readonly key: string; readonly grant: (release: () => void) => void };

export class DeliverySlots {
  readonly #total: number;
  readonly #perDestination: number;
  #running = 0;
  readonly #byDestination = new Map<string, number>();
  readonly #waiting: Waiter[] = [];

  constructor(total: number, perDestination: number) {
    this.#total = total;
    this.#perDestination = perDestination;
  }

  /** Resolves with the release function once a slot for `key` is free. */
  acquire(key: string): Promise<() => void> {
    return new Promise((grant) => {
      this.#waiting.push({ key, grant });
      this.#grant();
    });
  }

  get running(): number {
    return this.#running;
  }

  #grant(): void {
    for (let index = 0; index < this.#waiting.length && this.#running < this.#total; ) {
      const waiter = this.#waiting[index]!;
      const used = this.#byDestination.get(waiter.key) ?? 0;
      if (used >= this.#perDestination) {
        index += 1;
        continue;
      }
      this.#waiting.splice(index, 1);
      this.#running += 1;
      this.#byDestination.set(waiter.key, used + 1);
      let released = false;
      waiter.grant(() => {
        if (released) return;
        released = true;
        this.#running -= 1;
        const left = (this.#byDestination.get(waiter.key) ?? 1) - 1;
        if (left === 0) this.#byDestination.delete(waiter.key);
        else this.#byDestination.set(waiter.key, left);
        this.#grant();
      });
    }
  }
}
