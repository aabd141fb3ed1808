// Tests of streaming a body into the spool: bounded memory, back-pressure, a disk filling mid-stream.

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { readdir, stat } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { draftFor, failingDisk, freshDirectory } from "./fixtures/spool-fixtures.ts";
import { Spool } from "./spool.ts";

const chunkSize = 64 * 1024;
const highWater = 1024 * 1024;

function chunkNumber(n: number): Buffer {
  return Buffer.alloc(chunkSize, n % 251);
}

test("a 50 MB message streams through write() with at most ~1 MiB waiting in memory", async (t) => {
  const root = await freshDirectory(t);
  const spool = await Spool.open(root);
  const writer = spool.create("01NNNNNNNNNNNN");
  const chunks = (50 * 1024 * 1024) / chunkSize;
  const expected = createHash("sha256");
  let mostBuffered = 0;
  let refusals = 0;
  for (let n = 0; n < chunks; n++) {
    const chunk = chunkNumber(n);
    expected.update(chunk);
    const more = writer.write(chunk);
    mostBuffered = Math.max(mostBuffered, writer.buffered);
    if (!more) {
      refusals += 1;
      await writer.drained();
      assert.ok(writer.buffered <= highWater, "drained() resolves only under the limit");
    }
  }
  t.diagnostic(`most bytes buffered: ${mostBuffered}, write() said wait ${refusals} times`);
  assert.ok(mostBuffered <= highWater + chunkSize, `buffered ${mostBuffered} bytes`);
  assert.equal(writer.size, 50 * 1024 * 1024);
  await writer.commit(draftFor("01NNNNNNNNNNNN"));
  assert.equal(writer.buffered, 0);

  const body = join(root, "body", "01NNNNNNNNNNNN");
  assert.equal((await stat(body)).size, 50 * 1024 * 1024);
  const actual = createHash("sha256");
  for await (const piece of createReadStream(body)) actual.update(piece);
  assert.equal(actual.digest("hex"), expected.digest("hex"));
  assert.equal((await spool.show("01NNNNNNNNNNNN"))?.envelope.size, 50 * 1024 * 1024);
});

test("write() says wait above the high-water mark, and drained() wakes the writer", async (t) => {
  const spool = await Spool.open(await freshDirectory(t), { memoryLimit: 0, highWater: 1000 });
  const writer = spool.create("01PPPPPPPPPPPP");
  assert.equal(writer.write(Buffer.alloc(600)), true);
  assert.equal(writer.write(Buffer.alloc(600)), false);
  await writer.drained();
  assert.ok(writer.buffered <= 1000);
  await writer.abort();
});

test("a small message stays in memory until commit", async (t) => {
  const root = await freshDirectory(t);
  const spool = await Spool.open(root);
  const writer = spool.create("01QQQQQQQQQQQQ");
  writer.write(Buffer.alloc(60 * 1024, "a"));
  await writer.drained();
  assert.deepEqual(await readdir(join(root, "body")), []);
  assert.equal(writer.buffered, 60 * 1024);
  await writer.commit(draftFor("01QQQQQQQQQQQQ"));
  assert.deepEqual(await readdir(join(root, "body")), ["01QQQQQQQQQQQQ"]);
});

test("a disk that fills mid-stream frees the waiting writer and removes the partial body", async (t) => {
  const root = await freshDirectory(t);
  const spool = await Spool.open(root, { disk: failingDisk("ENOSPC", 3 * 1024 * 1024) });
  const writer = spool.create("01RRRRRRRRRRRR");
  for (let n = 0; n < 160; n++) {
    if (!writer.write(chunkNumber(n))) await writer.drained();
  }
  assert.equal(writer.size, 160 * chunkSize, "the rest of DATA is still read and counted");
  assert.equal(writer.buffered, 0, "after the failure nothing is kept in memory");
  await assert.rejects(writer.commit(draftFor("01RRRRRRRRRRRR")), { code: "SPOOL_FULL" });
  assert.deepEqual(await readdir(join(root, "body")), []);
  assert.deepEqual(await readdir(join(root, "incoming")), []);
});

test("abort while commit runs waits for it and changes nothing", async (t) => {
  const spool = await Spool.open(await freshDirectory(t));
  const writer = spool.create("01SSSSSSSSSSSS");
  writer.write(Buffer.from("Subject: x\r\n\r\nx\r\n"));
  const committed = writer.commit(draftFor("01SSSSSSSSSSSS"));
  await writer.abort();
  await committed;
  assert.equal((await spool.show("01SSSSSSSSSSSS"))?.state, "incoming");
});
