// Tests of the DSN composer: every report is read back by two independent parsers, postal-mime and
// Python's email package (which knows multipart/report and message/delivery-status), and checked field by
// field against RFC 3464, RFC 3461, RFC 6522, RFC 6533 and RFC 3834; every line of every report is
// checked for CRLF endings and the 998-octet limit.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { composeDsn, type Dsn, type DsnRecipient, type DsnRequest, dsnDue, returnsFullMessage } from "./dsn.ts";
import { asPostalSees, attachmentText, checkLines, flat, partBytes, postal, python } from "./dsn-test-readers.ts";

const headers = Buffer.from(
  "Received: from client.example.org by mx.petrel.test; Fri, 2 Jan 2026 03:04:05 +0000\r\n" +
    "From: Alice <alice@example.org>\r\nTo: bob@example.net\r\nSubject: Lunch\r\nMessage-ID: <1@example.org>\r\n",
);
const message = Buffer.concat([headers, Buffer.from("\r\nShall we meet at noon?\r\n-- \r\nAlice\r\n")]);
const arrival = new Date("2026-01-02T03:04:05Z");
const now = new Date("2026-01-03T10:00:00Z");

const bounced: DsnRecipient = {
  address: "bob@example.net",
  action: "failed",
  status: "5.1.1",
  diagnostic: "550 5.1.1 <bob@example.net>: no such user",
  remote: "mx.example.net",
  lastAttemptAt: new Date("2026-01-02T03:05:00Z"),
};

function request(changes: Partial<DsnRequest> = {}): DsnRequest {
  return {
    reportingMta: "mx.petrel.test",
    queueId: "0ABCDEFGH12300",
    sender: "alice@example.org",
    arrivalDate: arrival,
    receivedFrom: { name: "client.example.org", helo: "client.example.org", address: "192.0.2.7" },
    recipients: [bounced],
    original: { headers, message },
    now,
    ...changes,
  };
}

/** composeDsn, plus the checks every report must pass (see checkLines). */
function compose(changes: Partial<DsnRequest> = {}): Dsn {
  const dsn = composeDsn(request(changes));
  checkLines(dsn.message);
  return dsn;
}

const seconds = (date: Date): number => date.getTime() / 1000;

