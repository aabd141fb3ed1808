// End-to-end: real SMTP clients (swaks, Python's smtplib, Postfix's smtp-source) and the raw client hand mail to
// a real Petrel process, and the test reads what landed in the spool: the content byte for byte after the
// Received header, the Received header itself, and the envelope as `petrel queue show --json` prints it.
// These tests never look inside the server; they only talk SMTP, read the spool and run the CLI.

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { Petrel } from "./support/petrel-process.ts";
import { queueIdOf, RawClient } from "./support/smtp-client.ts";

const run = promisify(execFile);

let petrel: Petrel;
let scratch: string;

before(async () => {
  [petrel, scratch] = await Promise.all([
    Petrel.start({ toml: `[smtp]\nlocal_domains = ["localhost", "petrel.test"]` }),
    mkdtemp(join(tmpdir(), "petrel-clients-")),
  ]);
});

after(async () => {
  await Promise.all([petrel.remove(), rm(scratch, { recursive: true, force: true })]);
});

/** Runs swaks against the shared server with `content` as the whole DATA; returns its transcript. */
async function swaks(name: string, content: Buffer, ...options: string[]): Promise<string> {
  const file = join(scratch, name);
  await writeFile(file, content);
  const server = `127.0.0.1:${petrel.port}`;
  const { stdout } = await run("swaks", ["--server", server, "--helo", "swaks.test", "--data", `@${file}`, ...options], {
    encoding: "latin1",
  });
  return stdout;
}

/** The queue id swaks was given, after checking the transcript ends with one 250 and a 221 to QUIT. */
function queuedBySwaks(transcript: string): string {
  const replies = transcript.split("\n").filter((line) => /^<[-*~]/.test(line));
  const queued = replies.filter((line) => line.includes("queued as"));
  assert.equal(queued.length, 1, `one "queued as" reply:\n${transcript}`);
  assert.match(replies.at(-1) ?? "", /^<- {2}221 2\.0\.0 /, `QUIT answered 221:\n${transcript}`);
  return queueIdOf({ code: 250, lines: [], text: queued[0]!.slice(4) });
}

type Shown = { id: string; state: string; envelope: Record<string, unknown> & { recipients: unknown[] } };

async function queueShow(id: string): Promise<Shown> {
  const shown = await petrel.queue("show", id, "--json");
  assert.equal(shown.code, 0, shown.stderr);
  return JSON.parse(shown.stdout) as Shown;
}

test("swaks: a plain message arrives byte for byte (dot-stuffing undone) with its envelope", async () => {
  // swaks ends the DATA with CRLF . CRLF itself and stuffs the leading dot; the file has no final line break.
  const content = "From: swaks@example.org\r\nTo: plain@localhost\r\nSubject: plain\r\n\r\nfirst line\r\n.leading dot\r\nlast";
  const transcript = await swaks("plain.eml", Buffer.from(content), "--from", "swaks@example.org", "--to", "plain@localhost");
  assert.match(transcript, /-> \.\.leading dot/);
  const id = queuedBySwaks(transcript);

  const message = await petrel.spooled(id);
  assert.equal(message.content.toString("latin1"), `${content}\r\n`);
  const shown = await queueShow(id);
  assert.equal(shown.state, "incoming");
  assert.equal(shown.envelope["sender"], "swaks@example.org");
  assert.deepEqual(shown.envelope.recipients, [{ address: "plain@localhost", status: "pending" }]);
  const { port, ...client } = shown.envelope["client"] as { port: number };
  assert.ok(Number.isInteger(port) && port > 0);
  assert.deepEqual(client, { address: "127.0.0.1", name: "localhost", helo: "swaks.test", protocol: "ESMTP" });
  assert.equal(shown.envelope["size"], message.body.length);
});

test("swaks: an 8-bit body (UTF-8, Latin-1, invalid sequences) arrives byte for byte", async () => {
  const content = Buffer.concat([
    Buffer.from("From: swaks@example.org\r\nSubject: 8bit\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"),
    Buffer.from("Grüße, ½ € ✓\r\n", "utf8"),
    Buffer.from("caf\xe9 na\xefve \xff\xfe\xc3\x28 \x80\x81\x9f\r\n", "latin1"),
    Buffer.from("end"),
  ]);
  const transcript = await swaks("8bit.eml", content, "--from", "swaks@example.org", "--to", "eight@petrel.test");
  const id = queuedBySwaks(transcript);
  const message = await petrel.spooled(id);
  assert.deepEqual(message.content, Buffer.concat([content, Buffer.from("\r\n")]));
});

