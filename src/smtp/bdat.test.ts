// Tests BDAT chunk reading: exact sizes at any split, leftovers, discard mode and totals over several chunks.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ChunkedBody, ChunkReader } from "./bdat.ts";

const bytes = (text: string) => Buffer.from(text, "latin1");

/** Feeds `input` in pieces of `step` octets; returns the body read, and the rest once done. */
function read(reader: ChunkReader, input: Buffer, step: number): { body: string; rest: string | null } {
  const body: Buffer[] = [];
  let rest: Buffer | null = null;
  for (let start = 0; start < input.length; start += step) {
    const chunk = input.subarray(start, start + step);
    if (rest !== null) {
      rest = Buffer.concat([rest, chunk]);
      continue;
    }
    const out = reader.push(chunk);
    if (out.body !== null) body.push(out.body);
    if (out.done) rest = out.rest;
    else assert.equal(out.rest, null);
  }
  return { body: Buffer.concat(body).toString("latin1"), rest: rest === null ? null : rest.toString("latin1") };
}

describe("ChunkReader", () => {
  it("takes exactly the announced octets, binary and unstuffed, and returns what follows", () => {
    const payload = "a\r\n.\r\n\x00\xff\n.\n"; // looks like an end of DATA, means nothing here
    const input = bytes(`${payload}BDAT 3 LAST\r\nxyz`);
    for (const step of [1, 2, 3, 7, input.length]) {
      const outcome = read(new ChunkReader(payload.length), input, step);
      assert.deepEqual(outcome, { body: payload, rest: "BDAT 3 LAST\r\nxyz" }, `step ${step}`);
    }
  });

  it("is not done until the last octet arrives", () => {
    const reader = new ChunkReader(5);
    assert.deepEqual(reader.push(bytes("abc")), { body: bytes("abc"), done: false, rest: null });
    assert.equal(reader.done, false);
    assert.deepEqual(reader.push(bytes("de")), { body: bytes("de"), done: true, rest: bytes("") });
    assert.equal(reader.done, true);
  });

  it("hands out a view of the pushed chunk", () => {
    const chunk = Buffer.allocUnsafeSlow(8);
    chunk.write("abcdQUIT", "latin1");
    const out = new ChunkReader(4).push(chunk);
    assert.equal(out.body?.buffer, chunk.buffer);
    assert.equal(out.rest?.byteOffset, 4);
  });

  it("a zero-size chunk is done at once and passes everything on", () => {
    const reader = new ChunkReader(0);
    assert.equal(reader.done, true);
    assert.deepEqual(reader.push(bytes("QUIT\r\n")), { body: null, done: true, rest: bytes("QUIT\r\n") });
  });

  it("ignores empty pushes", () => {
    assert.deepEqual(new ChunkReader(2).push(Buffer.alloc(0)), { body: null, done: false, rest: null });
  });

  it("in discard mode reads the octets without handing them out", () => {
    const outcome = read(new ChunkReader(4, { discard: true }), bytes("abcdNOOP\r\n"), 3);
    assert.deepEqual(outcome, { body: "", rest: "NOOP\r\n" });
  });

  it("refuses a size that is not a non-negative integer", () => {
    assert.throws(() => new ChunkReader(-1), RangeError);
    assert.throws(() => new ChunkReader(1.5), RangeError);
  });
});

describe("ChunkedBody", () => {
  it("adds up the chunks of a message and notes the LAST one", () => {
    const body = new ChunkedBody({ maxSize: 10 });
    const first = body.chunk(4, false);
    assert.deepEqual(first.push(bytes("abcd")).body, bytes("abcd"));
    assert.equal(body.last, false);
    const second = body.chunk(6, true);
    assert.deepEqual(second.push(bytes("efghij")).body, bytes("efghij"));
    assert.equal(body.size, 10);
    assert.equal(body.overflow, false);
    assert.equal(body.last, true);
  });

  it("discards the chunk that crosses maxSize and every later one", () => {
    const body = new ChunkedBody({ maxSize: 5 });
    assert.notEqual(body.chunk(3, false).push(bytes("abc")).body, null);
    const crossing = body.chunk(3, false).push(bytes("defNOOP"));
    assert.deepEqual(crossing, { body: null, done: true, rest: bytes("NOOP") });
    assert.equal(body.overflow, true);
    assert.equal(body.chunk(1, true).push(bytes("g")).body, null);
    assert.equal(body.size, 7);
  });

  it("refuses a chunk after the LAST one", () => {
    const body = new ChunkedBody({ maxSize: 5 });
    body.chunk(0, true);
    assert.throws(() => body.chunk(1, false), /after the LAST chunk/);
  });
});