describe("composeDsn: a failure report", () => {
  it("is a multipart/report with the notice, the delivery-status fields and the whole original", async () => {
    const dsn = compose();
    assert.equal(dsn.sender, "");
    assert.equal(dsn.recipient, "alice@example.org");
    assert.deepEqual(dsn.senderParameters, {});

    const view = python(dsn);
    assert.equal(view.type, "multipart/report");
    assert.equal(view.reportType, "delivery-status");
    assert.equal(view.headers["From"], "Mail Delivery System <MAILER-DAEMON@mx.petrel.test>");
    assert.deepEqual(view.to, ["alice@example.org"]);
    assert.match(view.headers["Subject"]!, /^Undeliverable: /);
    assert.equal(view.dates["Date"], seconds(now));
    assert.match(view.headers["Message-ID"]!, /^<[^<>@\s]+@mx\.petrel\.test>$/);
    assert.equal(view.headers["Auto-Submitted"], "auto-replied");
    assert.equal(view.headers["MIME-Version"], "1.0");
    assert.deepEqual(
      view.parts.map((part) => part.type),
      ["text/plain", "message/delivery-status", "message/rfc822"],
    );

    const [perMessage, perRecipient, extra] = view.parts[1]!.blocks!;
    assert.equal(extra, undefined, "one recipient block");
    assert.deepEqual(Object.keys(perMessage!), ["Reporting-MTA", "Received-From-MTA", "Arrival-Date", "X-Petrel-Queue-Id"]);
    assert.equal(perMessage!["Reporting-MTA"], "dns; mx.petrel.test");
    assert.equal(perMessage!["Received-From-MTA"], "dns; client.example.org (client.example.org [192.0.2.7])");
    assert.equal(view.dates["Arrival-Date"], seconds(arrival));
    assert.equal(perMessage!["X-Petrel-Queue-Id"], "0ABCDEFGH12300");
    assert.deepEqual(perRecipient, {
      "Final-Recipient": "rfc822; bob@example.net",
      Action: "failed",
      Status: "5.1.1",
      "Remote-MTA": "dns; mx.example.net",
      "Diagnostic-Code": "smtp; 550 5.1.1 <bob@example.net>: no such user",
      "Last-Attempt-Date": perRecipient!["Last-Attempt-Date"],
    });
    assert.equal(view.dates["Last-Attempt-Date"], seconds(bounced.lastAttemptAt!));

    const returned = view.parts[2]!.inner!;
    assert.equal(returned.headers["Subject"], "Lunch");
    assert.equal(returned.body, "Shall we meet at noon?\r\n-- \r\nAlice\r\n");
    const text = flat(view.parts[0]!.text!);
    assert.match(text, /<bob@example\.net>/);
    assert.match(text, /mx\.example\.net said: 550 5\.1\.1 <bob@example\.net>: no such user/);
    assert.match(text, /0ABCDEFGH12300/);
    assert.match(text, /then your message as it was/);

    const email = await postal(dsn);
    assert.deepEqual(email.from, { name: "Mail Delivery System", address: "MAILER-DAEMON@mx.petrel.test" });
    assert.equal(email.subject, view.headers["Subject"]);
    assert.match(email.text ?? "", /no such user/);
    assert.deepEqual(
      email.attachments.map((attachment) => attachment.mimeType),
      ["message/delivery-status", "message/rfc822"],
    );
    assert.equal(attachmentText(email.attachments[1]!.content), asPostalSees(message));
    assert.ok(partBytes(dsn, 2).equals(message), "the original comes back byte for byte");
  });

  it("keeps the original's 8-bit bytes as they are and says so in the envelope parameters", () => {
    const latin = Buffer.concat([headers, Buffer.from("\r\nCaf\xe9 at noon?\r\n", "latin1")]);
    const dsn = compose({ original: { headers, message: latin } });
    assert.ok(dsn.message.includes(latin), "not re-encoded");
    assert.deepEqual(dsn.senderParameters, { body: "8BITMIME" });
    const view = python(dsn);
    assert.equal(view.headers["Content-Transfer-Encoding"], "8bit");
    assert.equal(view.parts[2]!.cte, "8bit");
    assert.equal(view.parts[0]!.cte, "7bit");
  });

  it("returns only the header section under RET=HDRS, even when the caller passed the message", () => {
    const dsn = compose({ ret: "HDRS" });
    assert.equal(dsn.message.includes("Shall we meet"), false);
    const view = python(dsn);
    assert.equal(view.parts[2]!.type, "text/rfc822-headers");
    assert.equal(view.parts[2]!.text, headers.toString());
    assert.ok(partBytes(dsn, 2).equals(headers));
    assert.match(flat(view.parts[0]!.text!), /then the header of your message/);
  });

  it("returns the header section of an original too large to return (returnsFullMessage said no)", async () => {
    assert.equal(returnsFullMessage("FULL", 5000, 1000), false);
    const dsn = compose({ ret: "FULL", original: { headers } });
    const view = python(dsn);
    assert.equal(view.parts[2]!.type, "text/rfc822-headers");
    const email = await postal(dsn);
    assert.equal(attachmentText(email.attachments[1]!.content), asPostalSees(headers));
  });

  it("falls back to the header section, then to nothing, when the original cannot travel unchanged", () => {
    const bareLf = Buffer.concat([headers, Buffer.from("\r\nline one\nline two\r\n")]);
    const view = python(compose({ original: { headers, message: bareLf } }));
    assert.equal(view.parts[2]!.type, "text/rfc822-headers");

    const longLine = Buffer.concat([headers, Buffer.from(`\r\n${"x".repeat(1200)}\r\n`)]);
    assert.equal(python(compose({ original: { headers, message: longLine } })).parts[2]!.type, "text/rfc822-headers");

    const brokenHeaders = Buffer.from("Subject: one\nFrom: a@example.org\r\n");
    const none = python(compose({ original: { headers: brokenHeaders, message: Buffer.concat([brokenHeaders, Buffer.from("\r\nhi\r\n")]) } }));
    assert.deepEqual(
      none.parts.map((part) => part.type),
      ["text/plain", "message/delivery-status"],
    );
    assert.match(flat(none.parts[0]!.text!), /not attached/);
  });
});

