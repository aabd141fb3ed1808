// Tests of what is removed after an SMTP worker died: only files of its own ids from while it ran, only bodies
// without the committed mark that no envelope names, and its unfinished envelopes in tmp/; everything else stays.
// The spool's commits give bodies the mark, on both disk layers (the file threads and the one made of calls).

import assert from "node:assert/strict";
import { chmod, readdir, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { draftFor, freshDirectory, recordingDisk } from "./fixtures/spool-fixtures.ts";
import { createQueueIdSource } from "./queue-id.ts";
import { Spool } from "./spool.ts";

const START = Date.UTC(2026, 10, 29, 9, 0, 0);
const idOf = (worker: number, at: number): string => createQueueIdSource(worker, () => at)();

test("a dead worker's unmarked bodies nobody names, and its tmp/ envelopes, go; nothing else does", async (t) => {
  const root = await freshDirectory(t);
  const spool = await Spool.open(root);
  const dead = { number: 3, startedAt: START, diedAt: START + 60_000 };
  const receiving = idOf(3, START + 1_000); // a body being streamed when the worker died
  const editing = idOf(3, START + 2_000); // and one whose header section was being rewritten
  const committing = idOf(3, START + 3_000); // a commit that wrote its envelope to tmp/ and got no further
  const queued = idOf(3, START + 4_000); // committed: marked, its envelope in deferred/
  const namedUnmarked = idOf(3, START + 5_000); // unmarked (a umask that strips the mark) but named in hold/
  const earlier = idOf(3, START - 1_000); // from before this worker started (another run)
  const otherWorker = idOf(4, START + 1_000);
  const body = (name: string) => join(root, "body", name);
  for (const name of [receiving, editing, `${editing}.edit`, committing, namedUnmarked, earlier, otherWorker]) {
    await writeFile(body(name), "Subject: x\r\n\r\npart");
  }
  await writeFile(join(root, "tmp", committing), "{}");
  await writeFile(join(root, "tmp", `${queued}.4242.1`), "{}"); // another process's envelope rewrite
  const writer = spool.create(queued);
  writer.write(Buffer.from("Subject: queued\r\n\r\nwhole\r\n"));
  await writer.commit(draftFor(queued));
  await spool.move(queued, "incoming", "deferred");
  await writeFile(join(root, "hold", namedUnmarked), "{}");

  const removed = await spool.removeWorkerLeftovers(dead);
  assert.deepEqual(removed.sort(), [`body/${committing}`, `body/${editing}`, `body/${editing}.edit`, `body/${receiving}`, `tmp/${committing}`].sort());
  assert.deepEqual((await readdir(join(root, "body"))).sort(), [earlier, namedUnmarked, otherWorker, queued].sort());
  assert.deepEqual(await readdir(join(root, "tmp")), [`${queued}.4242.1`]);
  assert.deepEqual(await spool.removeWorkerLeftovers(dead), [], "a second sweep finds nothing");
});

test("a commit marks the body, whether it was held in memory or streamed, on both disk layers", async (t) => {
  for (const layer of ["file threads", "calls"] as const) {
    const root = await freshDirectory(t);
    const spool = await Spool.open(root, layer === "calls" ? { disk: recordingDisk().disk, memoryLimit: 16 } : { memoryLimit: 16 });
    for (const [id, text] of [
      [idOf(0, START), "Subject: s\r\n\r\n"],
      [idOf(0, START + 1), `Subject: streamed\r\n\r\n${"x".repeat(4096)}\r\n`],
    ] as const) {
      const writer = spool.create(id);
      writer.write(Buffer.from(text));
      await writer.commit(draftFor(id));
      assert.equal((await stat(join(root, "body", id))).mode & 0o777, 0o700, `${layer}: ${id}`);
    }
  }
});

test("a body that loses its mark is still kept while an envelope names it", async (t) => {
  const root = await freshDirectory(t);
  const spool = await Spool.open(root);
  const id = idOf(5, START + 10);
  const writer = spool.create(id);
  writer.write(Buffer.from("Subject: kept\r\n\r\nkept\r\n"));
  await writer.commit(draftFor(id));
  await chmod(join(root, "body", id), 0o600);
  assert.deepEqual(await spool.removeWorkerLeftovers({ number: 5, startedAt: START, diedAt: START + 60_000 }), []);
  assert.deepEqual(await readdir(join(root, "body")), [id]);
});
