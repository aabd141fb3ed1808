// Tests the reader of server replies: single and multi-line replies, enhanced codes, replies split anywhere
// across chunks, several replies in one chunk, and every kind of malformed input; and the one-line formatter.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { reply } from "./reply.ts";
import { MalformedReplyError, ReplyReader, replyText } from "./reply-reader.ts";

const bytes = (text: string) => Buffer.from(text, "utf8");

function readAll(text: string, reader = new ReplyReader()) {
  return reader.push(bytes(text));
}

describe("ReplyReader", () => {
  it("reads a one-line reply with an enhanced code", () => {
    assert.deepEqual(readAll("250 2.1.0 sender OK\r\n"), [reply(250, "2.1.0", "sender OK")]);
  });

  it("reads a reply without enhanced code, and one without text", () => {
    assert.deepEqual(readAll("220 mx.example ESMTP\r\n250\r\n354 \r\n"), [
      reply(220, undefined, "mx.example ESMTP"),
      reply(250, undefined, ""),
      reply(354, undefined, ""),
    ]);
  });

  it("reads a multi-line reply and strips the enhanced code from every line", () => {
    const [r] = readAll("550-5.7.1 first\r\n550-5.7.1 second\r\n550 5.7.1 third\r\n");
    assert.deepEqual(r, reply(550, "5.7.1", "first", "second", "third"));
  });

  it("reads an EHLO reply as lines, keeping an empty last line", () => {
    const [r] = readAll("250-mx.example\r\n250-PIPELINING\r\n250-SIZE 1000\r\n250 \r\n");
    assert.deepEqual(r?.lines, ["mx.example", "PIPELINING", "SIZE 1000", ""]);
    assert.equal(r?.enhanced, undefined);
  });

  it("takes the enhanced code only when its class matches the reply's", () => {
    assert.deepEqual(readAll("550 4.1.1 odd\r\n"), [reply(550, undefined, "4.1.1 odd")]);
    assert.deepEqual(readAll("250 2.0.0\r\n"), [reply(250, "2.0.0", "")]);
    assert.deepEqual(readAll("250 2.0.01x\r\n"), [reply(250, undefined, "2.0.01x")]);
    assert.deepEqual(readAll("451 4.03.000 later\r\n"), [reply(451, "4.3.0", "later")]);
  });

  it("accepts bare LF line endings", () => {
    assert.deepEqual(readAll("250-a\n250 b\n"), [reply(250, undefined, "a", "b")]);
  });

  it("reads replies split at every possible octet, and several replies in one chunk", () => {
    const wire = "250-mx.example says hi\r\n250 2.0.0 ok\r\n421 4.4.2 bye\r\n";
    for (let cut = 0; cut <= wire.length; cut++) {
      const reader = new ReplyReader();
      const got = [...reader.push(bytes(wire.slice(0, cut))), ...reader.push(bytes(wire.slice(cut)))];
      assert.deepEqual(got, [reply(250, undefined, "mx.example says hi", "2.0.0 ok"), reply(421, "4.4.2", "bye")], `cut at ${cut}`);
      assert.equal(reader.partial, false);
    }
  });

  it("reads a reply given one octet at a time, and says when it holds part of one", () => {
    const reader = new ReplyReader();
    const got = [];
    for (const octet of bytes("250-x\r\n250 y\r\n")) {
      got.push(...reader.push(Buffer.from([octet])));
      if (got.length === 0) assert.equal(reader.partial, true);
    }
    assert.deepEqual(got, [reply(250, undefined, "x", "y")]);
  });

  it("keeps UTF-8 text", () => {
    assert.deepEqual(readAll("550 5.1.1 <josé@exemple.fr> inconnu\r\n"), [reply(550, "5.1.1", "<josé@exemple.fr> inconnu")]);
  });

  const malformed: [string, string, RegExp][] = [
    ["no code", "hello\r\n", /not an SMTP reply line/],
    ["a code outside 2xx-5xx", "199 x\r\n", /not an SMTP reply line/],
    ["a short code", "25 x\r\n", /not an SMTP reply line/],
    ["no separator", "250x\r\n", /not an SMTP reply line/],
    ["mixed codes", "250-a\r\n251 b\r\n", /code 251 inside a reply with code 250/],
    ["an over-long line", `250 ${"x".repeat(2100)}\r\n`, /longer than 2048/],
    ["too many lines", "250-x\r\n".repeat(101), /more than 100 lines/],
  ];
  for (const [what, wire, message] of malformed) {
    it(`reports ${what} as a protocol error, and stays broken`, () => {
      const reader = new ReplyReader();
      assert.throws(() => reader.push(bytes(wire)), (error: unknown) => error instanceof MalformedReplyError && message.test(error.message));
      assert.throws(() => reader.push(bytes("250 ok\r\n")), MalformedReplyError);
    });
  }

  it("reports an over-long line before its end arrives", () => {
    const reader = new ReplyReader({ lineLength: 100 });
    assert.deepEqual(reader.push(bytes(`250 ${"x".repeat(90)}`)), []);
    assert.throws(() => reader.push(bytes("x".repeat(20))), /longer than 100/);
  });
});

describe("replyText", () => {
  it("formats a reply on one line", () => {
    assert.equal(replyText(reply(550, "5.1.1", "no such user")), "550 5.1.1 no such user");
    assert.equal(replyText(reply(250, undefined, "a", "", "b")), "250 a b");
    assert.equal(replyText(reply(250, undefined)), "250");
    assert.equal(replyText(reply(451, "4.3.0")), "451 4.3.0");
  });
});
