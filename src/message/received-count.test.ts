// Tests the Received count: fields in any case and split across chunks at every byte, folded lines and look-alikes
// not counted, nothing after the header section, bare LF line ends.

import assert from "node:assert/strict";
import { test } from "node:test";
import { ReceivedCount } from "./received-count.ts";

function countOf(text: string, chunkSize = text.length): number {
  const counter = new ReceivedCount();
  const bytes = Buffer.from(text, "latin1");
  for (let start = 0; start < bytes.length; start += chunkSize) counter.feed(bytes.subarray(start, start + chunkSize));
  return counter.count;
}

const SECTION =
  "Received: from a by b; Sun, 29 Nov 2026 08:00:00 +0000\r\n" +
  "RECEIVED: from c\r\n\tby d; Sun, 29 Nov 2026 08:00:00 +0000\r\n" +
  "received : from e (obsolete space before the colon)\r\n" +
  "X-Received: not this one\r\n" +
  "Received-SPF: pass (nor this one)\r\n" +
  "Subject: Received: in a value\r\n" +
  " Received: a folded line is no field\r\n" +
  "Receivedx: no\r\n";

test("Received fields are counted whatever their case and however the bytes are cut; look-alikes are not", () => {
  const text = `${SECTION}\r\nReceived: in the body, not counted\r\n`;
  for (const size of [1, 2, 3, 7, 64, text.length]) assert.equal(countOf(text, size), 3, `chunks of ${size}`);
});

test("the count stops at the empty line, also with bare LF line ends, and a body-only message has none", () => {
  assert.equal(countOf("Received: x\nReceived: y\n\nReceived: z\n"), 2);
  assert.equal(countOf("\r\nReceived: x\r\n"), 0);
  assert.equal(countOf("Received: x\r\nReceived: y"), 2, "a section without its empty line (all header)");
  assert.equal(countOf(`${"Received: hop\r\n".repeat(60)}\r\nbody\r\n`, 5), 60);
});