describe("composeDsn: ENVID and ORCPT", () => {
  it("writes Original-Envelope-Id first and Original-Recipient before Final-Recipient when given", () => {
    const dsn = compose({
      envid: "QQ314159",
      recipients: [{ ...bounced, orcpt: { type: "rfc822", address: "Bob@Example.NET" } }],
    });
    const [perMessage, perRecipient] = python(dsn).parts[1]!.blocks!;
    assert.equal(Object.keys(perMessage!)[0], "Original-Envelope-Id");
    assert.equal(perMessage!["Original-Envelope-Id"], "QQ314159");
    assert.deepEqual(Object.keys(perRecipient!).slice(0, 2), ["Original-Recipient", "Final-Recipient"]);
    assert.equal(perRecipient!["Original-Recipient"], "rfc822; Bob@Example.NET");
    assert.match(flat(python(dsn).parts[0]!.text!), /<bob@example\.net> \(sent to <Bob@Example\.NET>\)/);
  });

  it("leaves both out when the envelope had neither", () => {
    const [perMessage, perRecipient] = python(compose()).parts[1]!.blocks!;
    assert.equal("Original-Envelope-Id" in perMessage!, false);
    assert.equal("Original-Recipient" in perRecipient!, false);
  });

  it("writes a utf-8 ORCPT as utf-8-addr-xtext in the ASCII report (RFC 6533 §3)", () => {
    const dsn = compose({ recipients: [{ ...bounced, orcpt: { type: "utf-8", address: "bob+lunch=1@example.net" } }] });
    const [, perRecipient] = python(dsn).parts[1]!.blocks!;
    assert.equal(perRecipient!["Original-Recipient"], "utf-8; bob\\x{2B}lunch\\x{3D}1@example.net");
  });

  it("keeps the ENVID's case and leaves no control character in it", () => {
    const [perMessage] = python(compose({ envid: "AbC\r\nReporting-MTA: dns; evil" })).parts[1]!.blocks!;
    assert.equal(perMessage!["Original-Envelope-Id"], "AbC Reporting-MTA: dns; evil");
    assert.equal(perMessage!["Reporting-MTA"], "dns; mx.petrel.test");
  });
});

describe("composeDsn: several recipients", () => {
  it("reports failures with the deliveries of the same run, one block each, in order", async () => {
    const recipients: DsnRecipient[] = [
      bounced,
      { address: "carol@example.net", action: "delivered", status: "2.0.0", diagnostic: "250 2.0.0 Ok: queued", remote: "mx.example.net" },
      { address: "dave@example.com", action: "failed", status: "5.4.7", diagnostic: "delivery time expired after 5 days" },
      { address: "erin@example.com", action: "relayed", status: "2.0.0", remote: "old.example.com" },
    ];
    const dsn = compose({ recipients });
    const view = python(dsn);
    assert.match(view.headers["Subject"]!, /^Undeliverable: /);
    const blocks = view.parts[1]!.blocks!.slice(1);
    assert.deepEqual(
      blocks.map((block) => [block["Final-Recipient"], block["Action"], block["Status"]]),
      [
        ["rfc822; bob@example.net", "failed", "5.1.1"],
        ["rfc822; carol@example.net", "delivered", "2.0.0"],
        ["rfc822; dave@example.com", "failed", "5.4.7"],
        ["rfc822; erin@example.com", "relayed", "2.0.0"],
      ],
    );
    assert.equal(blocks[2]!["Diagnostic-Code"], "X-Petrel; delivery time expired after 5 days", "Petrel's own words are not an SMTP reply");
    assert.equal("Remote-MTA" in blocks[2]!, false);
    const text = view.parts[0]!.text!;
    assert.match(flat(text), /could not be delivered to 2 recipients/);
    assert.ok(text.indexOf("<dave@example.com>") < text.indexOf("Delivered:"), "failures come first");
    assert.match(text, /Delivered:\r?\n\r?\n {2}<carol@example\.net>/);
    assert.match(text, /sends no delivery notices[\s\S]*<erin@example\.com>/);
    assert.equal((await postal(dsn)).attachments.length, 2);
  });
});

