// Tests of reading the header section of a body: line endings, block boundaries, the read limit.

import assert from "node:assert/strict";
import { test } from "node:test";
import { readHeaderSection } from "./header-section.ts";
import type { SpoolFile } from "./spool-disk.ts";

/** A read-only file over bytes in memory. */
function fileOf(bytes: Buffer): SpoolFile {
  return {
    async read(buffer, position) {
      return bytes.copy(buffer, 0, position, Math.min(bytes.length, position + buffer.length));
    },
    writeAll: () => Promise.reject(new Error("read-only")),
    sync: async () => {},
    size: async () => bytes.length,
    close: async () => {},
  };
}

test("the header section ends before the empty line, with CRLF or bare LF", async () => {
  const crlf = Buffer.from("A: 1\r\nB: 2\r\n\r\nbody\r\n");
  assert.equal((await readHeaderSection(fileOf(crlf))).toString(), "A: 1\r\nB: 2\r\n");
  const lf = Buffer.from("A: 1\nB: 2\n\nbody\n");
  assert.equal((await readHeaderSection(fileOf(lf))).toString(), "A: 1\nB: 2\n");
  assert.equal((await readHeaderSection(fileOf(Buffer.from("\r\nbody")))).length, 0);
});

test("an empty line split across read blocks is still found", async () => {
  for (const split of [0, 1, 2, 3]) {
    const head = `X: ${"y".repeat(16 * 1024 - 5 - split)}\r\n`;
    const bytes = Buffer.from(`${head}\r\nbody`);
    assert.equal((await readHeaderSection(fileOf(bytes))).toString(), head, `split ${split}`);
  }
});

test("without an empty line it returns what it read, at most the limit", async () => {
  const headersOnly = Buffer.from("A: 1\r\nB: 2\r\n");
  assert.deepEqual(await readHeaderSection(fileOf(headersOnly)), headersOnly);
  const endless = Buffer.alloc(100_000, "h");
  assert.equal((await readHeaderSection(fileOf(endless), 40_000)).length, 40_000);
});
