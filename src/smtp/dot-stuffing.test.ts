// Tests the DATA encoder: leading dots doubled, the end of data after a CRLF, chunk boundaries anywhere (every
// split of small messages, random splits of a larger one), bytes untouched, and a round trip through the
// server's own decoder (data-decoder.ts).

import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { describe, it } from "node:test";
import { DataDecoder } from "./data-decoder.ts";
import { DotStuffer } from "./dot-stuffing.ts";

function encode(chunks: Buffer[]): Buffer {
  const stuffer = new DotStuffer();
  return Buffer.concat([...chunks.flatMap((chunk) => stuffer.encode(chunk)), stuffer.end()]);
}

const latin1 = (text: string) => Buffer.from(text, "latin1");

/** Every way to cut the message in up to three chunks. */
function splits(message: Buffer): Buffer[][] {
  const out: Buffer[][] = [];
  for (let a = 0; a <= message.length; a++) {
    for (let b = a; b <= message.length; b++) out.push([message.subarray(0, a), message.subarray(a, b), message.subarray(b)]);
  }
  return out;
}

const cases: [string, string, string][] = [
  ["a plain message", "Subject: x\r\n\r\nhello\r\n", "Subject: x\r\n\r\nhello\r\n.\r\n"],
  ["lines starting with . and ..", ".a\r\n..b\r\nc.d\r\n.\r\n", "..a\r\n...b\r\nc.d\r\n..\r\n.\r\n"],
  ["a message not ending with CRLF", "body", "body\r\n.\r\n"],
  ["a message ending with a dot line without CRLF", "a\r\n.", "a\r\n..\r\n.\r\n"],
  ["a message ending with a bare CR", "a\r", "a\r\r\n.\r\n"],
  ["a message ending with a bare LF", "a\n", "a\n\r\n.\r\n"],
  ["an empty message", "", ".\r\n"],
  ["a dot first", ".", "..\r\n.\r\n"],
  ["dots after bare LF and bare CR (smuggling look-alikes)", "a\n.\nb\r.\r\nc", "a\n..\nb\r..\r\nc\r\n.\r\n"],
];

describe("DotStuffer", () => {
  for (const [what, message, wire] of cases) {
    it(`encodes ${what}, however it is cut in chunks`, () => {
      for (const chunks of splits(latin1(message))) {
        assert.equal(encode(chunks).toString("latin1"), wire, JSON.stringify(chunks.map((c) => c.toString("latin1"))));
      }
    });
  }

  it("hands out views of the chunk when nothing needs stuffing", () => {
    const chunk = latin1("no dots at line starts. none.\r\n");
    const [only, ...rest] = new DotStuffer().encode(chunk);
    assert.equal(only, chunk);
    assert.equal(rest.length, 0);
  });

  it("passes 8-bit and NUL octets through untouched", () => {
    const body = Buffer.from([0xff, 0x00, 0x0d, 0x0a, 0xe9, 0x2e, 0x0d, 0x0a]);
    assert.deepEqual(encode([body]), Buffer.concat([body, latin1(".\r\n")]));
  });

  it("round-trips random CRLF bodies cut at random places through the server's decoder", () => {
    const pieces = [".", "..", "a", "\r\n", "\r\n", "é"].map(latin1);
    for (let round = 0; round < 50; round++) {
      const noise = randomBytes(3000);
      const body = Buffer.concat([...Array.from(noise, (b) => pieces[b % pieces.length]!), latin1("\r\n")]);
      const chunks: Buffer[] = [];
      for (let at = 0; at < body.length; ) {
        const size = 1 + (noise[at % noise.length]! % 300);
        chunks.push(body.subarray(at, at + size));
        at += size;
      }
      const decoder = new DataDecoder({ maxSize: 1e9, bareLineEndings: "reject" });
      const decoded = decoder.push(encode(chunks));
      assert.equal(decoded.done, true);
      assert.equal(decoded.rest?.length, 0);
      assert.deepEqual(Buffer.concat(decoded.body), body);
    }
  });
});