test("swaks --pipeline: a pipelined transaction to two recipients is queued once", async () => {
  const content = "Subject: pipelined swaks\r\n\r\nbody";
  const transcript = await swaks(
    "pipelined.eml",
    Buffer.from(content),
    "--pipeline",
    "--from",
    "swaks@example.org",
    "--to",
    "one@localhost,two@petrel.test",
  );
  const id = queuedBySwaks(transcript);
  const message = await petrel.spooled(id);
  assert.equal(message.content.toString(), `${content}\r\n`);
  assert.deepEqual(
    message.envelope.recipients.map((recipient) => recipient.address),
    ["one@localhost", "two@petrel.test"],
  );
});

// Three send_message calls on one connection (BODY=8BITMIME), then one transaction pipelined by hand through
// smtplib's send/getreply (smtplib itself never pipelines), then QUIT. Prints JSON for the test to check.
const PYTHON_CLIENT = String.raw`
import base64, email.generator, io, json, smtplib, sys
from email.message import EmailMessage

client = smtplib.SMTP("127.0.0.1", int(sys.argv[1]), local_hostname="python.test")
client.ehlo()
out = {"pipelining": client.has_extn("pipelining"), "8bitmime": client.has_extn("8bitmime"), "sent": []}
for i in range(1, 4):
    m = EmailMessage()
    m["From"] = "py@example.org"
    m["To"] = "rcpt%d@localhost" % i
    m["Subject"] = "python %d" % i
    m.set_content("Grüße aus Python, Nachricht %d\n" % i, cte="8bit")
    flat = io.BytesIO()
    email.generator.BytesGenerator(flat, policy=m.policy.clone(linesep="\r\n")).flatten(m, linesep="\r\n")
    refused = client.send_message(m, mail_options=["BODY=8BITMIME"])
    out["sent"].append({"refused": refused, "bytes": base64.b64encode(flat.getvalue()).decode()})
client.send(b"MAIL FROM:<py@example.org>\r\nRCPT TO:<p1@localhost>\r\nRCPT TO:<p2@localhost>\r\nDATA\r\n")
replies = [client.getreply() for _ in range(4)]
client.send(b"Subject: pipelined by python\r\n\r\nhand-pipelined\r\n.\r\n")
replies.append(client.getreply())
out["pipelined"] = [[code, text.decode()] for code, text in replies]
out["quit"] = list(client.quit())
out["quit"][1] = out["quit"][1].decode()
print(json.dumps(out))
`;

test("python smtplib: three messages on one connection, then a hand-pipelined one", async () => {
  const seen = petrel.lines.length;
  const { stdout } = await run("python3", ["-c", PYTHON_CLIENT, String(petrel.port)]);
  const result = JSON.parse(stdout) as {
    pipelining: boolean;
    "8bitmime": boolean;
    sent: Array<{ refused: Record<string, unknown>; bytes: string }>;
    pipelined: Array<[number, string]>;
    quit: [number, string];
  };
  assert.equal(result.pipelining, true);
  assert.equal(result["8bitmime"], true);
  assert.deepEqual(
    result.pipelined.map(([code, text]) => `${code} ${text.split(" ").slice(0, 2).join(" ")}`),
    ["250 2.1.0 sender", "250 2.1.5 recipient", "250 2.1.5 recipient", "354 End data", "250 2.0.0 queued"],
  );
  assert.deepEqual(result.quit, [221, "2.0.0 closing connection"]);

  // One session, four messages: the mail log names them, in order, with the session's id.
  const queued = await petrel.waitForCount((line) => line.msg === "message queued" && line["sender"] === "py@example.org", 4);
  const lines = petrel.lines.slice(seen).filter((line) => line.msg === "message queued" && line["sender"] === "py@example.org");
  assert.equal(new Set(lines.map((line) => line["session"])).size, 1);
  assert.equal(lines.at(-1), queued);
  for (const [i, sent] of result.sent.entries()) {
    assert.deepEqual(sent.refused, {});
    const id = lines[i]!["queueId"] as string;
    const message = await petrel.spooled(id);
    assert.deepEqual(message.content, Buffer.from(sent.bytes, "base64"));
    assert.equal(lines[i]!["size"], message.envelope.size, "the log gives the size of the message as queued");
    assert.equal(message.envelope.senderParameters.body, "8BITMIME");
    assert.match(message.received, /^Received: from python\.test \(localhost \[127\.0\.0\.1\]\)\r\n/);
  }
  const [code, text] = result.pipelined[4]!;
  const pipelined = await petrel.spooled(queueIdOf({ code, lines: [], text: `${code} ${text}` }));
  assert.equal(pipelined.content.toString(), "Subject: pipelined by python\r\n\r\nhand-pipelined\r\n");
  assert.deepEqual(
    pipelined.envelope.recipients.map((recipient) => recipient.address),
    ["p1@localhost", "p2@localhost"],
  );
});

