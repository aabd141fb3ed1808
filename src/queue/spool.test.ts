// Tests of the spool's life cycle: commit and reopen, abort, failures that leave nothing, show, move, list.

import assert from "node:assert/strict";
import { readdir, readFile, stat, unlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { draftFor, failingDisk, freshDirectory, recordingDisk } from "./fixtures/spool-fixtures.ts";
import type { SpoolDisk } from "./spool-disk.ts";
import { commitMessageWith, nodeSpoolDisk } from "./spool-disk.ts";
import { SpoolError } from "./spool-errors.ts";
import { spoolFolders } from "./spool-layout.ts";
import { Spool } from "./spool.ts";

const headers = Buffer.from("Received: from mx.example.org\r\nSubject: =?utf-8?q?caf=C3=A9?=\r\nX-Raw: \xff\xfe\r\n", "latin1");

function message(bodySize: number): Buffer {
  const text = Buffer.concat([headers, Buffer.from("\r\n")]);
  return Buffer.concat([text, Buffer.alloc(bodySize, "b")]);
}

async function spoolMessage(spool: Spool, id: string, bytes: Buffer, chunkSize = 4096): Promise<void> {
  const writer = spool.create(id);
  for (let at = 0; at < bytes.length; at += chunkSize) {
    if (!writer.write(bytes.subarray(at, at + chunkSize))) await writer.drained();
  }
  await writer.commit(draftFor(id));
}

async function filesIn(root: string): Promise<string[]> {
  const found: string[] = [];
  for (const folder of spoolFolders) for (const name of await readdir(join(root, folder))) found.push(`${folder}/${name}`);
  return found.sort();
}

async function rejectsWithCode(promise: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(promise, (error) => error instanceof SpoolError && error.code === code);
}

test("committed messages are all found again by a new Spool on the same directory", async (t) => {
  const root = await freshDirectory(t);
  const first = await Spool.open(root);
  const bodies = new Map([
    ["01AAAAAAAAAAAA", message(10)],
    ["01AAAAAAAAAAAB", message(200_000)],
    ["01AAAAAAAAAAAC", message(65_000)],
  ]);
  for (const [id, bytes] of bodies) await spoolMessage(first, id, bytes);

  const reopened = await Spool.open(root);
  const entries = [];
  for await (const entry of reopened.list()) entries.push(entry);
  assert.deepEqual(
    entries.map((entry) => [entry.id, entry.state]),
    [...bodies.keys()].map((id) => [id, "incoming"]),
  );
  for (const { id, envelope } of entries) {
    const bytes = bodies.get(id)!;
    assert.deepEqual(envelope, { ...draftFor(id), version: 1, size: bytes.length });
    assert.deepEqual(await readFile(join(root, "body", id)), bytes);
    assert.equal((await stat(join(root, "body", id))).mode & 0o777, 0o700, "owner only; the owner-execute bit marks it committed");
  }
  for (const folder of spoolFolders) assert.equal((await stat(join(root, folder))).mode & 0o777, 0o700);
  assert.deepEqual(await readdir(join(root, "tmp")), []);
});

test("nothing of a message is listed before its commit resolves", async (t) => {
  const spool = await Spool.open(await freshDirectory(t));
  const writer = spool.create("01BBBBBBBBBBBB");
  writer.write(message(300_000));
  await writer.drained();
  for await (const entry of spool.list()) assert.fail(`listed ${entry.id} before commit`);
  assert.equal(await spool.show("01BBBBBBBBBBBB"), null);
  await writer.commit(draftFor("01BBBBBBBBBBBB"));
  assert.equal((await spool.show("01BBBBBBBBBBBB"))?.state, "incoming");
});

test("abort removes every trace, of a buffered and of a streamed message", async (t) => {
  const root = await freshDirectory(t);
  const spool = await Spool.open(root);
  const small = spool.create("01CCCCCCCCCCCA");
  small.write(message(100));
  const large = spool.create("01CCCCCCCCCCCB");
  large.write(message(500_000));
  await large.drained();
  assert.deepEqual(await filesIn(root), ["body/01CCCCCCCCCCCB"], "the large body is streamed to disk");
  await small.abort();
  await large.abort();
  assert.deepEqual(await filesIn(root), []);
  assert.equal(large.buffered, 0);
  assert.throws(() => large.write(Buffer.from("x")), { code: "SPOOL_WRITER_CLOSED" });
  await rejectsWithCode(large.commit(draftFor("01CCCCCCCCCCCB")), "SPOOL_WRITER_CLOSED");
});

test("a full disk makes commit reject with SPOOL_FULL and leaves no half message", async (t) => {
  for (const [where, allowed] of [["body", 100_000], ["envelope", 300_000 + headers.length + 2]] as const) {
    const root = await freshDirectory(t);
    const spool = await Spool.open(root, { disk: failingDisk("ENOSPC", allowed) });
    await rejectsWithCode(spoolMessage(spool, "01DDDDDDDDDDDD", message(300_000)), "SPOOL_FULL");
    assert.deepEqual(await filesIn(root), [], `failure while writing the ${where}`);
  }
});

test("an I/O error makes commit reject with SPOOL_IO and leaves nothing", async (t) => {
  const root = await freshDirectory(t);
  const spool = await Spool.open(root, { disk: failingDisk("EIO", 0) });
  await rejectsWithCode(spoolMessage(spool, "01EEEEEEEEEEEE", message(10)), "SPOOL_IO");
  assert.deepEqual(await filesIn(root), []);
});

test("a failed directory fsync after the rename rejects and takes the envelope back out", async (t) => {
  const root = await freshDirectory(t);
  const disk: SpoolDisk = {
    ...nodeSpoolDisk,
    async syncDirectory(path) {
      if (path.endsWith("incoming")) throw Object.assign(new Error("EIO: fsync"), { code: "EIO" });
      await nodeSpoolDisk.syncDirectory(path);
    },
  };
  disk.commitMessage = commitMessageWith(disk);
  const spool = await Spool.open(root, { disk });
  await rejectsWithCode(spoolMessage(spool, "01EEEEEEEEEEEF", message(10)), "SPOOL_IO");
  assert.deepEqual(await filesIn(root), []);
});

test("an id already spooled is refused and the first message stays intact", async (t) => {
  const root = await freshDirectory(t);
  const spool = await Spool.open(root);
  await spoolMessage(spool, "01FFFFFFFFFFFF", message(10));
  await rejectsWithCode(spoolMessage(spool, "01FFFFFFFFFFFF", message(20)), "SPOOL_ID_IN_USE");
  assert.deepEqual(await readFile(join(root, "body", "01FFFFFFFFFFFF")), message(10));
  assert.equal((await spool.show("01FFFFFFFFFFFF"))?.envelope.size, message(10).length);
});

test("commit refuses an envelope that would not read back, and removes the body", async (t) => {
  const root = await freshDirectory(t);
  const spool = await Spool.open(root);
  const writer = spool.create("01GGGGGGGGGGGG");
  writer.write(message(200_000));
  await rejectsWithCode(writer.commit(draftFor("01GGGGGGGGGGGH")), "SPOOL_BAD_ENVELOPE");
  const noRecipients = spool.create("01GGGGGGGGGGGJ");
  noRecipients.write(message(1));
  await rejectsWithCode(noRecipients.commit(draftFor("01GGGGGGGGGGGJ", [])), "SPOOL_BAD_ENVELOPE");
  assert.deepEqual(await filesIn(root), []);
  assert.throws(() => spool.create("../etc/passwd"), { code: "SPOOL_BAD_ID" });
});

test("show returns the header section, the body size and the state", async (t) => {
  const root = await freshDirectory(t);
  const spool = await Spool.open(root);
  await spoolMessage(spool, "01HHHHHHHHHHHH", message(50_000), 7);
  const shown = await spool.show("01HHHHHHHHHHHH");
  assert.ok(shown !== null);
  assert.equal(shown.state, "incoming");
  assert.deepEqual(shown.headers, headers);
  assert.equal(shown.bodySize, message(50_000).length);
  assert.equal(await spool.show("01HHHHHHHHHHHX"), null);
  assert.equal(await spool.show("not/an/id"), null);
  await unlink(join(root, "body", "01HHHHHHHHHHHH"));
  assert.deepEqual(await spool.show("01HHHHHHHHHHHH"), { ...shown, headers: Buffer.alloc(0), bodySize: undefined });
  await writeFile(join(root, "hold", "01HHHHHHHHHHHJ"), '{"version":1,"id":');
  await rejectsWithCode(spool.show("01HHHHHHHHHHHJ"), "SPOOL_DAMAGED");
});

test("move renames between states and fsyncs both folders after the rename", async (t) => {
  const root = await freshDirectory(t);
  const { disk, events } = recordingDisk();
  const spool = await Spool.open(root, { disk });
  await spoolMessage(spool, "01JJJJJJJJJJJJ", message(10));
  events.length = 0;
  await spool.move("01JJJJJJJJJJJJ", "incoming", "active");
  assert.equal((await spool.show("01JJJJJJJJJJJJ"))?.state, "active");
  assert.equal(events[0]?.call, "rename");
  const synced = events.filter((event) => event.call === "syncDirectory:end").map((event) => event.path);
  assert.deepEqual(synced.sort(), [join(root, "active"), join(root, "incoming")]);
  await rejectsWithCode(spool.move("01JJJJJJJJJJJJ", "incoming", "hold"), "SPOOL_NOT_FOUND");
});

test("moves and removals with a window are made as one batch: renames or envelopes first, each folder fsynced once after them, then the bodies", async (t) => {
  const root = await freshDirectory(t);
  const { disk, events } = recordingDisk();
  const spool = await Spool.open(root, { disk });
  const ids = ["01KKKKKKKKKKK1", "01KKKKKKKKKKK2", "01KKKKKKKKKKK3"];
  for (const id of ids) await spoolMessage(spool, id, message(10));
  events.length = 0;
  const moves = await Promise.allSettled([...ids, "01KKKKKKKKKKK9"].map((id) => spool.move(id, "incoming", "active", { window: 5 })));
  assert.deepEqual(moves.map((outcome) => outcome.status), ["fulfilled", "fulfilled", "fulfilled", "rejected"]);
  await rejectsWithCode(Promise.reject((moves[3] as PromiseRejectedResult).reason), "SPOOL_NOT_FOUND");
  const calls = events.map((event) => `${event.call} ${event.path.slice(root.length + 1)}`);
  assert.deepEqual(calls.slice(0, 3), ids.map((id) => `rename incoming/${id}`));
  assert.deepEqual(calls.slice(3).filter((call) => call.startsWith("syncDirectory:start")).sort(), ["syncDirectory:start active", "syncDirectory:start incoming"]);
  for (const id of ids) assert.equal((await spool.show(id))?.state, "active");

  events.length = 0;
  const removals = await Promise.allSettled([...ids, "01KKKKKKKKKKK9"].map((id) => spool.remove("active", id, { window: 5 })));
  assert.deepEqual(removals.map((outcome) => outcome.status), ["fulfilled", "fulfilled", "fulfilled", "rejected"]);
  await rejectsWithCode(Promise.reject((removals[3] as PromiseRejectedResult).reason), "SPOOL_NOT_FOUND");
  const order = events.map((event) => `${event.call} ${event.path.slice(root.length + 1).split("/")[0]}`);
  assert.deepEqual(order, [
    ...ids.map(() => "remove active"),
    "syncDirectory:start active",
    "syncDirectory:end active",
    ...ids.map(() => "remove body"),
  ]);
  assert.deepEqual(await filesIn(root), [], "envelopes and bodies gone");
});

test("list skips a file that vanishes between readdir and read, and unreadable ones", async (t) => {
  const root = await freshDirectory(t);
  let vanish = "";
  const disk: SpoolDisk = {
    ...nodeSpoolDisk,
    async readFile(path) {
      if (path.endsWith(vanish)) throw Object.assign(new Error("ENOENT"), { code: "ENOENT" });
      return nodeSpoolDisk.readFile(path);
    },
  };
  const spool = await Spool.open(root, { disk });
  for (const id of ["01KKKKKKKKKKKA", "01KKKKKKKKKKKB", "01KKKKKKKKKKKC"]) await spoolMessage(spool, id, message(1));
  await writeFile(join(root, "deferred", "01KKKKKKKKKKKD"), "{");
  vanish = "01KKKKKKKKKKKB";
  const ids = [];
  for await (const entry of spool.list(["incoming", "deferred"])) ids.push(entry.id);
  assert.deepEqual(ids, ["01KKKKKKKKKKKA", "01KKKKKKKKKKKC"]);
});

test("a read-only open never creates the spool", async (t) => {
  const root = await freshDirectory(t);
  await rejectsWithCode(Spool.open(root, { create: false }), "SPOOL_IO");
  await assert.rejects(stat(root), { code: "ENOENT" });
});
