// Local delivery by LMTP end to end: a Petrel with delivery.local_transport = "lmtp" hands mail for its local
// domain to Dovecot's LMTP server (test/support/dovecot.ts: unprivileged, on a loopback port and a Unix socket).
// One message for a known and an unknown recipient: Dovecot answers each one on its own after the data (RFC 2033),
// the known one is delivered (read back from its Maildir with doveadm), the unknown one fails with Dovecot's
// 550 5.1.1, and the DSN for it goes back to the sender, itself a Dovecot user, through LMTP as well. Under
// NOTIFY=SUCCESS the notice says "delivered": an LMTP server makes the final delivery, it relays nothing.

import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { Dovecot, DOVECOT_LMTP_MISSING, DovecotLmtp } from "./support/dovecot.ts";
import { type LogLine, Petrel } from "./support/petrel-process.ts";
import { queueIdOf, RawClient } from "./support/smtp-client.ts";

const skip = DOVECOT_LMTP_MISSING ?? false;

const USERS = ["alice@petrel.test", "bob@petrel.test", "carol@petrel.test"];

async function lmtpPetrel(t: TestContext, lmtp: string): Promise<Petrel> {
  const petrel = await Petrel.start({
    toml: [
      `[smtp]\nlocal_domains = ["petrel.test"]\nrelay_networks = ["127.0.0.0/8"]`,
      `[delivery]\nlocal_transport = "lmtp"\nlmtp = "${lmtp}"\nretry_min = "1s"\nretry_max = "2s"`,
    ].join("\n"),
  });
  t.after(() => petrel.remove());
  return petrel;
}

async function send(petrel: Petrel, sender: string, recipients: readonly string[], content: string): Promise<string> {
  const client = await RawClient.greeted(petrel.port, { ehlo: "client.example" });
  const id = queueIdOf(await client.sendMail(sender, recipients, content));
  await client.command("QUIT");
  client.close();
  return id;
}

/** The first attempt's log line for a recipient, checked to have `result`. */
async function firstAttempt(petrel: Petrel, id: string, recipient: string, result: string): Promise<LogLine> {
  const line = await petrel.waitFor((entry) => entry["event"] === "delivery" && entry["queueId"] === id && entry["recipient"] === recipient);
  assert.equal(line["result"], result, `${recipient}: ${String(line["reply"])}`);
  return line;
}

