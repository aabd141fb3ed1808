// Tests of streaming a body into the spool: bounded memory, back-pressure, a disk filling mid-stream,
// and reading and replacing the head of a message before commit, in memory and on disk.

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { readdir, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { draftFor, failingDisk, freshDirectory, recordingDisk } from "./fixtures/spool-fixtures.ts";
import { Spool } from "./spool.ts";
import type { MessageWriter } from "./spool.ts";

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

// The preq stage reads and replaces the head of a message before it is committed.

const id = "01HHHHHHHHHHHH";
const head = Buffer.from("Received: from a\r\nSubject: caf\xe9\r\n", "latin1");

/** `size` bytes of a pattern that shows any byte out of place. */
function patterned(size: number): Buffer {
  const bytes = Buffer.alloc(size);
  for (let i = 0; i < size; i++) bytes[i] = (i * 7 + (i >> 8)) % 256;
  return bytes;
}

/** Writes `bytes` in chunks of `chunk` bytes, waiting when write() says so. */
async function writeAll(writer: MessageWriter, bytes: Buffer, chunk = chunkSize): Promise<void> {
  for (let at = 0; at < bytes.length; at += chunk) {
    if (!writer.write(Buffer.from(bytes.subarray(at, at + chunk)))) await writer.drained();
  }
}

for (const [kind, replacement] of [
  ["smaller", Buffer.from("Subject: x\r\n")],
  ["larger", Buffer.from("X-Spam-Score: 3.2\r\nReceived: from a\r\nSubject: =?UTF-8?Q?caf=C3=A9?=\r\n")],
] as const) {
  test(`a head replaced in memory by a ${kind} one: spliced without touching the disk`, async (t) => {
    const root = await freshDirectory(t);
    const { disk, events } = recordingDisk();
    const spool = await Spool.open(root, { disk });
    const writer = spool.create(id);
    events.length = 0; // opening the spool fsynced its folder
    const body = Buffer.from("\r\nthe body\r\n");
    await writeAll(writer, Buffer.concat([head, body]), 7);
    assert.deepEqual(await writer.readHead(head.length), head);
    assert.deepEqual(await writer.readHead(1000), Buffer.concat([head, body]), "a limit past the end gives it all");
    await writer.replaceHead(head.length, replacement);
    assert.equal(writer.size, replacement.length + body.length);
    assert.equal(writer.buffered, writer.size);
    assert.deepEqual(await writer.readHead(writer.size), Buffer.concat([replacement, body]));
    assert.deepEqual(events, [], "no disk access before commit");
    assert.deepEqual(await readdir(join(root, "body")), []);
    await writer.commit(draftFor(id));
    assert.deepEqual(await readFile(join(root, "body", id)), Buffer.concat([replacement, body]));
    assert.equal((await spool.show(id))?.envelope.size, writer.size);
  });
}

test("a head replaced in a body streamed to disk: every byte of the committed file is right", async (t) => {
  const root = await freshDirectory(t);
  const spool = await Spool.open(root, { memoryLimit: 16 * 1024 });
  const writer = spool.create(id);
  const rest = patterned(3 * 1024 * 1024 + 12_345); // the copy takes several 1 MiB blocks and a short one
  await writeAll(writer, Buffer.concat([head, rest]));
  assert.deepEqual(await readdir(join(root, "body")), [id], "it was streamed");
  assert.deepEqual(await writer.readHead(head.length), head);
  assert.deepEqual(await writer.readHead(head.length + 100), Buffer.concat([head, rest.subarray(0, 100)]));

  const replacement = Buffer.from("X-Added: yes\r\nReceived: from a\r\nSubject: caf\xe9\r\n", "latin1");
  await writer.replaceHead(head.length, replacement);
  assert.equal(writer.size, replacement.length + rest.length);
  assert.deepEqual(await writer.readHead(replacement.length + 10), Buffer.concat([replacement, rest.subarray(0, 10)]));
  await writer.replaceHead(replacement.length, head); // and back, smaller
  assert.deepEqual(await readdir(join(root, "body")), [id], "no .edit file is left");

  const tail = Buffer.from("\r\nlast line\r\n");
  writer.write(Buffer.from(tail));
  await writer.commit(draftFor(id));
  assert.deepEqual(await readFile(join(root, "body", id)), Buffer.concat([head, rest, tail]));
  assert.equal((await spool.show(id))?.envelope.size, head.length + rest.length + tail.length);
});

test("chunks written while a streamed head is being replaced land after it, in order", async (t) => {
  const root = await freshDirectory(t);
  const spool = await Spool.open(root, { memoryLimit: 1024 });
  const writer = spool.create(id);
  const rest = patterned(200_000);
  await writeAll(writer, Buffer.concat([head, rest]));
  const replacement = Buffer.from("Subject: new\r\n");
  const replaced = writer.replaceHead(head.length, replacement);
  const more = patterned(70_000).reverse();
  await writeAll(writer, more, 1000);
  const read = writer.readHead(replacement.length);
  await replaced;
  assert.deepEqual(await read, replacement);
  await writer.commit(draftFor(id));
  assert.deepEqual(await readFile(join(root, "body", id)), Buffer.concat([replacement, rest, more]));
});

test("readHead and replaceHead after commit or abort are refused", async (t) => {
  const spool = await Spool.open(await freshDirectory(t));
  const committed = spool.create(id);
  committed.write(Buffer.concat([head, Buffer.from("\r\nx\r\n")]));
  await committed.commit(draftFor(id));
  await assert.rejects(committed.replaceHead(head.length, Buffer.from("Subject: y\r\n")), { code: "SPOOL_WRITER_CLOSED" });
  await assert.rejects(committed.readHead(10), { code: "SPOOL_WRITER_CLOSED" });
  const aborted = spool.create("01HHHHHHHHHHH2");
  aborted.write(Buffer.from(head));
  await aborted.abort();
  await assert.rejects(aborted.replaceHead(0, Buffer.from("X: y\r\n")), { code: "SPOOL_WRITER_CLOSED" });
  const open = spool.create("01HHHHHHHHHHH3");
  open.write(Buffer.from(head));
  await assert.rejects(open.replaceHead(head.length + 1, Buffer.alloc(0)), RangeError);
  await open.abort();
});

test("a disk that fills while a streamed head is replaced leaves nothing, and commit rejects", async (t) => {
  const root = await freshDirectory(t);
  const spool = await Spool.open(root, { memoryLimit: 16 * 1024, disk: failingDisk("ENOSPC", 3 * 1024 * 1024) });
  const writer = spool.create(id);
  await writeAll(writer, Buffer.concat([head, patterned(2 * 1024 * 1024)]));
  assert.deepEqual(await readdir(join(root, "body")), [id]);
  await assert.rejects(writer.replaceHead(head.length, Buffer.from("Subject: x\r\n")), { code: "SPOOL_FULL" });
  assert.deepEqual(await readdir(join(root, "body")), [], "neither the body nor its .edit file is left");
  await assert.rejects(writer.readHead(10), { code: "SPOOL_FULL" });
  await assert.rejects(writer.commit(draftFor(id)), { code: "SPOOL_FULL" });
  for (const folder of ["body", "tmp", "incoming"]) assert.deepEqual(await readdir(join(root, folder)), [], folder);
});

test("recovery removes a body/<id>.edit left by a crash during a head rewrite, and keeps committed mail", async (t) => {
  const root = await freshDirectory(t);
  const spool = await Spool.open(root);
  const writer = spool.create(id);
  writer.write(Buffer.concat([head, Buffer.from("\r\nx\r\n")]));
  await writer.commit(draftFor(id));
  await writeFile(join(root, "body", `${id}.edit`), "a rewrite cut short");
  await writeFile(join(root, "body", "01HHHHHHHHHHH9"), "a body being rewritten, never committed");
  await writeFile(join(root, "body", "01HHHHHHHHHHH9.edit"), "its rewrite cut short");
  const report = await spool.recover();
  assert.deepEqual(report.removedOrphanBodies.sort(), [`${id}.edit`, "01HHHHHHHHHHH9", "01HHHHHHHHHHH9.edit"].sort());
  assert.deepEqual(report.movedToCorrupt, []);
  assert.deepEqual(await readdir(join(root, "body")), [id]);
  assert.equal((await spool.show(id))?.state, "incoming");
});
