// Delivery end to end: a real Petrel takes mail over SMTP and delivers it by MX (dnsmasq answers the MX and
// address lookups on loopback) to Postfix's smtp-sink on other 127.0.0.x addresses and on ::1, or into local
// Maildirs. Checked: what the receiving server got, the log line of each attempt, the spool left behind, and
// the DSNs (RFC 3464) that reach the sender's own Maildir: failures (5xx, null MX), retries after a 4xx, the
// backup MX, an IPv6-only MX, and expiry with its delay warning.

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { type Dnsmasq, findDnsmasq, startDnsmasq } from "./support/dnsmasq.ts";
import { freePort, type LogLine, Petrel } from "./support/petrel-process.ts";
import { queueIdOf, RawClient } from "./support/smtp-client.ts";
import { SMTP_SINK, type SmtpSink, startSmtpSink } from "./support/smtp-sink.ts";

const skip = findDnsmasq() === null ? "dnsmasq is not installed" : SMTP_SINK === null ? "smtp-sink is not installed (postfix)" : false;

let dns: Dnsmasq;
let mxPort = 0;
const sinks: SmtpSink[] = [];
let sink: SmtpSink; // 127.0.0.2: takes everything
let sink6: SmtpSink; // ::1
let refusing: SmtpSink; // 127.0.0.5: 550 to every RCPT
let petrel: Petrel;

/**
 * A Petrel that delivers: local domain petrel.test into Maildirs, the rest by MX on mxPort, retries within seconds
 * (`retry`: other retry_min and retry_max).
 */
function deliveringPetrel(extra = "", retry = `retry_min = "1s"\nretry_max = "2s"`): Promise<Petrel> {
  return Petrel.start({
    toml: [
      `[smtp]\nlocal_domains = ["petrel.test"]\nrelay_networks = ["127.0.0.0/8"]`,
      `[dns]\nservers = ["${dns.server}"]\ntimeout = "1s"\nattempts = 1`,
      `[delivery]\nmx_port = ${mxPort}\n${retry}\nconnection_reuse = "1s"\n${extra}`,
    ].join("\n"),
  });
}

before(async () => {
  if (skip !== false) return;
  mxPort = await freePort();
  dns = await startDnsmasq(
    [
      "--host-record=probe.test,127.0.0.1",
      "--mx-host=sink.example,mx.sink.example,10",
      "--host-record=mx.sink.example,127.0.0.2",
      "--mx-host=backup.example,down.backup.example,10",
      "--mx-host=backup.example,up.backup.example,20",
      "--host-record=down.backup.example,127.0.0.3",
      "--host-record=up.backup.example,127.0.0.2",
      "--mx-host=six.example,mx6.six.example,10",
      "--host-record=mx6.six.example,::1",
      "--mx-host=refuse.example,mx.refuse.example,10",
      "--host-record=mx.refuse.example,127.0.0.5",
      "--mx-host=later.example,mx.later.example,10",
      "--host-record=mx.later.example,127.0.0.4",
      "--mx-host=nowhere.example,mx.nowhere.example,10",
      "--mx-host=comeback.example,mx.comeback.example,10",
      "--host-record=mx.comeback.example,127.0.0.7",
      "--host-record=mx.nowhere.example,127.0.0.6",
      "--dns-rr=nullmx.example,15,000000", // RFC 7505: preference 0, the root as exchange
      "--host-record=nullmx.example,127.0.0.2",
      "--local=/example/",
    ],
    "probe.test",
  );
  sink = await startSmtpSink("127.0.0.2", mxPort);
  sink6 = await startSmtpSink("::1", mxPort);
  refusing = await startSmtpSink("127.0.0.5", mxPort, ["-B", "550 5.1.1 no such user here", "-f", "RCPT"]);
  sinks.push(sink, sink6, refusing);
  petrel = await deliveringPetrel();
});

after(async () => {
  await petrel?.remove();
  await Promise.all(sinks.map((each) => each.stop()));
  await dns?.stop();
});

async function send(server: Petrel, sender: string, recipients: readonly string[], content: string): Promise<string> {
  const client = await RawClient.open(server.port);
  await client.read();
  await client.command("EHLO client.example");
  const id = queueIdOf(await client.sendMail(sender, recipients, content));
  await client.command("QUIT");
  client.close();
  return id;
}

