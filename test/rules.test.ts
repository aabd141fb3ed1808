// Rules over the wire: a Petrel process with test/fixtures/rules/verdicts.ts, and clients (raw sockets from
// other 127.0.0.x addresses, swaks) that make each rule give each verdict at each stage. Each test checks the
// reply, whether the session goes on, what the spool holds, and the log line naming the rule.

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { Petrel } from "./support/petrel-process.ts";
import { queueIdOf, RawClient } from "./support/smtp-client.ts";

const run = promisify(execFile);
const RULES = new URL("./fixtures/rules/verdicts.ts", import.meta.url).pathname;

let petrel: Petrel;

before(async () => {
  petrel = await Petrel.start({
    toml: `[rules]\nfiles = ["${RULES}"]\ntimeout = "1s"\n[smtp]\nlocal_domains = ["localhost", "petrel.test"]`,
  });
});
after(() => petrel.remove());

async function from(address: string): Promise<RawClient> {
  return RawClient.open(petrel.port, "127.0.0.1", address);
}

async function greeted(helo = "client.example"): Promise<RawClient> {
  const client = await from("127.0.0.1");
  assert.equal((await client.read())?.code, 220);
  assert.equal((await client.command(`EHLO ${helo}`))?.code, 250);
  return client;
}

function ruleLine(stage: string, verdict: string) {
  return petrel.waitFor((line) => line["event"] === "rule-verdict" && line["stage"] === stage && line["verdict"] === verdict);
}

test("connect: deny and reject answer 554 and close; tempfail 421 and close; faccept greets", async () => {
  for (const [address, code, text] of [
    ["127.0.0.2", 554, "554 5.7.1 you are not welcome here"],
    ["127.0.0.3", 554, "554 5.7.1 access denied"],
    ["127.0.0.4", 421, "421 4.7.0 busy, come back later"],
  ] as const) {
    const client = await from(address);
    const greeting = await client.read();
    assert.equal(greeting?.code, code, address);
    assert.equal(greeting?.text, text);
    assert.equal(await client.read(), null, "the server closed the connection");
  }
  const line = await ruleLine("connect", "deny");
  assert.equal(line["rule"], "byClientAddress");
  assert.equal(line["file"], RULES);
  const trusted = await from("127.0.0.7");
  assert.equal((await trusted.read())?.code, 220);
  assert.equal((await trusted.command("EHLO deny.example"))?.code, 250, "faccept at connect: no rule runs again");
  trusted.close();
});

test("connect: a rule that throws or hangs fails closed with 421 4.3.0 and a log line naming it", async () => {
  for (const address of ["127.0.0.5", "127.0.0.6"]) {
    const client = await from(address);
    const greeting = await client.read();
    assert.match(greeting?.text ?? "", /^421 4\.3\.0 /, address);
    assert.equal(await client.read(), null);
  }
  const thrown = await petrel.waitFor((line) => line["event"] === "rule-failed" && /connect rule broke/.test(String(line["error"])));
  assert.equal(thrown["rule"], "byClientAddress");
  assert.equal(thrown["stage"], "connect");
  await petrel.waitFor((line) => line["event"] === "rule-failed" && /TimeoutError: no verdict within 1000 ms/.test(String(line["error"])));
});

test("connect: a client that talks while the connect rules run is an early talker: 554 5.5.1, closed", async () => {
  const client = await from("127.0.0.6"); // its connect rule hangs until rules.timeout
  client.write("EHLO eager.example\r\n");
  const refusal = await client.read();
  assert.match(refusal?.text ?? "", /^554 5\.5\.1 /);
  assert.equal(await client.read(), null);
  await petrel.waitFor((line) => line["event"] === "early-talker");
});

test("helo: reject refuses the name and the client may greet again; deny closes; a non-verdict fails closed", async () => {
  const client = await from("127.0.0.1");
  await client.read();
  assert.equal((await client.command("EHLO reject.example"))?.text, "550 5.7.1 say another name");
  assert.equal((await client.command("MAIL FROM:<a@petrel.test>"))?.code, 503, "not greeted");
  assert.equal((await client.command("EHLO tempfail.example"))?.text, "451 4.7.1 try again later");
  assert.match((await client.command("EHLO bogus.example"))?.text ?? "", /^451 4\.3\.0/);
  await petrel.waitFor((line) => line["event"] === "rule-failed" && /returned string yes, not a verdict/.test(String(line["error"])));
  assert.match((await client.command("EHLO throw.example"))?.text ?? "", /^451 4\.3\.0/);
  assert.equal((await client.command("EHLO fine.example"))?.code, 250);
  assert.equal((await client.command("EHLO deny.example"))?.text, "550 5.7.1 go away");
  assert.equal(await client.read(), null, "deny before DATA ends the session");
});

