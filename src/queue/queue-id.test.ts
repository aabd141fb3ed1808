// Tests of queue ids: unique across processes and clock trouble, fixed length, time-ordered.

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { test } from "node:test";
import { promisify } from "node:util";
import { createQueueIdSource, queueIdLength, queueIdTime, queueIdWorker } from "./queue-id.ts";

const run = promisify(execFile);
const drawIds = fileURLToPath(new URL("./fixtures/draw-ids.ts", import.meta.url));

test("100k ids drawn in 4 processes at once are unique, fixed length, file-name safe and time-ordered", async () => {
  const before = Date.now();
  const outputs = await Promise.all(
    [0, 1, 2, 3].map((worker) => run(process.execPath, [drawIds, String(worker), "25000"], { maxBuffer: 1 << 24 })),
  );
  const after = Date.now();
  const all = new Set<string>();
  for (const { stdout } of outputs) {
    const ids = stdout.trim().split("\n");
    assert.equal(ids.length, 25000);
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      assert.match(id, /^[0-9A-HJKMNP-TV-Z]{14}$/);
      if (i > 0) assert.ok(ids[i - 1]! < id, `ids of one process must increase: ${ids[i - 1]} then ${id}`);
      const time = queueIdTime(id)!;
      assert.ok(time >= before && time <= after, `id ${id} carries time ${time}, drawn in [${before}, ${after}]`);
      all.add(id);
    }
  }
  assert.equal(all.size, 100000);
});

test("ids sort by creation time, across workers, as plain strings", () => {
  let now = 1_700_000_000_000;
  const first = createQueueIdSource(7, () => now);
  const second = createQueueIdSource(2, () => now);
  const early = [first(), second()];
  now += 1;
  const late = [second(), first()];
  for (const a of early) for (const b of late) assert.ok(a < b, `${a} was made before ${b}`);
  assert.equal(queueIdTime(early[0]!), 1_700_000_000_000);
  assert.equal(queueIdTime(late[0]!), 1_700_000_000_001);
});

test("a clock that steps back or stalls never repeats an id, and a full millisecond borrows the next", () => {
  const times = [5000, 5000, 4000, 3000];
  let call = 0;
  const next = createQueueIdSource(0, () => times[Math.min(call++, times.length - 1)]!);
  const ids = Array.from({ length: 40000 }, next);
  assert.equal(new Set(ids).size, ids.length);
  assert.deepEqual([...ids].sort(), ids);
  assert.equal(queueIdTime(ids[0]!), 5000);
  assert.equal(queueIdTime(ids[32767]!), 5000);
  assert.equal(queueIdTime(ids[32768]!), 5001, "the 32769th id of one millisecond moves to the next");
});

test("the worker number must fit in the id", () => {
  assert.throws(() => createQueueIdSource(1024), RangeError);
  assert.throws(() => createQueueIdSource(-1), RangeError);
  assert.throws(() => createQueueIdSource(1.5), RangeError);
  assert.equal(createQueueIdSource(1023)().length, queueIdLength);
  assert.notEqual(createQueueIdSource(1, () => 0)(), createQueueIdSource(2, () => 0)());
});

test("queueIdTime and queueIdWorker read back what the source wrote, and refuse what is not a queue id", () => {
  for (const worker of [0, 1, 31, 32, 517, 1023]) {
    const id = createQueueIdSource(worker, () => 1_795_944_724_000)();
    assert.equal(queueIdWorker(id), worker);
    assert.equal(queueIdTime(id), 1_795_944_724_000);
  }
  for (const read of [queueIdTime, queueIdWorker]) {
    assert.equal(read("short"), undefined);
    assert.equal(read("0000000000000I"), undefined);
  }
});
