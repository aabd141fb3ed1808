import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FileThreads } from "./file-threads.ts";

test("createFile writes every byte of every buffer, mode 0600, and refuses an existing file with EEXIST", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "petrel-threads-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const threads = new FileThreads(2);
  const socketChunk = Buffer.alloc(65536, 0x78).subarray(100, 4100); // a view into a larger buffer
  const buffers = [Buffer.from("Received: x\r\n"), socketChunk, Buffer.from([0, 0xff, 0x0d, 0x0a])];
  await Promise.all(Array.from({ length: 20 }, (_, n) => threads.createFile(join(dir, `f${n}`), buffers)));
  for (let n = 0; n < 20; n++) {
    assert.deepEqual(await readFile(join(dir, `f${n}`)), Buffer.concat(buffers));
    assert.equal((await stat(join(dir, `f${n}`))).mode & 0o777, 0o600);
  }
  await assert.rejects(threads.createFile(join(dir, "f0"), [Buffer.from("other")]), { code: "EEXIST" });
  assert.deepEqual(await readFile(join(dir, "f0")), Buffer.concat(buffers), "the existing file is untouched");
});

test("errors come back with their errno code; syncDirectory fsyncs a directory", async () => {
  const threads = new FileThreads(1);
  await threads.syncDirectory(tmpdir());
  await assert.rejects(threads.syncDirectory(join(tmpdir(), "petrel-no-such-directory")), { code: "ENOENT" });
  await assert.rejects(threads.createFile(join(tmpdir(), "petrel-no-such-directory", "f"), []), { code: "ENOENT" });
});

test("commitMessage batches: each message of a batch succeeds or fails alone, and a failure leaves no envelope", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "petrel-threads-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  for (const folder of ["body", "tmp", "incoming"]) await mkdir(join(dir, folder));
  await writeFile(join(dir, "body", "m3"), "someone else's");
  const threads = new FileThreads(1);
  const plan = (id: string) => ({
    body: join(dir, "body", id),
    bodyData: [Buffer.from(`Subject: ${id}\r\n\r\n`), Buffer.from("body\r\n")],
    bodyWritten: false,
    envelopeTmp: join(dir, "tmp", id),
    envelopeData: Buffer.from(`{"id":"${id}"}`),
    envelope: join(dir, "incoming", id),
  });
  const ids = Array.from({ length: 10 }, (_, n) => `m${n}`);
  const outcomes = await Promise.allSettled(ids.map((id) => threads.commitMessage(plan(id))));
  for (const [n, outcome] of outcomes.entries()) {
    const id = ids[n]!;
    if (id === "m3") {
      assert.equal(outcome.status, "rejected");
      assert.equal((outcome as PromiseRejectedResult).reason.code, "EEXIST");
      assert.equal(await readFile(join(dir, "body", id), "utf8"), "someone else's");
      continue;
    }
    assert.equal(outcome.status, "fulfilled", id);
    assert.equal(await readFile(join(dir, "incoming", id), "utf8"), `{"id":"${id}"}`);
    assert.equal(await readFile(join(dir, "body", id), "utf8"), `Subject: ${id}\r\n\r\nbody\r\n`);
  }
  assert.deepEqual(await readdir(join(dir, "tmp")), [], "no envelope left behind in tmp/");
  assert.deepEqual((await readdir(join(dir, "incoming"))).sort(), ids.filter((id) => id !== "m3").sort());
});

test("commitMessage: an envelope that cannot be renamed into place leaves nothing in tmp/", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "petrel-threads-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  for (const folder of ["body", "tmp"]) await mkdir(join(dir, folder));
  const threads = new FileThreads(1);
  // The envelope's "folder" is a file: the rename into it fails, and nothing is left in tmp/.
  await writeFile(join(dir, "incoming"), "");
  await assert.rejects(
    threads.commitMessage({
      body: join(dir, "body", "m"),
      bodyData: [Buffer.from("x")],
      bodyWritten: false,
      envelopeTmp: join(dir, "tmp", "m"),
      envelopeData: Buffer.from("{}"),
      envelope: join(dir, "incoming", "m"),
    }),
    { code: "ENOTDIR" },
  );
  assert.deepEqual(await readdir(join(dir, "tmp")), []);
});

test("readFile hands back every byte of a file, empty or larger than a first guess, and ENOENT/EISDIR as node:fs does", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "petrel-threads-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const threads = new FileThreads(2);
  const contents = [Buffer.alloc(0), Buffer.from('{"id":"x"}\n'), Buffer.alloc(300_000, 0x41)];
  await Promise.all(contents.map((bytes, n) => writeFile(join(dir, `f${n}`), bytes)));
  const read = await Promise.all(contents.map((_, n) => threads.readFile(join(dir, `f${n}`))));
  for (const [n, bytes] of contents.entries()) assert.deepEqual(read[n], bytes);
  await assert.rejects(threads.readFile(join(dir, "missing")), { code: "ENOENT" });
  await assert.rejects(threads.readFile(dir), { code: "EISDIR" });
});

test("moveFiles and removeMessages: each item alone (a missing one fails only itself), bodies only of removed envelopes", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "petrel-threads-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  for (const folder of ["body", "incoming", "active"]) await mkdir(join(dir, folder));
  for (const id of ["m1", "m2"]) {
    await writeFile(join(dir, "incoming", id), "{}");
    await writeFile(join(dir, "body", id), "body");
  }
  const threads = new FileThreads(1);
  const move = (id: string) => ({ from: join(dir, "incoming", id), to: join(dir, "active", id) });
  const moved = await threads.moveFiles([move("m1"), move("gone"), move("m2")], [join(dir, "active"), join(dir, "incoming")]);
  assert.deepEqual(moved.map((error) => (error as NodeJS.ErrnoException | null)?.code ?? null), [null, "ENOENT", null]);
  assert.deepEqual((await readdir(join(dir, "active"))).sort(), ["m1", "m2"]);
  await rm(join(dir, "body", "m2")); // a body already gone is no error
  const removal = (id: string) => ({ envelope: join(dir, "active", id), body: join(dir, "body", id) });
  const removed = await threads.removeMessages([removal("m1"), removal("gone"), removal("m2")], join(dir, "active"));
  assert.deepEqual(removed.map((error) => (error as NodeJS.ErrnoException | null)?.code ?? null), [null, "ENOENT", null]);
  assert.deepEqual(await readdir(join(dir, "active")), []);
  assert.deepEqual(await readdir(join(dir, "body")), []);
  await assert.rejects(threads.moveFiles([], [join(dir, "no-such-folder")]), { code: "ENOENT" });
});