test("mail: reject and tempfail refuse the command, deny closes, delegate fails closed until services exist", async () => {
  const client = await greeted();
  assert.equal((await client.command("MAIL FROM:<reject@petrel.test>"))?.text, "550 5.7.1 not from you");
  assert.equal((await client.command("MAIL FROM:<tempfail@petrel.test>"))?.text, "452 4.3.1 not now");
  assert.match((await client.command("MAIL FROM:<delegate@petrel.test>"))?.text ?? "", /^451 4\.3\.0/);
  assert.equal((await client.command("MAIL FROM:<ok@petrel.test>"))?.code, 250, "each refusal left no transaction");
  assert.equal((await client.command("RSET"))?.code, 250);
  assert.equal((await client.command("MAIL FROM:<deny@petrel.test>"))?.text, "550 5.7.1 sender refused by policy");
  assert.equal(await client.read(), null);
  await petrel.waitFor((line) => line["event"] === "rule-failed" && /delegate\(policy-server\)/.test(String(line["error"])));
});

test("mail: a rule past rules.timeout fails closed with 451 4.3.0; the session goes on", async () => {
  const client = await greeted();
  const started = Date.now();
  assert.match((await client.command("MAIL FROM:<slow@petrel.test>"))?.text ?? "", /^451 4\.3\.0/);
  assert.ok(Date.now() - started < 5000, "the deadline (1 s) cut it short");
  assert.equal((await client.command("MAIL FROM:<ok@petrel.test>"))?.code, 250);
  client.close();
});

test("mail: the sender rewritten by a rule is the one queued; quarantine keeps the message in quarantine/", async () => {
  const client = await greeted();
  const rewritten = queueIdOf(await client.sendMail("rewrite@petrel.test", ["postmaster@localhost"], "Subject: r\r\n\r\nx\r\n"));
  assert.equal((await petrel.spooled(rewritten)).envelope.sender, "rewritten@petrel.test");
  const quarantined = queueIdOf(await client.sendMail("quarantine@petrel.test", ["postmaster@localhost"], "Subject: q\r\n\r\nx\r\n"));
  assert.deepEqual(await readdir(join(petrel.spool, "quarantine")), [quarantined]);
  assert.ok(!(await readdir(join(petrel.spool, "incoming"))).includes(quarantined));
  const discarded = queueIdOf(await client.sendMail("discard@petrel.test", ["postmaster@localhost"], "Subject: d\r\n\r\nx\r\n"));
  assert.ok(!(await readdir(join(petrel.spool, "incoming"))).includes(discarded), "discarded: answered as queued, kept nowhere");
  assert.ok(!(await readdir(join(petrel.spool, "body"))).includes(discarded));
  client.close();
  await petrel.waitFor((line) => line["event"] === "discarded" && line["queueId"] === discarded);
});

test("rcpt: reject refuses one recipient, accept skips the relay control, routes and BCC are stored per recipient", async () => {
  const client = await greeted();
  assert.equal((await client.command("MAIL FROM:<someone@elsewhere.example>"))?.code, 250);
  assert.equal((await client.command("RCPT TO:<reject@localhost>"))?.text, "550 5.1.1 no such mailbox");
  assert.equal((await client.command("RCPT TO:<tempfail@localhost>"))?.text, "451 4.7.1 try again later");
  assert.equal((await client.command("RCPT TO:<friend@elsewhere.example>"))?.text, "550 5.7.1 relay access denied");
  assert.equal((await client.command("RCPT TO:<accept@elsewhere.example>"))?.code, 250, "accept: the rule vouches for it");
  assert.equal((await client.command("RCPT TO:<maildir@localhost>"))?.code, 250);
  assert.equal((await client.command("RCPT TO:<relay@petrel.test>"))?.code, 250);
  assert.equal((await client.command("RCPT TO:<relay-unverified@petrel.test>"))?.code, 250);
  assert.equal((await client.command("RCPT TO:<bcc@localhost>"))?.code, 250);
  assert.equal((await client.command("RCPT TO:<rewrite@localhost>"))?.code, 250);
  assert.match((await client.command("RCPT TO:<badroute@localhost>"))?.text ?? "", /^451 4\.3\.0/, "credentials in a URL are an error");
  assert.match((await client.command("RCPT TO:<portzero@localhost>"))?.text ?? "", /^451 4\.3\.0/, "so is a port delivery could not use");
  assert.equal((await client.command("DATA"))?.code, 354);
  const id = queueIdOf(await client.command("Subject: routes\r\n\r\nx\r\n."));
  const { recipients } = (await petrel.spooled(id)).envelope;
  assert.deepEqual(
    recipients.map((recipient) => [recipient.address, recipient.route]),
    [
      ["accept@elsewhere.example", undefined],
      ["maildir@localhost", { kind: "maildir", path: "/var/mail/maildir" }],
      ["relay@petrel.test", { kind: "relay", url: "smtp://smarthost.petrel.test:587", tls: "starttls", credentials: "smarthost" }],
      ["relay-unverified@petrel.test", { kind: "relay", url: "smtp://lab.petrel.test:25", tls: "starttls", verify: false }],
      ["archive@localhost", { kind: "mbox", path: "/var/mail/archive" }],
      ["bcc@localhost", undefined],
      ["rewritten@localhost", undefined],
    ],
  );
  await petrel.waitFor((line) => line["event"] === "rule-failed" && /credentials do not belong in the URL/.test(String(line["error"])));
  await petrel.waitFor((line) => line["event"] === "rule-failed" && /relay route: smtp:\/\/smarthost\.petrel\.test:0: expected scheme:\/\/host\[:port\]/.test(String(line["error"])));
  client.close();
});

