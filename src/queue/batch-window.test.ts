// Tests of the batch window: changes asked for within it are made as one batch, each caller settled by its own
// outcome; a batch that fails fails all of its callers; a change after the batch starts the next window.

import assert from "node:assert/strict";
import { test } from "node:test";
import { BatchWindow } from "./batch-window.ts";

const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

test("changes within the window make one batch, made when it ends; each caller gets its own outcome", async (t) => {
  t.mock.timers.enable({ apis: ["setTimeout"] });
  const batches: string[][] = [];
  const window = new BatchWindow<string>(10, async (items) => {
    batches.push([...items]);
    return items.map((item) => (item === "bad" ? new Error(`${item} failed`) : null));
  });
  const first = window.add("a");
  t.mock.timers.tick(9);
  const outcomes = Promise.allSettled([first, window.add("bad"), window.add("b")]);
  await turn();
  assert.deepEqual(batches, [], "nothing before the window ends");
  t.mock.timers.tick(1);
  const [a, bad, b] = await outcomes;
  assert.deepEqual(batches, [["a", "bad", "b"]]);
  assert.equal(a.status, "fulfilled");
  assert.equal(b.status, "fulfilled");
  assert.match(String((bad as PromiseRejectedResult).reason), /bad failed/);
  const later = window.add("c");
  t.mock.timers.tick(10);
  await later;
  assert.deepEqual(batches, [["a", "bad", "b"], ["c"]], "a change after the batch starts a window of its own");
});

test("a batch that fails as a whole fails every caller in it", async (t) => {
  t.mock.timers.enable({ apis: ["setTimeout"] });
  const window = new BatchWindow<string>(5, () => Promise.reject(new Error("EIO: fsync")));
  const outcomes = Promise.allSettled([window.add("a"), window.add("b")]);
  t.mock.timers.tick(5);
  assert.deepEqual((await outcomes).map((outcome) => outcome.status), ["rejected", "rejected"]);
});
