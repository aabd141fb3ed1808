// How many deliveries run at once: delivery.concurrency in all, delivery.destination_concurrency per
// destination (hop key). A delivery waits, first come first served, until both have room; the release
// function it gets frees both. No timers, no I/O.
//
// Each destination keeps its own line; the destinations that could start one now (a delivery waiting and room
// under their own limit) sit in a heap ordered by how long their first delivery has waited. Granting or releasing
// costs a heap step, however many deliveries wait for one busy destination (a backlog of thousands to one slow
// domain used to be walked on every release).

type Waiter = { readonly order: number; readonly grant: (release: () => void) => void };

type Destination = {
  readonly key: string;
  readonly line: Waiter[];
  /** Index of the first waiter in `line` still waiting (taken ones are dropped in chunks). */
  head: number;
  running: number;
  /** In the heap of destinations that could start a delivery. */
  ready: boolean;
};

export class DeliverySlots {
  readonly #total: number;
  readonly #perDestination: number;
  #running = 0;
  #arrivals = 0;
  readonly #destinations = new Map<string, Destination>();
  readonly #ready: Destination[] = [];

  constructor(total: number, perDestination: number) {
    this.#total = total;
    this.#perDestination = perDestination;
  }

  /** Resolves with the release function once a slot for `key` is free. */
  acquire(key: string): Promise<() => void> {
    return new Promise((grant) => {
      let destination = this.#destinations.get(key);
      if (destination === undefined) {
        destination = { key, line: [], head: 0, running: 0, ready: false };
        this.#destinations.set(key, destination);
      }
      destination.line.push({ order: this.#arrivals++, grant });
      this.#markReady(destination);
      this.#grant();
    });
  }

  get running(): number {
    return this.#running;
  }

  #grant(): void {
    while (this.#running < this.#total && this.#ready.length > 0) {
      const destination = this.#popReady();
      const waiter = destination.line[destination.head++]!;
      if (destination.head >= 1024 && destination.head * 2 >= destination.line.length) {
        destination.line.splice(0, destination.head);
        destination.head = 0;
      }
      this.#running += 1;
      destination.running += 1;
      this.#markReady(destination);
      let released = false;
      waiter.grant(() => {
        if (released) return;
        released = true;
        this.#running -= 1;
        destination.running -= 1;
        if (destination.running === 0 && destination.head === destination.line.length) this.#destinations.delete(destination.key);
        else this.#markReady(destination);
        this.#grant();
      });
    }
  }

  /** Puts the destination in the heap if it has a delivery waiting and room for it. */
  #markReady(destination: Destination): void {
    if (destination.ready || destination.head === destination.line.length || destination.running >= this.#perDestination) return;
    destination.ready = true;
    const heap = this.#ready;
    heap.push(destination);
    for (let index = heap.length - 1; index > 0; ) {
      const parent = (index - 1) >> 1;
      if (firstOrder(heap[parent]!) <= firstOrder(heap[index]!)) break;
      [heap[parent], heap[index]] = [heap[index]!, heap[parent]!];
      index = parent;
    }
  }

  /** Takes the destination whose first delivery has waited longest out of the heap. */
  #popReady(): Destination {
    const heap = this.#ready;
    const top = heap[0]!;
    const last = heap.pop()!;
    if (heap.length > 0) {
      heap[0] = last;
      for (let index = 0; ; ) {
        const left = index * 2 + 1;
        const right = left + 1;
        let smallest = index;
        if (left < heap.length && firstOrder(heap[left]!) < firstOrder(heap[smallest]!)) smallest = left;
        if (right < heap.length && firstOrder(heap[right]!) < firstOrder(heap[smallest]!)) smallest = right;
        if (smallest === index) break;
        [heap[smallest], heap[index]] = [heap[index]!, heap[smallest]!];
        index = smallest;
      }
    }
    top.ready = false;
    return top;
  }
}

/** When the destination's first waiting delivery arrived. */
function firstOrder(destination: Destination): number {
  return destination.line[destination.head]!.order;
}