const attempt = (id: string, recipient: string, result: string) => (line: LogLine) =>
  line["event"] === "delivery" && line["queueId"] === id && line["recipient"] === recipient && line["result"] === result;

/** The files in a Maildir's new/ (waits until there are `count`). */
async function maildir(server: Petrel, address: string, count: number): Promise<Buffer[]> {
  const [local, domain] = address.split("@");
  const folder = join(server.dir, "var", "mail", domain!, local!, "new");
  for (;;) {
    const names = await readdir(folder).catch(() => [] as string[]);
    if (names.length >= count) return Promise.all(names.sort().map((name) => readFile(join(folder, name))));
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Whether the message has left the spool: the run logs its outcomes first, then removes it (wait up to 10 s). */
async function spoolEmpty(server: Petrel, id: string): Promise<boolean> {
  for (let waited = 0; waited < 10_000; waited += 50) {
    const names = await Promise.all(["incoming", "active", "deferred", "body"].map((folder) => readdir(join(server.spool, folder))));
    if (!names.some((folder) => folder.includes(id))) return true;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return false;
}

test("MX: mail for a remote domain goes to its MX host, unchanged; one log line; nothing left in the spool", { skip }, async () => {
  const content = "Subject: by MX\r\nMessage-ID: <mx-1@petrel.test>\r\n\r\n.a line that starts with a dot\r\nbye\r\n";
  const id = await send(petrel, "alice@petrel.test", ["bob@sink.example"], content.replace(/^\./m, ".."));
  const line = await petrel.waitFor(attempt(id, "bob@sink.example", "delivered"));
  assert.equal(line["route"], "mx:sink.example");
  assert.match(String(line["remote"]), /^mx\.sink\.example\[127\.0\.0\.2\]:\d+$/);
  assert.match(String(line["reply"]), /^250 /);
  const received = (await sink.messages()).find((message) => message.includes("<mx-1@petrel.test>"));
  assert.ok(received, "smtp-sink got the message");
  assert.match(received.toString(), /X-Mail-Args: <alice@petrel\.test>/);
  assert.match(received.toString(), /X-Rcpt-Args: <bob@sink\.example>/);
  assert.ok(received.toString().includes("\n.a line that starts with a dot\n") || received.toString().includes("\r\n.a line that starts with a dot\r\n"), "dot-stuffing undone by the receiver");
  assert.ok(await spoolEmpty(petrel, id));
});

test("MX: the first MX host does not answer, the second (higher preference number) takes the mail", { skip }, async () => {
  const id = await send(petrel, "alice@petrel.test", ["carol@backup.example"], "Subject: backup\r\nMessage-ID: <backup-1@petrel.test>\r\n\r\nx\r\n");
  const line = await petrel.waitFor(attempt(id, "carol@backup.example", "delivered"));
  assert.match(String(line["remote"]), /^up\.backup\.example\[127\.0\.0\.2\]/);
  assert.ok((await sink.messages()).some((message) => message.includes("<backup-1@petrel.test>")));
});

test("MX: an IPv6-only MX host is reached over IPv6", { skip }, async () => {
  const id = await send(petrel, "alice@petrel.test", ["dan@six.example"], "Subject: six\r\nMessage-ID: <six-1@petrel.test>\r\n\r\nx\r\n");
  const line = await petrel.waitFor(attempt(id, "dan@six.example", "delivered"));
  assert.match(String(line["remote"]), /^mx6\.six\.example\[::1\]/);
  assert.ok((await sink6.messages()).some((message) => message.includes("<six-1@petrel.test>")));
});

test("a local domain is delivered into the recipient's Maildir with Return-Path and Delivered-To", { skip }, async () => {
  const id = await send(petrel, "bob@sink.example", ["Erin@petrel.test"], "Subject: local\r\n\r\nhello erin\r\n");
  await petrel.waitFor(attempt(id, "Erin@petrel.test", "delivered"));
  const [message] = await maildir(petrel, "erin@petrel.test", 1);
  const text = message!.toString();
  assert.match(text, /^Return-Path: <bob@sink\.example>\n/);
  assert.match(text, /\nDelivered-To: Erin@petrel\.test\n/);
  assert.match(text, /\nhello erin\n$/);
  assert.ok(await spoolEmpty(petrel, id));
});

/** The DSN parts of a report in a Maildir file: the delivery-status fields and the returned part's type. */
function dsnParts(text: string): { subject: string; status: string; returned: string } {
  const subject = /^Subject: (.*)$/m.exec(text)?.[1] ?? "";
  const status = /Content-Type: message\/(?:global-)?delivery-status[^\n]*\n(?:[^\n]+\n)*\n([\s\S]*?)\n--/.exec(text)?.[1] ?? "";
  const returned = /Content-Type: (message\/rfc822|text\/rfc822-headers|message\/global|message\/global-headers)/.exec(text)?.[1] ?? "";
  return { subject, status, returned };
}

test("a 5xx to RCPT fails the recipient: a DSN with the remote's words goes back to the sender", { skip }, async () => {
  const id = await send(petrel, "frank@petrel.test", ["nobody@refuse.example"], "Subject: will bounce\r\nMessage-ID: <bounce-1@petrel.test>\r\n\r\nx\r\n");
  const line = await petrel.waitFor(attempt(id, "nobody@refuse.example", "failed"));
  assert.equal(line["status"], "5.1.1");
  const dsn = await petrel.waitFor((entry) => entry["event"] === "dsn" && entry["queueId"] === id);
  await petrel.waitFor(attempt(String(dsn["dsn"]), "frank@petrel.test", "delivered"));
  const [report] = await maildir(petrel, "frank@petrel.test", 1);
  const text = report!.toString();
  assert.match(text, /^Return-Path: <>\n/);
  assert.match(text, /multipart\/report; report-type=delivery-status/);
  const { status, returned } = dsnParts(text);
  assert.match(status, /Final-Recipient: rfc822; ?nobody@refuse\.example/i);
  assert.match(status, /Action: failed/);
  assert.match(status, /Status: 5\.1\.1/);
  assert.match(status, /Remote-MTA: dns; ?mx\.refuse\.example/i);
  assert.match(status, /Diagnostic-Code: smtp; ?550 5\.1\.1 no such user here/);
  assert.equal(returned, "message/rfc822");
  assert.ok(text.includes("<bounce-1@petrel.test>"), "the original comes back");
  assert.ok(await spoolEmpty(petrel, id));
});

test("a null MX (RFC 7505) fails at once with 5.1.10, without any connection", { skip }, async () => {
  const id = await send(petrel, "grace@petrel.test", ["x@nullmx.example"], "Subject: null mx\r\n\r\nx\r\n");
  const line = await petrel.waitFor(attempt(id, "x@nullmx.example", "failed"));
  assert.equal(line["status"], "5.1.10");
  const [report] = await maildir(petrel, "grace@petrel.test", 1);
  assert.match(dsnParts(report!.toString()).status, /Status: 5\.1\.10/);
});

test("a 4xx defers the recipient; it is tried again and delivered once the server takes it", { skip }, async () => {
  const later = await startSmtpSink("127.0.0.4", mxPort, ["-r", "RCPT"]);
  const id = await send(petrel, "heidi@petrel.test", ["ivan@later.example"], "Subject: later\r\nMessage-ID: <later-1@petrel.test>\r\n\r\nx\r\n");
  const deferred = await petrel.waitFor(attempt(id, "ivan@later.example", "deferred"));
  assert.match(String(deferred["status"]), /^4\./);
  assert.ok((await readdir(join(petrel.spool, "deferred"))).includes(id), "waits in deferred/");
  await later.stop();
  const taking = await startSmtpSink("127.0.0.4", mxPort);
  sinks.push(taking);
  const delivered = await petrel.waitFor(attempt(id, "ivan@later.example", "delivered"));
  assert.ok(Number(delivered["attempt"]) >= 2);
  assert.ok((await taking.messages()).some((message) => message.includes("<later-1@petrel.test>")));
  assert.ok(await spoolEmpty(petrel, id));
});

test("a destination that never answers: a delay warning, then the mail is returned after max_lifetime", { skip }, async () => {
  const short = await deliveringPetrel(`delay_warning = "1s"\nmax_lifetime = "4s"`);
  try {
    const id = await send(short, "judy@petrel.test", ["kim@nowhere.example"], "Subject: nowhere\r\n\r\nx\r\n");
    const expired = await short.waitFor(attempt(id, "kim@nowhere.example", "failed"));
    assert.equal(expired["status"], "5.4.7");
    const reports = await maildir(short, "judy@petrel.test", 2);
    const kinds = reports.map((report) => /Action: (\w+)/.exec(dsnParts(report.toString()).status)?.[1]).sort();
    assert.deepEqual(kinds, ["delayed", "failed"]);
    const delayed = reports.map((report) => dsnParts(report.toString()).status).find((status) => status.includes("Action: delayed"))!;
    assert.match(delayed, /Will-Retry-Until: /);
    assert.ok(await spoolEmpty(short, id));
  } finally {
    await short.remove();
  }
});

test("a destination found down pauses the mail after it: no try, not counted as an attempt", { skip }, async () => {
  const first = await send(petrel, "lena@petrel.test", ["mia@nowhere.example"], "Subject: first\r\n\r\nx\r\n");
  const tried = await petrel.waitFor(attempt(first, "mia@nowhere.example", "deferred"));
  assert.equal(tried["attempt"], 1);
  const second = await send(petrel, "lena@petrel.test", ["nina@nowhere.example"], "Subject: second\r\n\r\nx\r\n");
  const paused = await petrel.waitFor(attempt(second, "nina@nowhere.example", "deferred"));
  assert.match(String(paused["reply"]), /^delivery to this destination is paused after an error: /);
  assert.equal(paused["attempt"], 0, "the paused copy was not tried");
  await petrel.waitFor((line) => line.msg === "message deferred" && line["queueId"] === second);
  const envelope = JSON.parse(await readFile(join(petrel.spool, "deferred", second), "utf8")) as { recipients: { attempts?: number; last?: { diagnostic: string } }[] };
  assert.equal(envelope.recipients[0]?.attempts, undefined);
  assert.match(envelope.recipients[0]?.last?.diagnostic ?? "", /paused after an error/);
});

test("petrel queue flush tries a paused destination at once, as Postfix's flush wakes a dead site", { skip }, async () => {
  const patient = await deliveringPetrel("", `retry_min = "10m"\nretry_max = "1h"`);
  try {
    const first = await send(patient, "olga@petrel.test", ["pam@comeback.example"], "Subject: first\r\nMessage-ID: <comeback-1@petrel.test>\r\n\r\nx\r\n");
    await patient.waitFor((line) => line.msg === "message deferred" && line["queueId"] === first);
    const second = await send(patient, "olga@petrel.test", ["quinn@comeback.example"], "Subject: second\r\nMessage-ID: <comeback-2@petrel.test>\r\n\r\nx\r\n");
    const paused = await patient.waitFor(attempt(second, "quinn@comeback.example", "deferred"));
    assert.match(String(paused["reply"]), /paused after an error/, "the destination is paused for retry_min (10 minutes)");
    await patient.waitFor((line) => line.msg === "message deferred" && line["queueId"] === second);
    const back = await startSmtpSink("127.0.0.7", mxPort);
    sinks.push(back);
    const flushed = await patient.queue("flush", "--domain", "comeback.example");
    assert.equal(flushed.code, 0, flushed.stderr);
    assert.equal(flushed.stdout.split("\n").filter((line) => line.includes("flushed to incoming/")).length, 2);
    await patient.waitFor(attempt(first, "pam@comeback.example", "delivered"));
    await patient.waitFor(attempt(second, "quinn@comeback.example", "delivered"));
    const arrived = (await back.messages()).map(String);
    for (const messageId of ["<comeback-1@petrel.test>", "<comeback-2@petrel.test>"]) assert.ok(arrived.some((message) => message.includes(messageId)));
  } finally {
    await patient.remove();
  }
});

test("mail from the null sender that fails is dropped with a log line, never bounced", { skip }, async () => {
  const id = await send(petrel, "", ["nobody@refuse.example"], "Subject: a bounce that bounces\r\n\r\nx\r\n");
  await petrel.waitFor(attempt(id, "nobody@refuse.example", "failed"));
  assert.ok(await spoolEmpty(petrel, id));
  assert.ok(!petrel.lines.some((line) => line["event"] === "dsn" && line["queueId"] === id));
});
