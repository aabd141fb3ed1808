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
