// End-to-end: the per-session limits of a real Petrel process, set small in its configuration: message size
// (SIZE at MAIL, DATA and BDAT bodies), recipients per message, command line length, refused commands, the
// command and data timeouts, the greeting delay against early talkers, relay refusal, and the hop count against
// mail loops. Each limit must
// answer with its enhanced code, leave nothing in the spool, and keep the session usable where it says so.

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { Petrel } from "./support/petrel-process.ts";
import { queueIdOf, RawClient, type ServerReply } from "./support/smtp-client.ts";

const MAX_SIZE = 10_000;

let limited: Petrel; // small size, recipient, line and error limits
let impatient: Petrel; // 1 s command and data timeouts
let delayed: Petrel; // greeting_delay = 500ms

before(async () => {
  [limited, impatient, delayed] = await Promise.all([
    Petrel.start({
      toml: `[smtp]\nmax_message_size = ${MAX_SIZE}\nmax_recipients = 5\nmax_command_length = 512\nmax_errors = 3\nmax_hops = 5`,
    }),
    Petrel.start({ toml: `[smtp.timeouts]\ncommand = "1s"\ndata = "1s"` }),
    Petrel.start({ toml: `[smtp]\ngreeting_delay = "500ms"` }),
  ]);
});

after(async () => {
  await Promise.all([limited.remove(), impatient.remove(), delayed.remove()]);
});

function codes(reply: ServerReply | null): string {
  return reply === null ? "closed" : reply.lines[0]!.split(" ").slice(0, 2).join(" ");
}

/** Every file of the spool's message folders, so a test can prove a refusal left nothing behind. */
async function spoolFiles(petrel: Petrel): Promise<string[]> {
  const folders = ["tmp", "body", "incoming"];
  const listed = await Promise.all(
    folders.map(async (folder) => (await readdir(join(petrel.spool, folder))).map((name) => `${folder}/${name}`)),
  );
  return listed.flat().sort();
}

/** A body of exactly `size` (>= 160) octets in CRLF-ended lines of at most 160 octets. */
function bodyOfSize(size: number): string {
  const line = `${"x".repeat(78)}\r\n`;
  const whole = line.repeat(Math.floor(size / line.length) - 1);
  return `${whole}${"y".repeat(size - whole.length - 2)}\r\n`;
}

test("SIZE at MAIL over max_message_size: 552 5.3.4; at the limit: accepted", async () => {
  const client = await RawClient.greeted(limited.port);
  const ehlo = await client.command("EHLO client.test");
  assert.ok(ehlo!.lines.includes(`250-SIZE ${MAX_SIZE}`), ehlo!.text);
  assert.deepEqual((await client.command(`MAIL FROM:<a@example.org> SIZE=${MAX_SIZE + 1}`))?.lines, [
    "552 5.3.4 message size exceeds fixed maximum message size",
  ]);
  assert.equal(codes(await client.command(`MAIL FROM:<a@example.org> SIZE=${MAX_SIZE}`)), "250 2.1.0");
  client.close();
  const logged = await limited.waitFor((line) => line["event"] === "sender-refused" && line["size"] === MAX_SIZE + 1);
  assert.deepEqual([logged["sender"], logged["limit"]], ["a@example.org", MAX_SIZE]);
});

test("a DATA body over max_message_size: 552 5.3.4 after its end, nothing spooled, the session goes on", async () => {
  const spooled = await spoolFiles(limited);
  const client = await RawClient.greeted(limited.port, { ehlo: "client.test" });
  const tooBig = await client.sendMail("big@example.org", ["big@localhost"], bodyOfSize(MAX_SIZE + 1));
  assert.deepEqual(tooBig?.lines, ["552 5.3.4 message size exceeds fixed maximum message size"]);
  assert.deepEqual(await spoolFiles(limited), spooled);

  const atLimit = await client.sendMail("big@example.org", ["big@localhost"], bodyOfSize(MAX_SIZE));
  assert.equal((await limited.spooled(queueIdOf(atLimit))).content.length, MAX_SIZE);
  assert.equal(codes(await client.command("QUIT")), "221 2.0.0");
  const refused = await limited.waitFor((line) => line.msg === "message refused" && line["reason"] === "too-big");
  assert.equal(refused["event"], "refused");
  assert.deepEqual([refused["size"], refused["limit"]], [MAX_SIZE + 1, MAX_SIZE], "the octets that came, and the limit");
});

