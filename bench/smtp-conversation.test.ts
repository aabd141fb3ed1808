// Tests of the benchmark's reply reader: replies split across reads, multi-line replies, garbage.

import assert from "node:assert/strict";
import { test } from "node:test";
import { ReplyReader } from "./smtp-conversation.ts";

test("a reply split across reads is returned once it is complete", () => {
  const reader = new ReplyReader();
  assert.deepEqual(reader.push("220 mx.bench"), []);
  assert.deepEqual(reader.push(".test ESMTP\r\n"), [{ code: 220, lines: ["mx.bench.test ESMTP"] }]);
});

test("a multi-line reply ends at the line with a space after the code", () => {
  const reader = new ReplyReader();
  const replies = reader.push("250-mx.bench.test\r\n250-SIZE 104857600\r\n250 8BITMIME\r\n354 go ahead\r\n");
  assert.deepEqual(replies, [
    { code: 250, lines: ["mx.bench.test", "SIZE 104857600", "8BITMIME"] },
    { code: 354, lines: ["go ahead"] },
  ]);
});

test("a line that is not a reply is refused", () => {
  assert.throws(() => new ReplyReader().push("hello\r\n"), /not an SMTP reply line/);
});