describe("composeDsn: a delay warning", () => {
  it("says Will-Retry-Until, and returns the header section only", () => {
    const until = new Date("2026-01-07T03:04:05Z");
    const delayed: DsnRecipient[] = ["bob@example.net", "carol@example.net"].map((address) => ({
      address,
      action: "delayed",
      status: "4.4.1",
      diagnostic: "connection refused",
      remote: "mx.example.net",
      lastAttemptAt: new Date("2026-01-03T09:55:00Z"),
      willRetryUntil: until,
    }));
    const view = python(compose({ recipients: delayed }));
    assert.match(view.headers["Subject"]!, /^Delayed: /);
    assert.equal(view.parts[2]!.type, "text/rfc822-headers", "no full message in a warning");
    const blocks = view.parts[1]!.blocks!.slice(1);
    assert.equal(blocks.length, 2);
    for (const block of blocks) {
      assert.equal(block["Action"], "delayed");
      assert.equal(block["Status"], "4.4.1");
      assert.equal(block["Diagnostic-Code"], "X-Petrel; connection refused");
    }
    assert.equal(view.dates["Will-Retry-Until"], seconds(until));
    const text = flat(view.parts[0]!.text!);
    assert.match(text, /not been delivered yet/);
    assert.match(text, /still being tried/);
    assert.match(text, /Attempts go on until/);
    assert.match(text, /connection refused \(mx\.example\.net\)/, "Petrel's own words are not put in the remote's mouth");
  });
});

describe("composeDsn: a success notice", () => {
  it("reports delivered recipients, with no Will-Retry-Until and no full message", () => {
    const view = python(
      compose({
        recipients: [{ address: "bob@example.net", action: "delivered", status: "2.0.0", willRetryUntil: now, remote: "mx.example.net" }],
      }),
    );
    assert.match(view.headers["Subject"]!, /^Delivered: /);
    const [, block] = view.parts[1]!.blocks!;
    assert.equal(block!["Action"], "delivered");
    assert.equal(block!["Status"], "2.0.0");
    assert.equal("Will-Retry-Until" in block!, false);
    assert.equal("Diagnostic-Code" in block!, false);
    assert.equal(view.parts[2]!.type, "text/rfc822-headers");
    assert.match(view.parts[0]!.text!, /status 2\.0\.0/);
  });
});

describe("composeDsn: refusals", () => {
  it("never writes to the null sender", () => {
    assert.throws(() => composeDsn(request({ sender: "" })), { name: "TypeError", message: /null sender/ });
  });

  it("refuses a report on no recipient, an unknown action and a malformed status", () => {
    assert.throws(() => composeDsn(request({ recipients: [] })), /at least one recipient/);
    const badAction = { ...bounced, action: "bounced" } as unknown as DsnRecipient;
    assert.throws(() => composeDsn(request({ recipients: [badAction] })), /action "bounced"/);
    assert.throws(() => composeDsn(request({ recipients: [{ ...bounced, status: "550" }] })), /status "550"/);
  });

  it("refuses a sender with a line break in it", () => {
    assert.throws(() => composeDsn(request({ sender: "alice@example.org\r\nBcc: x@example.com" })), /control characters/);
  });
});