test("BDAT chunks over max_message_size: 552 5.3.4 at LAST, octets read, nothing spooled, the session goes on", async () => {
  const spooled = await spoolFiles(limited);
  const client = await RawClient.greeted(limited.port, { ehlo: "client.test" });
  assert.equal(codes(await client.command("MAIL FROM:<chunks@example.org>")), "250 2.1.0");
  assert.equal(codes(await client.command("RCPT TO:<chunks@localhost>")), "250 2.1.5");
  const half = "z".repeat(6000);
  client.write(`BDAT ${half.length}\r\n${half}`);
  assert.equal(codes(await client.read()), "250 2.0.0");
  client.write(`BDAT ${half.length} LAST\r\n${half}`);
  assert.deepEqual(await client.read(), {
    code: 552,
    lines: ["552 5.3.4 message size exceeds fixed maximum message size"],
    text: "552 5.3.4 message size exceeds fixed maximum message size",
  });
  assert.equal(codes(await client.command("NOOP")), "250 2.0.0");
  assert.deepEqual(await spoolFiles(limited), spooled);

  // One chunk alone over the limit, with octets that look like commands: all swallowed, one reply.
  assert.equal(codes(await client.command("MAIL FROM:<chunks@example.org>")), "250 2.1.0");
  assert.equal(codes(await client.command("RCPT TO:<chunks@localhost>")), "250 2.1.5");
  const big = `QUIT\r\n${"q".repeat(MAX_SIZE)}`;
  client.write(`BDAT ${big.length} LAST\r\n${big}`);
  assert.equal(codes(await client.read()), "552 5.3.4");
  assert.deepEqual(await spoolFiles(limited), spooled);
  const logged = await limited.waitFor((line) => line["reason"] === "too-big" && line["size"] === big.length);
  assert.equal(logged["limit"], MAX_SIZE, "the BDAT octets announced, and the limit");

  const next = await client.sendMail("chunks@example.org", ["chunks@localhost"], "Subject: after\r\n\r\nsmall\r\n");
  assert.equal((await limited.spooled(queueIdOf(next))).content.toString(), "Subject: after\r\n\r\nsmall\r\n");
  client.close();
});

test("max_hops Received fields: 554 5.4.6 (a mail loop), nothing spooled, the session goes on; one fewer is accepted", async () => {
  const spooled = await spoolFiles(limited);
  const client = await RawClient.greeted(limited.port, { ehlo: "client.test" });
  const hops = (count: number) => Array.from({ length: count }, (_, hop) => `Received: from hop${hop}.example by hop${hop + 1}.example; Sun, 29 Nov 2026 08:00:0${hop % 10} +0000\r\n`).join("");
  const looping = await client.sendMail("loop@example.org", ["loop@localhost"], `${hops(5)}Subject: round and round\r\n\r\nReceived: in the body\r\n`);
  assert.deepEqual(looping?.lines, ["554 5.4.6 message refused: too many Received header fields, a mail loop"]);
  assert.deepEqual(await spoolFiles(limited), spooled);
  const refused = await limited.waitFor((line) => line.msg === "message refused" && line["reason"] === "mail-loop");
  assert.equal(refused["hops"], 5);

  const fewer = await client.sendMail("loop@example.org", ["loop@localhost"], `${hops(4)}Subject: fine\r\n\r\nReceived: in the body\r\n`);
  const { content } = await limited.spooled(queueIdOf(fewer));
  assert.equal(content.toString("latin1").match(/^Received:/gm)?.length, 5, "the four hops and the body's line, as the client sent them");
  client.close();
});

