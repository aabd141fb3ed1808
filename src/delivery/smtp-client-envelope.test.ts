// Unit tests of what the client says for an envelope: parameters only where offered, the local refusals
// (SMTPUTF8, BINARYMIME, SIZE), when BDAT is used, and the xtext / RFC 6533 encoders checked
// against the server's own decoders (smtp/xtext.ts).

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { decodeUtf8AddressText, decodeXtext } from "../smtp/xtext.ts";
import { type EnvelopePlan, type OutboundTransaction, planEnvelope } from "./smtp-client-envelope.ts";
import { encodeUtf8AddressText, encodeXtext } from "./smtp-client-xtext.ts";

const offers = (...keywords: string[]) => new Map(keywords.map((k) => (k.includes(" ") ? [k.split(" ")[0]!, k.split(" ")[1]!] : [k, ""])));
const ALL = offers("PIPELINING", "SIZE 1000000", "8BITMIME", "SMTPUTF8", "DSN", "CHUNKING", "BINARYMIME");

/** The commands of a plan that must not be a refusal. */
function commands(plan: EnvelopePlan): Exclude<EnvelopePlan, { refused: unknown }> {
  assert.ok(!("refused" in plan), JSON.stringify(plan));
  return plan;
}

function envelope(more: Partial<OutboundTransaction> = {}): OutboundTransaction {
  return { sender: "a@x.test", parameters: {}, recipients: [{ address: "b@y.test" }], message: { path: "/nonexistent", size: 500 }, ...more };
}

