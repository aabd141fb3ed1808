// Tests command parsing: every verb's valid and invalid forms, UTF-8 rules, bad bytes and unknown verbs.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { type Command, type CommandContext, parseCommand } from "./command.ts";
import type { Reply } from "./reply.ts";

const PLAIN: CommandContext = { smtputf8: false };

function parse(line: string | Buffer, context: CommandContext = PLAIN): Command | { error: Reply } {
  return parseCommand(typeof line === "string" ? Buffer.from(line, "utf8") : line, context);
}

function command(line: string | Buffer, context: CommandContext = PLAIN): Command {
  const result = parse(line, context);
  assert.ok(!("error" in result), `${String(line)} should parse, got ${JSON.stringify(result)}`);
  return result;
}

function refused(line: string | Buffer, context: CommandContext = PLAIN): string {
  const result = parse(line, context);
  assert.ok("error" in result, `${String(line)} should be refused, got ${JSON.stringify(result)}`);
  return `${result.error.code} ${result.error.enhanced}`;
}

describe("parseCommand: verbs without arguments", () => {
  for (const verb of ["DATA", "RSET", "QUIT", "STARTTLS"] as const) {
    it(`${verb} in any case, trailing spaces ignored, argument refused`, () => {
      assert.deepEqual(command(verb), { verb });
      assert.deepEqual(command(verb.toLowerCase()), { verb });
      assert.deepEqual(command(`${verb}   `), { verb });
      assert.equal(refused(`${verb} now`), "501 5.5.4");
    });
  }

  it("NOOP takes an optional string (RFC 5321 §4.1.1.9)", () => {
    assert.deepEqual(command("NOOP"), { verb: "NOOP" });
    assert.deepEqual(command("noop anything at all"), { verb: "NOOP" });
  });
});

describe("parseCommand: HELO and EHLO", () => {
  it("keeps the argument as given", () => {
    assert.deepEqual(command("HELO mx.example.com"), { verb: "HELO", domain: "mx.example.com" });
    assert.deepEqual(command("ehlo [192.0.2.1]"), { verb: "EHLO", domain: "[192.0.2.1]" });
    assert.deepEqual(command("EHLO  spaced  out "), { verb: "EHLO", domain: "spaced  out" });
  });

  it("refuses a missing or blank argument with 501 5.5.4", () => {
    for (const line of ["HELO", "HELO ", "HELO    ", "EHLO", "EHLO  "]) assert.equal(refused(line), "501 5.5.4", line);
  });

  it("treats a line starting with a space as an unknown verb", () => {
    assert.deepEqual(command(" HELO x"), { verb: "UNKNOWN", text: " HELO x" });
  });
});

describe("parseCommand: MAIL", () => {
  it("parses the sender with or without a space after the colon", () => {
    for (const line of ["MAIL FROM:<anne@example.com>", "MAIL FROM: <anne@example.com>", "mail from:<anne@EXAMPLE.com>"]) {
      const parsed = command(line);
      assert.ok(parsed.verb === "MAIL");
      assert.equal(parsed.sender?.address, "anne@example.com");
      assert.deepEqual(parsed.params, {});
    }
  });

  it("parses the null sender and parameters", () => {
    assert.deepEqual(command("MAIL FROM:<> SIZE=1000 BODY=8BITMIME"), {
      verb: "MAIL",
      sender: null,
      params: { size: 1000, body: "8BITMIME" },
    });
  });

  it("refuses a missing FROM:, colon or path with 501 5.5.4", () => {
    for (const line of ["MAIL", "MAIL FROM <a@b.c>", "MAIL <a@b.c>", "MAIL FROM:", "MAIL FROM:   ", "MAIL TO:<a@b.c>", "MAIL FROM:<a@b.c>SIZE=1"]) {
      assert.equal(refused(line), "501 5.5.4", line);
    }
  });

  it("refuses a bad sender with 501 5.1.7", () => {
    assert.equal(refused("MAIL FROM:<a@>"), "501 5.1.7");
    assert.equal(refused("MAIL FROM:<@>"), "501 5.1.7");
    assert.equal(refused("MAIL FROM:<Postmaster>"), "501 5.1.7");
  });

  it("refuses unknown and malformed parameters", () => {
    assert.equal(refused("MAIL FROM:<a@b.c> OPT"), "555 5.5.4");
    assert.equal(refused("MAIL FROM:<a@b.c> SIZE=big"), "501 5.5.4");
  });

  it("accepts a UTF-8 sender only with SMTPUTF8 (RFC 6531 §3.4)", () => {
    assert.equal(refused("MAIL FROM:<josé@example.com>"), "553 5.6.7");
    const parsed = command("MAIL FROM:<josé@example.com> SMTPUTF8");
    assert.ok(parsed.verb === "MAIL");
    assert.equal(parsed.sender?.utf8, true);
    assert.equal(parsed.params.smtputf8, true);
  });

  it("passes the advertised extensions to the parameter parser", () => {
    assert.equal(refused("MAIL FROM:<a@b.c> SIZE=10", { smtputf8: false, extensions: new Set() }), "555 5.5.4");
  });
});