test("smtp-source: 200 messages over 5 parallel sessions are all queued with distinct ids", async () => {
  const own = await Petrel.start();
  try {
    await run("smtp-source", [
      ...["-s", "5", "-m", "200", "-l", "4096"],
      ...["-f", "source@example.org", "-t", "sink@localhost", "-M", "source.test"],
      `127.0.0.1:${own.port}`,
    ]);
    assert.equal((await readdir(join(own.spool, "incoming"))).length, 200);
    assert.equal((await readdir(join(own.spool, "body"))).length, 200);
    const isQueued = (line: { msg: string }) => line.msg === "message queued";
    await own.waitForCount(isQueued, 200);
    const ids = own.lines.filter(isQueued).map((line) => line["queueId"]);
    assert.equal(ids.length, 200);
    assert.equal(new Set(ids).size, 200);
  } finally {
    await own.remove();
  }
});

// NUL is the one octet DATA refuses (RFC 6152; see server/body-reader.ts): binary content goes by BDAT.
test("raw client: a body with every octet but NUL, CR and LF, invalid UTF-8 included, arrives byte for byte", async () => {
  const octets = Buffer.from(
    Array.from({ length: 256 }, (_, byte) => byte).filter((byte) => byte !== 0 && byte !== 0x0d && byte !== 0x0a),
  );
  const lines: Buffer[] = [Buffer.from("Subject: octets\r\n\r\n")];
  for (let start = 0; start < octets.length; start += 50) lines.push(octets.subarray(start, start + 50), Buffer.from("\r\n"));
  lines.push(Buffer.from("\xc3\x28\xa0\xa1\xe2\x28\xa1\xf0\x28\x8c\xbc\xed\xa0\x80\r\n", "latin1"));
  const content = Buffer.concat(lines);
  assert.equal(content.includes(Buffer.from("\r\n.")), false); // nothing to stuff: sent as is

  const client = await RawClient.greeted(petrel.port, { ehlo: "raw.test" });
  const reply = await client.sendMail("raw@example.org", ["octets@localhost"], content);
  assert.deepEqual((await client.command("QUIT"))?.code, 221);
  const message = await petrel.spooled(queueIdOf(reply));
  assert.deepEqual(message.content, content);
});

const DAY = "(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)";
const MONTH = "(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)";
const DATE = new RegExp(`^${DAY}, \\d{1,2} ${MONTH} \\d{4} \\d\\d:\\d\\d:\\d\\d [+-]\\d{4}$`);

/** Sends one message over a fresh session and returns its queue id and Received header. */
async function receivedFor(greeting: string, sender: string, recipients: string[]): Promise<{ id: string; received: string }> {
  const client = await RawClient.greeted(petrel.port);
  assert.equal((await client.command(greeting))?.code, 250);
  const id = queueIdOf(await client.sendMail(sender, recipients, "Subject: trace\r\n\r\nx\r\n"));
  client.close();
  return { id, received: (await petrel.spooled(id)).received };
}