test("recipients over max_recipients get 452 4.5.3; the message goes to the first ones", async () => {
  const client = await RawClient.greeted(limited.port, { ehlo: "client.test" });
  const recipients = Array.from({ length: 7 }, (_, i) => `RCPT TO:<r${i + 1}@localhost>`);
  const replies = await client.batch(["MAIL FROM:<many@example.org>", ...recipients, "DATA"]);
  assert.deepEqual(replies.map(codes), [
    "250 2.1.0",
    ...Array.from({ length: 5 }, () => "250 2.1.5"),
    "452 4.5.3",
    "452 4.5.3",
    "354 End",
  ]);
  client.write("Subject: many\r\n\r\nx\r\n.\r\n");
  const { envelope } = await limited.spooled(queueIdOf(await client.read()));
  assert.deepEqual(
    envelope.recipients.map((recipient) => recipient.address),
    ["r1@localhost", "r2@localhost", "r3@localhost", "r4@localhost", "r5@localhost"],
  );
  client.close();
  for (const recipient of ["r6@localhost", "r7@localhost"]) {
    const logged = await limited.waitFor((line) => line["event"] === "rcpt-refused" && line["recipient"] === recipient);
    assert.deepEqual([logged["reason"], logged["limit"]], ["too many recipients", 5]);
  }
});

test("refused commands have their mail-log line: a bad address, a command out of sequence; never AUTH's credentials", async () => {
  const client = await RawClient.greeted(limited.port, { ehlo: "client.test" });
  assert.equal(codes(await client.command("RCPT TO:<early@localhost>")), "503 5.5.1");
  assert.equal(codes(await client.command("MAIL FROM:<bad address@@example.org>")), "501 5.1.7");
  client.close();
  const sequence = await limited.waitFor((line) => line["event"] === "command-refused" && line["command"] === "RCPT");
  assert.match(String(sequence["reason"]), /MAIL first|sequence/i);
  const syntax = await limited.waitFor((line) => line["event"] === "command-refused" && String(line["command"]).startsWith("MAIL FROM:<bad"));
  assert.match(String(syntax["reason"]), /syntax/);

  const secret = Buffer.from("\0user\0hunter2-secret").toString("base64");
  const auth = await RawClient.greeted(limited.port, { ehlo: "client.test" });
  const answer = await auth.command(`AUTH PLAIN ${secret} extra`);
  assert.match(answer?.lines[0] ?? "", /^5/);
  auth.close();
  const refused = await limited.waitFor((line) => line["event"] === "command-refused" && String(line["command"]).toUpperCase().startsWith("AUTH"));
  assert.equal(refused["command"], "AUTH PLAIN");
  assert.ok(!limited.lines.some((line) => JSON.stringify(line).includes(secret)), "the credentials are in no log line");
});

test("a command line over max_command_length: 500 5.5.2 once, and the session goes on", async () => {
  const client = await RawClient.greeted(limited.port, { ehlo: "client.test" });
  assert.deepEqual((await client.command(`NOOP ${"x".repeat(600)}`))?.lines, ["500 5.5.2 line too long"]);
  assert.equal(codes(await client.command("NOOP")), "250 2.0.0");
  // A line of 100 kB is read to its end, not answered per 512 octets.
  assert.equal(codes(await client.command(`MAIL FROM:<${"y".repeat(100_000)}@example.org>`)), "500 5.5.2");
  assert.equal(codes(await client.command("NOOP")), "250 2.0.0");
  // 512 octets with the CRLF is still a command.
  assert.equal(codes(await client.command(`NOOP ${"n".repeat(505)}`)), "250 2.0.0");
  client.close();
});

test("max_errors refused commands: 421 4.7.0 and the connection closes", async () => {
  const client = await RawClient.greeted(limited.port, { ehlo: "client.test" });
  const replies = await client.batch(["BOGUS 1", "BOGUS 2", "BOGUS 3", "NOOP"]);
  assert.deepEqual(replies.map(codes), ["500 5.5.1", "500 5.5.1", "500 5.5.1", "421 4.7.0"]);
  assert.equal(await client.read(), null);
  await client.closed();
  await limited.waitFor((line) => line["event"] === "too-many-errors");
});

