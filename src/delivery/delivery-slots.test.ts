import { test } from "node:test";
import assert from "node:assert/strict";
import { DeliverySlots } from "./delivery-slots.ts";

test("no more than the per-destination limit to one destination, the total over all", async () => {
  const slots = new DeliverySlots(3, 2);
  const granted: string[] = [];
  const take = (key: string) =>
    slots.acquire(key).then((release) => {
      granted.push(key);
      return release;
    });
  const a1 = take("a");
  const a2 = take("a");
  const a3 = take("a"); // waits: two to "a" already
  const b1 = take("b");
  const c1 = take("c"); // waits: three in all
  await Promise.resolve();
  const [releaseA1, , , releaseB1] = await Promise.all([a1, a2, Promise.resolve(undefined), b1]);
  assert.deepEqual(granted, ["a", "a", "b"]);
  assert.equal(slots.running, 3);
  releaseA1();
  // "a" has room again and comes first in line; "c" still finds no room in all.
  await a3;
  assert.deepEqual(granted, ["a", "a", "b", "a"]);
  releaseB1!();
  releaseB1!(); // a second release is ignored
  await c1;
  assert.deepEqual(granted, ["a", "a", "b", "a", "c"]);
  assert.equal(slots.running, 3);
});

/** The rule the slots follow, written the plain way: the first waiter in arrival order whose destination has room. */
class PlainSlots {
  readonly waiting: { key: string; id: number }[] = [];
  readonly running = new Map<string, number>();
  total = 0;
  readonly limit: number;
  readonly perDestination: number;
  constructor(limit: number, perDestination: number) {
    this.limit = limit;
    this.perDestination = perDestination;
  }
  grantable(): { key: string; id: number }[] {
    const granted: { key: string; id: number }[] = [];
    for (let index = 0; index < this.waiting.length && this.total < this.limit; ) {
      const waiter = this.waiting[index]!;
      if ((this.running.get(waiter.key) ?? 0) >= this.perDestination) {
        index += 1;
        continue;
      }
      this.waiting.splice(index, 1);
      this.total += 1;
      this.running.set(waiter.key, (this.running.get(waiter.key) ?? 0) + 1);
      granted.push(waiter);
    }
    return granted;
  }
  release(key: string): void {
    this.total -= 1;
    this.running.set(key, this.running.get(key)! - 1);
  }
}

test("grants in the order the plain rule gives, through thousands of waiters and releases", async () => {
  let seed = 11;
  const random = (below: number) => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % below;
  };
  const slots = new DeliverySlots(8, 3);
  const plain = new PlainSlots(8, 3);
  const granted: number[] = [];
  const held = new Map<number, { key: string; release: () => void }>();
  const expected: number[] = [];
  for (let id = 0; id < 6000; id++) {
    // Mostly one busy destination, as in a backlog to one slow domain, and a few others.
    const key = random(4) === 0 ? `other-${random(20)}` : "busy.example";
    plain.waiting.push({ key, id });
    void slots.acquire(key).then((release) => {
      granted.push(id);
      held.set(id, { key, release });
    });
    expected.push(...plain.grantable().map((waiter) => waiter.id));
    await Promise.resolve();
    if (random(3) !== 0 && held.size > 0) {
      const ids = [...held.keys()];
      const victim = ids[random(ids.length)]!;
      const { key: releasedKey, release } = held.get(victim)!;
      held.delete(victim);
      release();
      plain.release(releasedKey);
      expected.push(...plain.grantable().map((waiter) => waiter.id));
      await Promise.resolve();
    }
  }
  while (held.size > 0) {
    const [id, { key, release }] = held.entries().next().value!;
    held.delete(id);
    release();
    plain.release(key);
    expected.push(...plain.grantable().map((waiter) => waiter.id));
    await Promise.resolve();
    await Promise.resolve();
  }
  assert.equal(granted.length, 6000);
  assert.deepEqual(granted, expected);
  assert.equal(slots.running, 0);
});
