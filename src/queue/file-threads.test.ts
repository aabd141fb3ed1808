import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
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