test("rcpt: deny ends the session; swaks sees the refusal", async () => {
  const result = await run("swaks", ["--server", `127.0.0.1:${petrel.port}`, "--from", "a@petrel.test", "--to", "deny@localhost"]).catch(
    (error: { stdout: string }) => error,
  );
  assert.match(result.stdout, /<\*\* 550 5\.7\.1 recipient refused by policy/);
});

test("helo: accept and faccept answer 250; after faccept no rule runs in the session; quarantine there fails closed", async () => {
  const client = await from("127.0.0.1");
  await client.read();
  assert.match((await client.command("EHLO quarantine.example"))?.text ?? "", /^451 4\.3\.0/);
  await petrel.waitFor((line) => line["event"] === "rule-failed" && /quarantine is for messages: not at helo/.test(String(line["error"])));
  assert.equal((await client.command("EHLO accept.example"))?.code, 250);
  assert.equal((await client.command("MAIL FROM:<reject@petrel.test>"))?.code, 550, "accept ends only the helo stage");
  assert.equal((await client.command("EHLO faccept.example"))?.code, 250);
  assert.equal((await client.command("MAIL FROM:<reject@petrel.test>"))?.code, 250, "faccept: the mail rules do not run");
  assert.equal((await client.command("RCPT TO:<deny@localhost>"))?.code, 250, "nor the rcpt rules");
  client.close();
});

test("rcpt: quarantine and discard apply to the whole message; faccept skips the rules of the rest of the transaction", async () => {
  const client = await greeted();
  assert.equal((await client.command("MAIL FROM:<a@petrel.test>"))?.code, 250);
  assert.equal((await client.command("RCPT TO:<plain@localhost>"))?.code, 250);
  assert.equal((await client.command("RCPT TO:<quarantine@localhost>"))?.code, 250);
  assert.equal((await client.command("DATA"))?.code, 354);
  const held = queueIdOf(await client.command("Subject: q\r\n\r\nx\r\n."));
  assert.equal(JSON.parse(await readFile(join(petrel.spool, "quarantine", held), "utf8")).quarantine, "by-recipient");
  assert.equal((await client.command("MAIL FROM:<a@petrel.test>"))?.code, 250);
  assert.equal((await client.command("RCPT TO:<discard@localhost>"))?.code, 250);
  assert.equal((await client.command("DATA"))?.code, 354);
  const dropped = queueIdOf(await client.command("Subject: d\r\n\r\nx\r\n."));
  await petrel.waitFor((line) => line["event"] === "discarded" && line["queueId"] === dropped);
  assert.equal((await client.command("MAIL FROM:<a@petrel.test>"))?.code, 250);
  assert.equal((await client.command("RCPT TO:<faccept@localhost>"))?.code, 250);
  assert.equal((await client.command("RCPT TO:<deny@localhost>"))?.code, 250, "no rule runs again in this transaction");
  assert.equal((await client.command("RSET"))?.code, 250);
  assert.equal((await client.command("MAIL FROM:<a@petrel.test>"))?.code, 250);
  assert.equal((await client.command("RCPT TO:<reject@localhost>"))?.code, 550, "the next transaction has its rules again");
  client.close();
});

test("mail: after a faccept the rules are skipped but the built-in policy of later stages still holds (no open relay)", async () => {
  const client = await greeted();
  assert.equal((await client.command("MAIL FROM:<faccept@petrel.test>"))?.code, 250);
  assert.equal((await client.command("RCPT TO:<deny@localhost>"))?.code, 250, "no rcpt rule ran");
  assert.equal((await client.command("RCPT TO:<friend@elsewhere.example>"))?.text, "550 5.7.1 relay access denied");
  client.close();
});