test("relaying to a non-local domain: 550 5.7.1; postmaster without a domain is accepted", async () => {
  const client = await RawClient.greeted(limited.port, { ehlo: "client.test" });
  assert.equal(codes(await client.command("MAIL FROM:<a@example.org>")), "250 2.1.0");
  assert.deepEqual((await client.command("RCPT TO:<someone@example.net>"))?.lines, ["550 5.7.1 relay access denied"]);
  assert.equal(codes(await client.command("RCPT TO:<postmaster>")), "250 2.1.5");
  assert.equal(codes(await client.command("RCPT TO:<Postmaster>")), "250 2.1.5");
  assert.equal(codes(await client.command("RCPT TO:<postmaster@LOCALHOST>")), "250 2.1.5");
  assert.equal(codes(await client.command("DATA")), "354 End");
  client.write("Subject: to postmaster\r\n\r\nx\r\n.\r\n");
  const { envelope } = await limited.spooled(queueIdOf(await client.read()));
  assert.deepEqual(
    envelope.recipients.map((recipient) => recipient.address),
    ["postmaster", "Postmaster", "postmaster@localhost"], // the domain is kept in lower case
  );
  client.close();
});

test("command timeout: 421 4.4.2 and close", async () => {
  const client = await RawClient.greeted(impatient.port, { ehlo: "client.test" });
  const idleSince = Date.now();
  assert.deepEqual((await client.read())?.lines, ["421 4.4.2 timeout exceeded, closing connection"]);
  assert.ok(Date.now() - idleSince >= 500, "not long before the configured second");
  assert.equal(await client.read(), null);
  await impatient.waitFor((line) => line["event"] === "timeout" && line["mode"] === "command");
});

test("data timeout: 421 4.4.2 and close, the message is dropped", async () => {
  const spooled = await spoolFiles(impatient);
  const client = await RawClient.greeted(impatient.port, { ehlo: "client.test" });
  assert.equal(codes(await client.command("MAIL FROM:<slow@example.org>")), "250 2.1.0");
  assert.equal(codes(await client.command("RCPT TO:<slow@localhost>")), "250 2.1.5");
  assert.equal(codes(await client.command("DATA")), "354 End");
  client.write("Subject: never finished\r\n\r\nhalf a bo");
  const idleSince = Date.now();
  assert.equal(codes(await client.read()), "421 4.4.2");
  assert.ok(Date.now() - idleSince >= 500, "not long before the configured second");
  assert.equal(await client.read(), null);
  const line = await impatient.waitFor((each) => each["event"] === "timeout" && each["mode"] === "body");
  await impatient.waitFor((each) => each["event"] === "disconnect" && each["session"] === line["session"]);
  assert.deepEqual(await spoolFiles(impatient), spooled);
});

test("greeting_delay: a client that talks first gets 554 5.5.1 and is closed; a patient one is greeted", async () => {
  const early = await RawClient.open(delayed.port);
  early.write("EHLO early.test\r\n");
  assert.deepEqual((await early.read())?.lines, ["554 5.5.1 protocol error: command sent before the greeting"]);
  assert.equal(await early.read(), null);
  await delayed.waitFor((line) => line["event"] === "early-talker");

  const connectedAt = Date.now();
  const patient = await RawClient.greeted(delayed.port, { ehlo: "patient.test" });
  assert.ok(Date.now() - connectedAt >= 450, "the greeting waited");
  const id = queueIdOf(await patient.sendMail("patient@example.org", ["p@localhost"], "Subject: patient\r\n\r\nx\r\n"));
  assert.equal((await delayed.spooled(id)).envelope.sender, "patient@example.org");
  patient.close();
});

test("relay_networks: a client in them may relay without AUTH; others still get 550 5.7.1", async () => {
  const own = await Petrel.start({ toml: '[smtp]\nrelay_networks = ["127.0.0.0/8", "2001:db8::/32"]' });
  const other = await Petrel.start({ toml: '[smtp]\nrelay_networks = ["192.0.2.0/24"]' });
  try {
    const inside = await RawClient.greeted(own.port, { ehlo: "app.internal" });
    assert.equal((await inside.command("MAIL FROM:<app@internal.example>"))?.code, 250);
    assert.equal((await inside.command("RCPT TO:<someone@elsewhere.example>"))?.code, 250);
    inside.close();
    const outside = await RawClient.greeted(other.port, { ehlo: "stranger.example" });
    assert.equal((await outside.command("MAIL FROM:<x@stranger.example>"))?.code, 250);
    assert.equal((await outside.command("RCPT TO:<someone@elsewhere.example>"))?.lines[0], "550 5.7.1 relay access denied");
    outside.close();
  } finally {
    await Promise.all([own.remove(), other.remove()]);
  }
});