describe("planEnvelope", () => {
  it("sends every parameter the remote offers", () => {
    const plan = planEnvelope(
      envelope({
        parameters: { body: "8BITMIME", smtputf8: true, ret: "FULL", envid: "id 1" },
        recipients: [{ address: "b@y.test", notify: ["FAILURE", "DELAY"], orcpt: { type: "rfc822", address: "b=1@y.test" } }],
      }),
      ALL,
    );
    assert.deepEqual(plan, {
      mail: "MAIL FROM:<a@x.test> SIZE=500 BODY=8BITMIME SMTPUTF8 RET=FULL ENVID=id+201",
      recipients: ["RCPT TO:<b@y.test> NOTIFY=FAILURE,DELAY ORCPT=rfc822;b+3D1@y.test"],
      chunking: true,
    });
  });

  it("leaves out what the remote does not offer; an 8-bit body goes without BODY=", () => {
    const plan = planEnvelope(
      envelope({ sender: "", parameters: { body: "8BITMIME", ret: "HDRS", envid: "e" }, recipients: [{ address: "b@y.test", notify: "NEVER" }] }),
      offers("PIPELINING"),
    );
    assert.deepEqual(plan, { mail: "MAIL FROM:<>", recipients: ["RCPT TO:<b@y.test>"], chunking: false });
  });

  it("declares the caller's size when given, else the file's", () => {
    assert.match(commands(planEnvelope(envelope({ parameters: { size: 700 } }), ALL)).mail, /SIZE=700$/);
    assert.match(commands(planEnvelope(envelope(), ALL)).mail, /SIZE=500$/);
  });

  it("goes by BDAT for a binary body, and for any body when CHUNKING comes with PIPELINING", () => {
    const chunking = (parameters: OutboundTransaction["parameters"], extensions: Map<string, string>) => commands(planEnvelope(envelope({ parameters }), extensions)).chunking;
    assert.equal(chunking({ body: "8BITMIME" }, ALL), true);
    assert.equal(chunking({}, offers("CHUNKING")), false, "without PIPELINING, DATA streams where BDAT would wait per chunk");
    assert.equal(chunking({ body: "BINARYMIME" }, offers("CHUNKING", "BINARYMIME")), true);
    assert.equal(chunking({}, offers("PIPELINING")), false);
  });

  it("a non-ASCII address needs SMTPUTF8 even when the sender did not ask", () => {
    assert.match(commands(planEnvelope(envelope({ recipients: [{ address: "ü@y.test" }] }), ALL)).mail, / SMTPUTF8/);
    const refused = planEnvelope(envelope({ sender: "ü@x.test" }), offers("8BITMIME"));
    assert.deepEqual("refused" in refused && [refused.refused.code, refused.refused.enhanced], [553, "5.6.7"]);
  });

  it("refuses locally: SMTPUTF8 missing (553 5.6.7), BINARYMIME without CHUNKING (554 5.6.3), over SIZE (552 5.3.4)", () => {
    const cases: [Partial<OutboundTransaction>, Map<string, string>, number, string][] = [
      [{ parameters: { smtputf8: true } }, offers("DSN"), 553, "5.6.7"],
      [{ parameters: { body: "BINARYMIME" } }, offers("BINARYMIME"), 554, "5.6.3"],
      [{ parameters: { body: "BINARYMIME" } }, offers("CHUNKING"), 554, "5.6.3"],
      [{ message: { path: "/x", size: 2_000_000 } }, ALL, 552, "5.3.4"],
      [{ parameters: { size: 1_000_001 } }, ALL, 552, "5.3.4"],
    ];
    for (const [more, extensions, code, enhanced] of cases) {
      const plan = planEnvelope(envelope(more), extensions);
      assert.ok("refused" in plan, JSON.stringify(more));
      assert.deepEqual([plan.refused.code, plan.refused.enhanced], [code, enhanced]);
      assert.match(plan.refused.lines[0]!, /refused locally/);
    }
  });

  it("SIZE without a limit (or 0) refuses nothing", () => {
    for (const extensions of [offers("SIZE"), offers("SIZE 0")]) {
      commands(planEnvelope(envelope({ message: { path: "/x", size: 1e9 } }), extensions));
    }
  });

  it("ORCPT: utf-8 as unitext inside an SMTPUTF8 transaction, as \\x{} escapes outside one; a non-ASCII rfc822 becomes utf-8", () => {
    const orcpt = { type: "utf-8", address: "ñ+=\\ x@y.test" };
    const inside = planEnvelope(envelope({ parameters: { smtputf8: true }, recipients: [{ address: "b@y.test", orcpt }] }), ALL);
    assert.deepEqual(commands(inside).recipients, ["RCPT TO:<b@y.test> ORCPT=utf-8;ñ\\x{2B}\\x{3D}\\x{5C}\\x{20}x@y.test"]);
    const outside = planEnvelope(envelope({ recipients: [{ address: "b@y.test", orcpt: { type: "RFC822", address: "ñ@y.test" } }] }), ALL);
    assert.deepEqual(commands(outside).recipients, ["RCPT TO:<b@y.test> ORCPT=utf-8;\\x{F1}@y.test"]);
  });
});

describe("xtext encoders", () => {
  it("encodeXtext round-trips through the decoder and uses only xchars and +HH", () => {
    for (const text of ["plain", "a+b=c d", "\x00\x7f~!", "<id@host>"]) {
      const encoded = encodeXtext(text);
      assert.match(encoded, /^(?:[\x21-\x2a\x2c-\x3c\x3e-\x7e]|\+[0-9A-F]{2})*$/);
      assert.equal(decodeXtext(encoded), text);
    }
    assert.equal(encodeXtext("é"), "+C3+A9", "non-ASCII as its UTF-8 octets");
  });

  it("encodeUtf8AddressText round-trips in both forms; the xtext form is ASCII", () => {
    for (const address of ["ñandú@example.test", "a+b=c\\d@x.test", "𝔘@x.test", "plain@x.test"]) {
      for (const unicode of [false, true]) {
        const encoded = encodeUtf8AddressText(address, unicode);
        if (!unicode) assert.match(encoded, /^[\x21-\x7e]+$/);
        assert.equal(decodeUtf8AddressText(encoded), address);
      }
    }
    assert.equal(encodeUtf8AddressText("𝔘", false), "\\x{1D518}");
  });
});