describe("composeDsn: internationalized reports (RFC 6533)", () => {
  const utf8Headers = Buffer.from("From: Jörg <jörg@bücher.example>\r\nTo: δοκιμή@παράδειγμα.δοκιμή\r\nSubject: Grüße\r\n");
  const utf8Message = Buffer.concat([utf8Headers, Buffer.from("\r\nHallo!\r\n")]);
  const greek = "δοκιμή@παράδειγμα.δοκιμή";

  it("uses message/global-delivery-status and message/global when the original used SMTPUTF8", async () => {
    const dsn = compose({
      sender: "jörg@bücher.example",
      smtputf8: true,
      recipients: [{ ...bounced, address: greek, orcpt: { type: "utf-8", address: greek }, diagnostic: `550 5.1.1 <${greek}>: unknown` }],
      original: { headers: utf8Headers, message: utf8Message },
    });
    assert.deepEqual(dsn.senderParameters, { body: "8BITMIME", smtputf8: true });
    const view = python(dsn);
    assert.deepEqual(view.to, ["jörg@bücher.example"]);
    assert.deepEqual(
      view.parts.map((part) => part.type),
      ["text/plain", "message/global-delivery-status", "message/global"],
    );
    assert.equal(view.parts[0]!.charset, "utf-8");
    const [perMessage, perRecipient] = view.parts[1]!.blocks!;
    assert.equal(perMessage!["Reporting-MTA"], "dns; mx.petrel.test");
    assert.equal(perRecipient!["Original-Recipient"], `utf-8; ${greek}`);
    assert.equal(perRecipient!["Final-Recipient"], `utf-8; ${greek}`);
    assert.equal(perRecipient!["Diagnostic-Code"], `smtp; 550 5.1.1 <${greek}>: unknown`);
    assert.equal(view.parts[2]!.inner!.headers["Subject"], "Grüße");
    assert.match(view.parts[0]!.text!, new RegExp(`<${greek}>`));

    const email = await postal(dsn);
    assert.equal(email.to?.[0]?.address, "jörg@bücher.example");
    assert.deepEqual(
      email.attachments.map((attachment) => attachment.mimeType),
      ["message/global-delivery-status", "message/global"],
    );
    assert.equal(attachmentText(email.attachments[1]!.content), asPostalSees(utf8Message));
    assert.ok(partBytes(dsn, 2).equals(utf8Message));
  });

  it("goes global for a UTF-8 address even without the flag, with message/global-headers when headers only", () => {
    const dsn = compose({ recipients: [{ ...bounced, address: greek }], ret: "HDRS", original: { headers: utf8Headers } });
    assert.deepEqual(dsn.senderParameters, { body: "8BITMIME" }, "an ASCII sender needs no SMTPUTF8");
    const view = python(dsn);
    assert.deepEqual(
      view.parts.map((part) => part.type),
      ["text/plain", "message/global-delivery-status", "message/global-headers"],
    );
    assert.equal(view.parts[1]!.blocks![1]!["Final-Recipient"], `utf-8; ${greek}`);
    assert.equal(view.parts[2]!.inner!.headers["From"], "Jörg <jörg@bücher.example>");
  });

  it("keeps the ASCII report ASCII when only a remote's reply has UTF-8 in it", () => {
    const dsn = compose({ recipients: [{ ...bounced, diagnostic: "550 5.1.1 Empfänger unbekannt" }] });
    const view = python(dsn);
    assert.equal(view.parts[1]!.type, "message/delivery-status");
    assert.equal(view.parts[1]!.cte, "7bit");
    assert.equal(view.parts[1]!.blocks![1]!["Diagnostic-Code"], "smtp; 550 5.1.1 Empf?nger unbekannt");
    assert.equal(view.parts[0]!.charset, "utf-8");
    assert.match(view.parts[0]!.text!, /Empfänger unbekannt/);
  });
});