describe("parseCommand: RCPT", () => {
  it("parses the recipient and DSN parameters", () => {
    assert.deepEqual(command("RCPT TO:<Bob@Example.org> NOTIFY=FAILURE,DELAY ORCPT=rfc822;Bob@Example.org"), {
      verb: "RCPT",
      recipient: { local: "Bob", domain: "example.org", address: "Bob@example.org", utf8: false },
      params: { notify: ["FAILURE", "DELAY"], orcpt: { type: "rfc822", address: "Bob@Example.org" } },
    });
  });

  it("accepts <Postmaster> without a domain", () => {
    const parsed = command("RCPT TO:<Postmaster>");
    assert.ok(parsed.verb === "RCPT");
    assert.equal(parsed.recipient.address, "Postmaster");
    assert.equal(parsed.recipient.domain, "");
  });

  it("refuses the null path and bad recipients with 501 5.1.3", () => {
    assert.equal(refused("RCPT TO:<>"), "501 5.1.3");
    assert.equal(refused("RCPT TO:<@>"), "501 5.1.3");
    assert.equal(refused("RCPT TO: < @a>"), "501 5.1.3");
  });

  it("refuses a missing TO: or path with 501 5.5.4", () => {
    for (const line of ["RCPT", "RCPT TO:", "RCPT TO <a@b.c>", "RCPT FROM:<a@b.c>"]) assert.equal(refused(line), "501 5.5.4", line);
  });

  it("refuses MAIL parameters on RCPT", () => {
    assert.equal(refused("RCPT TO:<user@domain> SIZE=3005"), "555 5.5.4");
    assert.equal(refused("RCPT TO:<user@domain> BODY=8BITMIME"), "555 5.5.4");
  });

  it("accepts a UTF-8 recipient only in an SMTPUTF8 transaction", () => {
    assert.equal(refused("RCPT TO:<用户@例子.广告>"), "553 5.6.7");
    const parsed = command("RCPT TO:<用户@例子.广告>", { smtputf8: true });
    assert.ok(parsed.verb === "RCPT");
    assert.equal(parsed.recipient.utf8, true);
  });
});

describe("parseCommand: VRFY, EXPN, HELP", () => {
  it("VRFY and EXPN need an argument", () => {
    assert.deepEqual(command("VRFY anne"), { verb: "VRFY", argument: "anne" });
    assert.deepEqual(command("expn staff list"), { verb: "EXPN", argument: "staff list" });
    assert.equal(refused("VRFY"), "501 5.5.4");
    assert.equal(refused("EXPN "), "501 5.5.4");
  });

  it("HELP has an optional topic", () => {
    assert.deepEqual(command("HELP"), { verb: "HELP" });
    assert.deepEqual(command("help MAIL"), { verb: "HELP", topic: "MAIL" });
  });
});