/** The messages of a Dovecot user's INBOX, read with doveadm, once there are `count`. */
async function inbox(reader: Dovecot, lmtp: DovecotLmtp, address: string, count: number): Promise<string[]> {
  for (;;) {
    const messages = await reader.messages(Dovecot.maildir(lmtp.maildir(address))).catch(() => [] as Buffer[]);
    if (messages.length >= count) return messages.map((message) => message.toString("latin1"));
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

test("LMTP over TCP: Dovecot takes one recipient and refuses the unknown one (550 5.1.1): a DSN goes to the sender", { skip }, async (t) => {
  const lmtp = await DovecotLmtp.start(t, USERS);
  const reader = await Dovecot.start(t);
  const petrel = await lmtpPetrel(t, `lmtp://127.0.0.1:${lmtp.port}`);
  const content = "Subject: by LMTP\r\nMessage-ID: <lmtp-1@petrel.test>\r\n\r\n..a line that starts with a dot\r\nbye\r\n";
  const id = await send(petrel, "alice@petrel.test", ["bob@petrel.test", "nobody@petrel.test"], content);

  const delivered = await firstAttempt(petrel, id, "bob@petrel.test", "delivered");
  assert.equal(delivered["route"], `lmtp://127.0.0.1:${lmtp.port}`);
  assert.match(String(delivered["reply"]), /^250 2\.0\.0 <bob@petrel\.test> .*Saved/);
  const refused = await firstAttempt(petrel, id, "nobody@petrel.test", "failed");
  assert.equal(refused["status"], "5.1.1");
  assert.match(String(refused["reply"]), /^550 5\.1\.1 <nobody@petrel\.test> User doesn't exist/);

  const [message] = await inbox(reader, lmtp, "bob@petrel.test", 1);
  assert.match(message!, /^Return-Path: <alice@petrel\.test>\r?\n/);
  assert.match(message!, /Message-ID: <lmtp-1@petrel\.test>/);
  assert.match(message!, /\r?\n\.a line that starts with a dot\r?\nbye\r?\n$/, "dot-stuffing undone, body intact");

  const dsn = await petrel.waitFor((line) => line["event"] === "dsn" && line["queueId"] === id);
  assert.equal(dsn["action"], "failed");
  await firstAttempt(petrel, String(dsn["dsn"]), "alice@petrel.test", "delivered");
  const [report] = await inbox(reader, lmtp, "alice@petrel.test", 1);
  assert.match(report!, /^Return-Path: <>\r?\n/);
  assert.match(report!, /multipart\/report; report-type=delivery-status/);
  const status = report!.replace(/\r?\n[ \t]+/g, " ");
  assert.match(status, /Final-Recipient: rfc822; ?nobody@petrel\.test/i);
  assert.doesNotMatch(status, /Final-Recipient: rfc822; ?bob@/i, "only the failed recipient is reported");
  assert.match(status, /Action: failed/);
  assert.match(status, /Status: 5\.1\.1/);
  assert.match(status, /Diagnostic-Code: smtp; ?550 5\.1\.1 <nobody@petrel\.test> User doesn't exist/);
  assert.ok(report!.includes("<lmtp-1@petrel.test>"), "the original comes back");
  assert.equal((await inbox(reader, lmtp, "bob@petrel.test", 1)).length, 1, "bob got it once");
});

test("LMTP over a Unix socket: delivered into the Maildir, the route says unix:", { skip }, async (t) => {
  const lmtp = await DovecotLmtp.start(t, USERS);
  const reader = await Dovecot.start(t);
  const petrel = await lmtpPetrel(t, `unix:${lmtp.socket}`);
  const id = await send(petrel, "someone@remote.example", ["Carol@petrel.test"], "Subject: by socket\r\nMessage-ID: <lmtp-2@petrel.test>\r\n\r\nhello carol\r\n");
  const line = await firstAttempt(petrel, id, "Carol@petrel.test", "delivered");
  assert.equal(line["route"], `unix:${lmtp.socket}`);
  const [message] = await inbox(reader, lmtp, "carol@petrel.test", 1);
  assert.match(message!, /^Return-Path: <someone@remote\.example>\r?\n/);
  assert.match(message!, /Message-ID: <lmtp-2@petrel\.test>/);
  assert.match(message!, /\r?\nhello carol\r?\n$/);
});

test("NOTIFY=SUCCESS: an LMTP delivery is final, the notice says delivered (not relayed)", { skip }, async (t) => {
  const lmtp = await DovecotLmtp.start(t, USERS);
  const reader = await Dovecot.start(t);
  const petrel = await lmtpPetrel(t, `lmtp://127.0.0.1:${lmtp.port}`);
  const client = await RawClient.greeted(petrel.port, { ehlo: "client.example" });
  const replies = await client.batch(["MAIL FROM:<alice@petrel.test> RET=HDRS", "RCPT TO:<bob@petrel.test> NOTIFY=SUCCESS,FAILURE", "DATA"]);
  assert.deepEqual(replies.map((reply) => reply?.code), [250, 250, 354]);
  client.write("Subject: tell me\r\nMessage-ID: <lmtp-3@petrel.test>\r\n\r\nx\r\n.\r\n");
  const id = queueIdOf(await client.read());
  client.close();
  await firstAttempt(petrel, id, "bob@petrel.test", "delivered");
  const dsn = await petrel.waitFor((line) => line["event"] === "dsn" && line["queueId"] === id);
  assert.equal(dsn["action"], "delivered");
  const [notice] = await inbox(reader, lmtp, "alice@petrel.test", 1);
  const status = notice!.replace(/\r?\n[ \t]+/g, " ");
  assert.match(status, /Final-Recipient: rfc822; ?bob@petrel\.test/i);
  assert.match(status, /Action: delivered/);
  assert.match(status, /Status: 2\.0\.0/);
});