describe("composeDsn: what a remote may send", () => {
  it("never lets CR, LF or control characters in a diagnostic add a field, a block or a part", async () => {
    const hostile =
      "550 5.1.1 no\r\nAction: delivered\r\n\r\nFinal-Recipient: rfc822; evil@example.com\n" +
      "\r--=_petrel_report_\x00\x1b[31m\x07\x0b\x0c\x85\u2028\u2029end\ttab";
    const dsn = compose({ recipients: [{ ...bounced, diagnostic: hostile, remote: "mx\r\nX-Evil: 1" }] });
    const view = python(dsn);
    assert.equal(view.parts.length, 3);
    assert.equal("X-Evil" in view.headers, false);
    const blocks = view.parts[1]!.blocks!;
    assert.equal(blocks.length, 2, "one per-message block, one recipient block");
    assert.equal(blocks[1]!["Action"], "failed");
    assert.equal(blocks[1]!["Final-Recipient"], "rfc822; bob@example.net");
    assert.equal(blocks[1]!["Remote-MTA"], "dns; mx X-Evil: 1");
    assert.equal(
      blocks[1]!["Diagnostic-Code"],
      "smtp; 550 5.1.1 no Action: delivered Final-Recipient: rfc822; evil@example.com --=_petrel_report_??[31m? end tab",
    );
    for (const line of view.parts[0]!.text!.split(/\r?\n/)) {
      assert.doesNotMatch(line, /^(Action|Final-Recipient):/);
    }
    const email = await postal(dsn);
    assert.deepEqual(
      email.attachments.map((attachment) => attachment.mimeType),
      ["message/delivery-status", "message/rfc822"],
    );
  });

  it("folds a long diagnostic at white space, and Python unfolds it to the same words", () => {
    const words = Array.from({ length: 400 }, (_, i) => `word${i}`).join(" ");
    const diagnostic = `550-5.7.1 ${words}`;
    const dsn = compose({ recipients: [{ ...bounced, diagnostic }] });
    const raw = dsn.message.toString("utf8");
    const start = raw.indexOf("Diagnostic-Code:");
    const folded = raw.slice(start, raw.indexOf("\r\nLast-Attempt-Date:", start)).split("\r\n");
    assert.ok(folded.length > 20, "folded over many lines");
    for (const line of folded) assert.ok(line.length <= 78, `line of ${line.length}: ${line}`);
    assert.equal(python(dsn).parts[1]!.blocks![1]!["Diagnostic-Code"], `smtp; ${diagnostic}`);
  });

  it("cuts a word longer than a line can hold, so no line passes 998 octets", () => {
    const word = "x".repeat(2500);
    const dsn = compose({ recipients: [{ ...bounced, diagnostic: `550 ${word}`, remote: "é".repeat(700) }] });
    const block = python(dsn).parts[1]!.blocks![1]!;
    assert.equal(block["Diagnostic-Code"]!.replaceAll(" ", ""), `smtp;550${word}`, "nothing lost but a space per cut");
    assert.equal(block["Remote-MTA"], `dns; ${"?".repeat(700)}`);
  });
});

describe("composeDsn: uniqueness", () => {
  it("gives each report its own Message-ID and a boundary found in none of its parts", () => {
    const first = compose();
    const second = compose();
    const id = (dsn: Dsn) => /\r\nMessage-ID: (<[^>]+>)\r\n/.exec(dsn.message.toString())?.[1];
    assert.ok(id(first) !== undefined && id(first) !== id(second));
    const boundary = /boundary="([^"]+)"/.exec(first.message.toString())?.[1];
    assert.ok(boundary !== undefined);
    assert.equal(first.message.toString().split(`--${boundary}`).length, 5, "three parts: four delimiters, the last one closing");
    assert.equal(message.includes(boundary), false);
  });
});

describe("dsnDue", () => {
  const cases: [Parameters<typeof dsnDue>[0], Record<string, boolean>][] = [
    [undefined, { failed: true, delayed: true, delivered: false, relayed: false, expanded: false }],
    ["NEVER", { failed: false, delayed: false, delivered: false, relayed: false, expanded: false }],
    [["FAILURE"], { failed: true, delayed: false, delivered: false, relayed: false, expanded: false }],
    [["DELAY"], { failed: false, delayed: true, delivered: false, relayed: false, expanded: false }],
    [["SUCCESS"], { failed: false, delayed: false, delivered: true, relayed: true, expanded: true }],
    [["SUCCESS", "FAILURE"], { failed: true, delayed: false, delivered: true, relayed: true, expanded: true }],
    [["FAILURE", "DELAY"], { failed: true, delayed: true, delivered: false, relayed: false, expanded: false }],
    [["DELAY", "SUCCESS", "FAILURE"], { failed: true, delayed: true, delivered: true, relayed: true, expanded: true }],
  ];
  for (const [notify, expected] of cases) {
    it(`NOTIFY=${notify === undefined ? "(none)" : notify.toString()}`, () => {
      const actual = Object.fromEntries(Object.keys(expected).map((action) => [action, dsnDue(notify, action as DsnRecipient["action"])]));
      assert.deepEqual(actual, expected);
    });
  }
});

describe("returnsFullMessage", () => {
  it("never under RET=HDRS; under RET=FULL or none, up to the limit included", () => {
    assert.equal(returnsFullMessage("HDRS", 10, 1000), false);
    assert.equal(returnsFullMessage("FULL", 1000, 1000), true);
    assert.equal(returnsFullMessage("FULL", 1001, 1000), false);
    assert.equal(returnsFullMessage(undefined, 999, 1000), true);
    assert.equal(returnsFullMessage(undefined, 1001, 1000), false);
  });
});