describe("parseCommand: BDAT", () => {
  it("parses the size and LAST in any case", () => {
    assert.deepEqual(command("BDAT 1000"), { verb: "BDAT", size: 1000, last: false });
    assert.deepEqual(command("bdat 0 last"), { verb: "BDAT", size: 0, last: true });
    assert.deepEqual(command("BDAT 42  LAST"), { verb: "BDAT", size: 42, last: true });
    assert.deepEqual(command(`BDAT ${"9".repeat(15)}`), { verb: "BDAT", size: 999999999999999, last: false });
  });

  it("refuses a missing, signed, non-numeric or uncountable size and other end markers", () => {
    for (const line of ["BDAT", "BDAT x", "BDAT -1", "BDAT +1", "BDAT 1.5", "BDAT 10 MORE", "BDAT 10 LAST x", `BDAT ${"9".repeat(16)}`]) {
      assert.equal(refused(line), "501 5.5.4", line);
    }
  });
});

describe("parseCommand: AUTH", () => {
  it("parses the mechanism upper-cased and an optional initial response", () => {
    assert.deepEqual(command("AUTH login"), { verb: "AUTH", mechanism: "LOGIN" });
    assert.deepEqual(command("AUTH PLAIN AGFubmUAc2VjcmV0"), { verb: "AUTH", mechanism: "PLAIN", initialResponse: "AGFubmUAc2VjcmV0" });
    assert.deepEqual(command("AUTH PLAIN ="), { verb: "AUTH", mechanism: "PLAIN", initialResponse: "=" });
    assert.deepEqual(command("AUTH SCRAM-SHA-256"), { verb: "AUTH", mechanism: "SCRAM-SHA-256" });
  });

  it("refuses a missing or malformed mechanism with 501 5.5.4 and bad base64 with 501 5.5.2", () => {
    assert.equal(refused("AUTH"), "501 5.5.4");
    assert.equal(refused("AUTH A-MECHANISM-NAME-TOO-LONG"), "501 5.5.4");
    assert.equal(refused("AUTH PL@IN"), "501 5.5.4");
    assert.equal(refused("AUTH PLAIN not*base64"), "501 5.5.2");
    assert.equal(refused("AUTH PLAIN abc==="), "501 5.5.2");
  });
});

describe("parseCommand: unknown verbs and bad bytes", () => {
  it("returns UNKNOWN with the text for verbs not in the table", () => {
    assert.deepEqual(command("XYZZY plugh"), { verb: "UNKNOWN", text: "XYZZY plugh" });
    assert.deepEqual(command("MAILFROM:<a@b.c>"), { verb: "UNKNOWN", text: "MAILFROM:<a@b.c>" });
    assert.deepEqual(command(""), { verb: "UNKNOWN", text: "" });
    assert.deepEqual(command("TOSTRING"), { verb: "UNKNOWN", text: "TOSTRING" });
    assert.deepEqual(command("__proto__"), { verb: "UNKNOWN", text: "__proto__" });
  });

  it("refuses invalid UTF-8 with 500 5.5.2", () => {
    assert.equal(refused(Buffer.from([0x80, 0x46, 0x41, 0x49, 0x4c])), "500 5.5.2");
    assert.equal(refused(Buffer.from([0x48, 0x45, 0x4c, 0x4f, 0x20, 0xc3])), "500 5.5.2");
    assert.equal(refused(Buffer.concat([Buffer.from("VRFY "), Buffer.from([0xc0, 0xaf])])), "500 5.5.2", "overlong");
    assert.equal(refused(Buffer.concat([Buffer.from("VRFY "), Buffer.from([0xed, 0xa0, 0x80])])), "500 5.5.2", "surrogate");
  });

  it("refuses control characters, TAB and stray CR included, with 500 5.5.2", () => {
    for (const line of ["NOOP\x00", "HELO a\rb", "HELO\tx", "RSET\x7f", "MAIL FROM:<a@b.c>\x1b"]) {
      assert.equal(refused(line), "500 5.5.2", JSON.stringify(line));
    }
  });

  it("keeps a byte order mark, which makes the verb unknown", () => {
    assert.equal(command("\ufeffHELO x").verb, "UNKNOWN");
  });
});
