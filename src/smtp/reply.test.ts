// Tests reply building and the wire form of replies (multi-line, enhanced codes, empty text, no forged lines).

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { formatReply, reply, withText } from "./reply.ts";

const wire = (r: Parameters<typeof formatReply>[0]) => formatReply(r).toString("utf8");

describe("formatReply", () => {
  it("formats a one-line reply with an enhanced code", () => {
    assert.equal(wire(reply(250, "2.1.0", "sender OK")), "250 2.1.0 sender OK\r\n");
  });

  it("formats a one-line reply without an enhanced code", () => {
    assert.equal(wire(reply(354, undefined, "go ahead")), "354 go ahead\r\n");
  });

  it("uses a hyphen on every line but the last and repeats the enhanced code", () => {
    assert.equal(
      wire(reply(550, "5.7.1", "first", "second", "third")),
      "550-5.7.1 first\r\n550-5.7.1 second\r\n550 5.7.1 third\r\n",
    );
  });

  it("formats an EHLO-style reply without enhanced codes", () => {
    assert.equal(wire(reply(250, undefined, "mx.example", "PIPELINING", "8BITMIME")), "250-mx.example\r\n250-PIPELINING\r\n250 8BITMIME\r\n");
  });

  it("allows an empty text", () => {
    assert.equal(wire(reply(250, undefined)), "250\r\n");
    assert.equal(wire(reply(250, undefined, "")), "250\r\n");
    assert.equal(wire(reply(250, "2.0.0")), "250 2.0.0\r\n");
    assert.equal(wire(reply(250, undefined, "", "last")), "250-\r\n250 last\r\n");
  });

  it("turns line breaks inside a text into separate reply lines (no forged replies)", () => {
    assert.equal(wire(reply(550, "5.7.1", "no\r\n250 OK")), "550-5.7.1 no\r\n550 5.7.1 250 OK\r\n");
    assert.equal(wire({ code: 550, lines: ["a\nb\rc"] }), "550-a\r\n550-b\r\n550 c\r\n");
  });

  it("sends UTF-8 text as UTF-8 octets", () => {
    assert.deepEqual(formatReply(reply(250, undefined, "é")), Buffer.from([0x32, 0x35, 0x30, 0x20, 0xc3, 0xa9, 0x0d, 0x0a]));
  });

  it("formats a hand-built reply with no lines as an empty text", () => {
    assert.equal(wire({ code: 221, lines: [] }), "221\r\n");
  });
});

describe("reply", () => {
  it("refuses codes outside 200-599", () => {
    assert.throws(() => reply(199, undefined), RangeError);
    assert.throws(() => reply(600, undefined), RangeError);
    assert.throws(() => reply(250.5, undefined), RangeError);
  });

  it("refuses malformed enhanced codes and a class that differs from the reply's", () => {
    assert.throws(() => reply(550, "5.1", "x"), RangeError);
    assert.throws(() => reply(550, "3.1.1", "x"), RangeError);
    assert.throws(() => reply(550, "4.1.1", "x"), RangeError);
    assert.throws(() => reply(354, "2.0.0", "x"), RangeError);
    assert.throws(() => reply(250, "2.0.1234", "x"), RangeError);
  });

  it("returns a frozen value", () => {
    const r = reply(250, "2.0.0", "OK");
    assert.ok(Object.isFrozen(r));
    assert.ok(Object.isFrozen(r.lines));
    assert.equal("enhanced" in reply(250, undefined), false);
  });

  it("withText keeps the codes and replaces the text", () => {
    const r = withText(reply(552, "5.3.4", "too big"), "message is 12 MB, the limit is 10 MB");
    assert.deepEqual(r, { code: 552, enhanced: "5.3.4", lines: ["message is 12 MB, the limit is 10 MB"] });
  });
});
