// Tests MAIL/RCPT ESMTP parameters: every keyword, values, xtext, duplicates, unknown and unadvertised ones.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { type MailParameters, parseMailParameters, parseRcptParameters, type RcptParameters } from "./parameters.ts";
import type { Reply } from "./reply.ts";

function mail(text: string, extensions?: ReadonlySet<string>): MailParameters {
  const result = parseMailParameters(text, extensions);
  assert.ok(!("error" in result), `${text} should parse, got ${JSON.stringify(result)}`);
  return result;
}

function rcpt(text: string, extensions?: ReadonlySet<string>): RcptParameters {
  const result = parseRcptParameters(text, extensions);
  assert.ok(!("error" in result), `${text} should parse, got ${JSON.stringify(result)}`);
  return result;
}

function mailError(text: string, extensions?: ReadonlySet<string>): Reply {
  const result = parseMailParameters(text, extensions);
  assert.ok("error" in result, `${text} should be refused`);
  return result.error;
}

function rcptError(text: string, extensions?: ReadonlySet<string>): Reply {
  const result = parseRcptParameters(text, extensions);
  assert.ok("error" in result, `${text} should be refused`);
  return result.error;
}

const codes = (r: Reply) => `${r.code} ${r.enhanced}`;

describe("MAIL parameters", () => {
  it("parses no parameters as an empty object", () => {
    assert.deepEqual(mail(""), {});
  });

  it("parses every known parameter, keywords and values in any case, several spaces apart", () => {
    assert.deepEqual(mail(" size=1000  Body=8bitmime SMTPUTF8 RET=hdrs ENVID=QQ314159 AUTH=<> requiretls"), {
      size: 1000,
      body: "8BITMIME",
      smtputf8: true,
      ret: "HDRS",
      envid: "QQ314159",
      auth: "<>",
      requiretls: true,
    });
  });

  it("SIZE takes digits only, at most 20 of them", () => {
    assert.deepEqual(mail(" SIZE=0"), { size: 0 });
    assert.equal(mail(` SIZE=${"9".repeat(20)}`).size, 1e20);
    for (const bad of [" SIZE", " SIZE=-1", " SIZE=1k", " SIZE=1.5", ` SIZE=${"1".repeat(21)}`]) {
      assert.equal(codes(mailError(bad)), "501 5.5.4", bad);
    }
    assert.equal(codes(mailError(" SIZE=")), "501 5.5.4");
  });

  it("BODY takes 7BIT, 8BITMIME or BINARYMIME", () => {
    assert.deepEqual(mail(" BODY=7bit"), { body: "7BIT" });
    assert.deepEqual(mail(" BODY=BINARYMIME"), { body: "BINARYMIME" });
    assert.equal(codes(mailError(" BODY=8BIT")), "501 5.5.4");
    assert.equal(codes(mailError(" BODY")), "501 5.5.4");
  });

  it("SMTPUTF8 and REQUIRETLS take no value", () => {
    assert.equal(codes(mailError(" SMTPUTF8=yes")), "501 5.5.4");
    assert.equal(codes(mailError(" REQUIRETLS=1")), "501 5.5.4");
  });

  it("RET takes FULL or HDRS", () => {
    assert.deepEqual(mail(" RET=FULL"), { ret: "FULL" });
    assert.equal(codes(mailError(" RET=ALL")), "501 5.5.4");
  });

  it("decodes ENVID as xtext and limits it to 100 characters", () => {
    assert.deepEqual(mail(" ENVID=a+2Bb+3Dc+20d"), { envid: "a+b=c d" });
    assert.equal(mail(` ENVID=${"e".repeat(100)}`).envid?.length, 100);
    assert.equal(codes(mailError(` ENVID=${"e".repeat(101)}`)), "501 5.5.4");
    assert.equal(codes(mailError(" ENVID=a+2")), "501 5.5.4");
    assert.equal(codes(mailError(" ENVID=a+ZZ")), "501 5.5.4");
  });

  it("refuses control characters smuggled through xtext into ENVID and AUTH", () => {
    assert.equal(codes(mailError(" ENVID=a+0D+0ABcc:+20x")), "501 5.5.4");
    assert.equal(codes(mailError(" AUTH=a+0A@example.com")), "501 5.5.4");
    assert.equal(codes(mailError(" ENVID=caf+C3+A9")), "501 5.5.4");
  });

  it("decodes AUTH as xtext", () => {
    assert.deepEqual(mail(" AUTH=e+3Dmc2@example.com"), { auth: "e=mc2@example.com" });
  });

  it("refuses an unknown keyword with 555 and names it", () => {
    const error = mailError(" XFOO=1");
    assert.equal(codes(error), "555 5.5.4");
    assert.match(error.lines[0] ?? "", /XFOO/);
    assert.equal(codes(mailError(" NOTIFY=NEVER")), "555 5.5.4", "RCPT-only parameter on MAIL");
    assert.equal(codes(mailError(" constructor=1")), "555 5.5.4", "no prototype lookups");
  });

  it("refuses a parameter given twice, even with another case", () => {
    const error = mailError(" SIZE=1 size=2");
    assert.equal(codes(error), "501 5.5.4");
    assert.match(error.lines[0] ?? "", /SIZE given twice/);
  });

  it("refuses malformed keywords and values", () => {
    for (const bad of [" -X=1", " =1", " SIZE==1", " SIZE=1=2", " X_Y=1"]) {
      assert.equal(codes(mailError(bad)), "501 5.5.4", bad);
    }
  });

  it("refuses parameters of extensions not advertised, when told which were", () => {
    const ehlo = new Set(["SIZE", "8BITMIME"]);
    assert.deepEqual(mail(" SIZE=10 BODY=8BITMIME", ehlo), { size: 10, body: "8BITMIME" });
    assert.equal(codes(mailError(" BODY=BINARYMIME", ehlo)), "555 5.5.4");
    assert.equal(codes(mailError(" SMTPUTF8", ehlo)), "555 5.5.4");
    assert.equal(codes(mailError(" RET=FULL", ehlo)), "555 5.5.4");
    assert.equal(codes(mailError(" SIZE=10", new Set())), "555 5.5.4", "after a plain HELO");
    assert.deepEqual(mail(" BODY=BINARYMIME", new Set(["BINARYMIME"])), { body: "BINARYMIME" });
  });
});