test("Received: HELO name, reverse name and address, protocol keyword, queue id, for <one recipient>, date", async () => {
  const before = Date.now();
  const ehlo = await receivedFor("EHLO client.example", "s@example.org", ["only@localhost"]);
  const [from, by, forClause, date, end] = ehlo.received.split("\r\n");
  assert.equal(from, "Received: from client.example (localhost [127.0.0.1])");
  assert.equal(by, `\tby mx.petrel.test (Petrel) with ESMTP id ${ehlo.id}`);
  assert.equal(forClause, "\tfor <only@localhost>;");
  assert.equal(end, "");
  assert.match(date!, /^\t/);
  assert.match(date!.slice(1), DATE);
  const stamped = Date.parse(date!.slice(1));
  assert.ok(stamped >= Math.floor(before / 1000) * 1000 && stamped <= Date.now(), `date ${date} is now`);

  const helo = await receivedFor("HELO old.example", "s@example.org", ["only@localhost"]);
  assert.ok(helo.received.startsWith("Received: from old.example (localhost [127.0.0.1])\r\n"), helo.received);
  assert.ok(helo.received.includes(`\tby mx.petrel.test (Petrel) with SMTP id ${helo.id}\r\n`), helo.received);

  const two = await receivedFor("EHLO client.example", "s@example.org", ["a@localhost", "b@localhost"]);
  assert.doesNotMatch(two.received, /\bfor\b/);
  assert.match(two.received, new RegExp(`with ESMTP id ${two.id};\r\n\t${DAY}, `));

  // A HELO name cannot close the comment or forge text: parentheses and backslashes become "?".
  const odd = await receivedFor("EHLO a(b)c\\d", "s@example.org", ["only@localhost"]);
  assert.match(odd.received, /^Received: from a\?b\?c\?d \(localhost \[127\.0\.0\.1\]\)\r\n/);
});

test("Received: a SMTPUTF8 transaction is marked UTF8SMTP", async () => {
  const client = await RawClient.greeted(petrel.port, { ehlo: "utf8.example" });
  assert.equal((await client.command("MAIL FROM:<s@example.org> SMTPUTF8"))?.code, 250);
  client.write(Buffer.from("RCPT TO:<jürgen@localhost>\r\n", "utf8"));
  assert.equal((await client.read())?.code, 250);
  assert.equal((await client.command("DATA"))?.code, 354);
  client.write("Subject: utf8\r\n\r\nx\r\n.\r\n");
  const id = queueIdOf(await client.read());
  client.close();
  const message = await petrel.spooled(id);
  assert.match(message.received, new RegExp(`\tby mx\\.petrel\\.test \\(Petrel\\) with UTF8SMTP id ${id}\r\n`));
  assert.match(message.received, /\tfor <jürgen@localhost>;\r\n/);
  assert.equal(message.envelope.recipients[0]?.address, "jürgen@localhost");
  assert.equal(message.envelope.senderParameters.smtputf8, true);
});

test("DSN parameters (RET, ENVID, NOTIFY, ORCPT) are stored in the envelope, per recipient", async () => {
  const client = await RawClient.greeted(petrel.port, { ehlo: "dsn.example" });
  const replies = await client.batch([
    "MAIL FROM:<bounce@example.org> RET=HDRS ENVID=QQ+2Bid-7 SIZE=100",
    "RCPT TO:<b@localhost> NOTIFY=SUCCESS,DELAY ORCPT=rfc822;b+2Bx@localhost",
    "RCPT TO:<c@localhost> NOTIFY=NEVER",
    "RCPT TO:<d@localhost> ORCPT=RFC822;d@example.net",
    "RCPT TO:<e@localhost>",
    "DATA",
  ]);
  assert.deepEqual(replies.map((reply) => reply?.code), [250, 250, 250, 250, 250, 354]);
  client.write("Subject: dsn\r\n\r\nx\r\n.\r\n");
  const id = queueIdOf(await client.read());
  client.close();

  const [{ envelope }, text] = await Promise.all([queueShow(id), petrel.queue("show", id)]);
  assert.deepEqual(envelope["senderParameters"], { ret: "HDRS", envid: "QQ+id-7", size: 100 });
  assert.deepEqual(envelope.recipients, [
    {
      address: "b@localhost",
      notify: ["SUCCESS", "DELAY"],
      orcpt: { type: "rfc822", address: "b+x@localhost" },
      status: "pending",
    },
    { address: "c@localhost", notify: "NEVER", status: "pending" },
    { address: "d@localhost", orcpt: { type: "rfc822", address: "d@example.net" }, status: "pending" },
    { address: "e@localhost", status: "pending" },
  ]);
  assert.match(text.stdout, /^sender: {6}<bounce@example\.org> RET=HDRS ENVID=QQ\+id-7 SIZE=100$/m);
  assert.match(text.stdout, /b@localhost \(pending\) NOTIFY=SUCCESS,DELAY ORCPT=rfc822;b\+x@localhost/);
});
