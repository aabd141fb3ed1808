// Tests that every standard reply is well formed and uses an IANA-registered enhanced status code.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { replies } from "./replies.ts";

// Subject.detail pairs registered in IANA's "SMTP Enhanced Status Codes" registry that this project may use
// (RFC 3463, RFC 4954, RFC 5248, RFC 6531, RFC 7372, RFC 7505, RFC 8689). An entry outside it is invented.
const REGISTERED = new Set([
  "0.0",
  ...["1.0", "1.1", "1.2", "1.3", "1.4", "1.5", "1.6", "1.7", "1.8", "1.9", "1.10"],
  ...["2.0", "2.1", "2.2", "2.3", "2.4"],
  ...["3.0", "3.1", "3.2", "3.3", "3.4", "3.5"],
  ...["4.0", "4.1", "4.2", "4.3", "4.4", "4.5", "4.6", "4.7"],
  ...["5.0", "5.1", "5.2", "5.3", "5.4", "5.5", "5.6"],
  ...["6.0", "6.1", "6.2", "6.3", "6.4", "6.5", "6.6", "6.7", "6.8", "6.9"],
  ...Array.from({ length: 31 }, (_, detail) => `7.${detail}`),
]);

describe("replies registry", () => {
  for (const [name, r] of Object.entries(replies)) {
    it(`${name} is a well-formed reply with a registered enhanced code`, () => {
      assert.ok(r.code >= 200 && r.code <= 599);
      assert.ok(r.lines.length >= 1 && r.lines.every((line) => line.length > 0));
      if (r.code >= 300 && r.code < 400) {
        assert.equal(r.enhanced, undefined, "3xx replies carry no enhanced code");
        return;
      }
      assert.ok(r.enhanced !== undefined, "2xx/4xx/5xx replies carry an enhanced code");
      const [klass, subject, detail] = r.enhanced.split(".");
      assert.equal(klass, String(r.code)[0]);
      assert.ok(REGISTERED.has(`${subject}.${detail}`), `${r.enhanced} is not an IANA-registered code`);
    });
  }

  it("uses the codes the protocol RFCs name for the main refusals", () => {
    const pick = (r: { code: number; enhanced?: string }) => `${r.code} ${r.enhanced}`;
    assert.equal(pick(replies.syntaxError), "500 5.5.2");
    assert.equal(pick(replies.badSequence), "503 5.5.1");
    assert.equal(pick(replies.unknownParameter), "555 5.5.4");
    assert.equal(pick(replies.badParameterValue), "501 5.5.4");
    assert.equal(pick(replies.badRecipientSyntax), "501 5.1.3");
    assert.equal(pick(replies.badSenderSyntax), "501 5.1.7");
    assert.equal(pick(replies.nonAsciiAddress), "553 5.6.7");
    assert.equal(pick(replies.messageTooBig), "552 5.3.4");
    assert.equal(pick(replies.authLineTooLong), "500 5.5.6");
  });

  it("cannot be changed at run time", () => {
    assert.ok(Object.isFrozen(replies));
    assert.throws(() => {
      (replies as Record<string, unknown>).ok = null;
    }, TypeError);
  });
});