describe("RCPT parameters", () => {
  it("parses NOTIFY=NEVER and lists of conditions", () => {
    assert.deepEqual(rcpt(" NOTIFY=never"), { notify: "NEVER" });
    assert.deepEqual(rcpt(" NOTIFY=SUCCESS,failure,DELAY"), { notify: ["SUCCESS", "FAILURE", "DELAY"] });
    assert.deepEqual(rcpt(" NOTIFY=DELAY"), { notify: ["DELAY"] });
  });

  it("refuses NEVER combined, repeated or unknown conditions and empty items", () => {
    for (const bad of [" NOTIFY=NEVER,SUCCESS", " NOTIFY=SUCCESS,NEVER", " NOTIFY=SUCCESS,SUCCESS", " NOTIFY=SOMETIMES", " NOTIFY=SUCCESS,", " NOTIFY"]) {
      assert.equal(codes(rcptError(bad)), "501 5.5.4", bad);
    }
  });

  it("parses ORCPT with an rfc822 xtext address", () => {
    assert.deepEqual(rcpt(" ORCPT=rfc822;Anne+2BArthur@Example.COM"), {
      orcpt: { type: "rfc822", address: "Anne+Arthur@Example.COM" },
    });
    assert.deepEqual(rcpt(" ORCPT=RFC822;a@b NOTIFY=FAILURE"), {
      orcpt: { type: "rfc822", address: "a@b" },
      notify: ["FAILURE"],
    });
  });

  it("accepts ORCPT with the utf-8 address type, in xtext and unitext forms (RFC 6533)", () => {
    assert.deepEqual(rcpt(" ORCPT=utf-8;caf\\x{E9}@example.com"), { orcpt: { type: "utf-8", address: "café@example.com" } });
    assert.deepEqual(rcpt(" ORCPT=UTF-8;café@example.com"), { orcpt: { type: "utf-8", address: "café@example.com" } });
    assert.deepEqual(rcpt(" ORCPT=utf-8;a\\x{2B}b\\x{1F600}@example.com"), {
      orcpt: { type: "utf-8", address: "a+b😀@example.com" },
    });
    for (const bad of [" ORCPT=utf-8;a\\x{D800}@b", " ORCPT=utf-8;a\\x{110000}@b", " ORCPT=utf-8;a\\x{}@b", " ORCPT=utf-8;a\\b", " ORCPT=utf-8;a+2Bb", " ORCPT=utf-8;a\\x{A}b"]) {
      assert.equal(codes(rcptError(bad)), "501 5.5.4", bad);
    }
  });

  it("refuses ORCPT without a type, with a bad type, undecodable, empty, control characters or over 500 characters", () => {
    for (const bad of [" ORCPT=a@b", " ORCPT=;a@b", " ORCPT=rfc 822;a@b", " ORCPT=rfc822;a+@b", " ORCPT=rfc822;", " ORCPT=rfc822;a+0D+0Ab", ` ORCPT=rfc822;${"a".repeat(494)}`]) {
      assert.equal(codes(rcptError(bad)), "501 5.5.4", bad);
    }
    assert.equal(rcpt(` ORCPT=rfc822;${"a".repeat(493)}`).orcpt?.address.length, 493);
  });

  it("refuses MAIL-only parameters, unknown ones and duplicates", () => {
    assert.equal(codes(rcptError(" SIZE=10")), "555 5.5.4");
    assert.equal(codes(rcptError(" BODY=8BITMIME")), "555 5.5.4");
    assert.equal(codes(rcptError(" AUTH=<>")), "555 5.5.4");
    assert.equal(codes(rcptError(" NOTIFY=NEVER NOTIFY=NEVER")), "501 5.5.4");
  });

  it("refuses DSN parameters when DSN was not advertised", () => {
    assert.equal(codes(rcptError(" NOTIFY=NEVER", new Set(["SIZE"]))), "555 5.5.4");
    assert.deepEqual(rcpt(" NOTIFY=NEVER", new Set(["DSN"])), { notify: "NEVER" });
  });
});
