// The example rule files of examples/rules/, each in a Petrel process of its own, driven over real SMTP: raw
// sockets from other 127.0.0.x addresses, swaks, Python's smtplib. Each test checks what an administrator who
// copies the example relies on: the replies, what the spool (incoming/, quarantine/) or an export folder then
// holds, and the log lines the rules write. The DNSBL example asks a real DNS server (dnsmasq) on loopback.

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { createSocket, type Socket } from "node:dgram";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import type { Envelope } from "../src/queue/envelope.ts";
import { type Dnsmasq, findDnsmasq, startDnsmasq } from "./support/dnsmasq.ts";
import { freePort, Petrel } from "./support/petrel-process.ts";
import { queueIdOf, RawClient } from "./support/smtp-client.ts";

const run = promisify(execFile);
const EXAMPLES = new URL("../examples/rules/", import.meta.url).pathname;
const MAIN = new URL("../src/cli/main.ts", import.meta.url).pathname;
const PASSWORD = "correct horse battery";

type ServerLines = { readonly smtp?: string; readonly tables?: string; readonly timeout?: string };

/**
 * [rules] with one example file and its settings (TOML lines), and [smtp] with our test domains; `smtp`: more
 * [smtp] lines, `tables`: more tables, `timeout`: rules.timeout.
 */
function withExample(file: string, settings: string, { smtp = "", tables = "", timeout = "5s" }: ServerLines = {}): string {
  return [
    `[rules]\nfiles = ["${join(EXAMPLES, file)}"]\ntimeout = "${timeout}"`,
    `[rules.settings]\n${settings}`,
    `[smtp]\nlocal_domains = ["localhost", "petrel.test", "mail.petrel.test", "finance.petrel.test"]\n${smtp}`,
    tables,
  ].join("\n");
}

/** A submission listener on which AUTH works without TLS (loopback), so raw clients and smtplib can log in. */
function submissionListener(port: number, users: string): string {
  return `[auth]\nusers = "${users}"\n[[listener]]\nname = "submission"\naddress = "127.0.0.1"\nport = ${port}\nrole = "submission"\nplaintext_auth = true`;
}

/** A users file holding alice@petrel.test, made with `petrel user add` in `dir`; servers name it in [auth]. */
async function usersFile(dir: string): Promise<string> {
  const config = join(dir, "accounts.toml");
  await writeFile(config, `[auth]\nusers = "${join(dir, "users")}"\n`);
  const code = await new Promise<number | null>((resolve) => {
    const child = spawn(process.execPath, [MAIN, "user", "add", "alice@petrel.test", "--config", config], { stdio: ["pipe", "ignore", "inherit"] });
    child.on("close", resolve);
    child.stdin.end(`${PASSWORD}\n`);
  });
  assert.equal(code, 0, "petrel user add");
  return join(dir, "users");
}

/** A client from `address` (127.0.0.x) on the server's mta listener, greeted. */
async function from(petrel: Petrel, address: string): Promise<RawClient> {
  const client = await RawClient.open(petrel.port, "127.0.0.1", address);
  assert.equal((await client.read())?.code, 220);
  assert.equal((await client.command("EHLO client.example"))?.code, 250);
  return client;
}

/** A client on a submission listener, logged in as alice@petrel.test. */
async function loggedIn(port: number): Promise<RawClient> {
  const client = await RawClient.open(port);
  assert.equal((await client.read())?.code, 220);
  assert.equal((await client.command("EHLO laptop.petrel.test"))?.code, 250);
  const plain = Buffer.from(`\0alice@petrel.test\0${PASSWORD}`).toString("base64");
  assert.equal((await client.command(`AUTH PLAIN ${plain}`))?.code, 235);
  return client;
}

/** The `count`-th log line of `rule` giving a `kind` verdict. */
function verdict(petrel: Petrel, rule: string, kind: string, count = 1) {
  return petrel.waitForCount((line) => line["event"] === "rule-verdict" && line["rule"] === rule && line["verdict"] === kind, count);
}

async function inQuarantine(petrel: Petrel, id: string): Promise<Envelope> {
  return JSON.parse(await readFile(join(petrel.spool, "quarantine", id), "utf8")) as Envelope;
}

// dnsmasq: a real DNS server answering for the blocklist zen.example (127.0.0.2 listed, as RFC 5782 §5 wants
// of every list), NXDOMAIN for the rest of zen.example, REFUSED for every other zone (down.example), and
// forwarding slow.example to a UDP socket that never answers (a blocklist that has gone quiet).

const DNSMASQ = findDnsmasq();

let dnsmasq: Dnsmasq | null = null;
let silent: Socket | null = null;
let submission = { relay: 0, headers: 0 };
let scratch = ""; // the archive folder and the users file
let closedHours = "";
const servers: Record<string, Petrel> = {};
const petrel = (name: string): Petrel => servers[name]!;

/** "HH:MM-HH:MM" (UTC) from `fromNow` to `toNow` hours from now. */
function officeHours(fromNow: number, toNow: number): string {
  const at = (hours: number) => new Date(Date.now() + hours * 3600_000).toISOString().slice(11, 16);
  return `${at(fromNow)}-${at(toNow)}`;
}

before(async () => {
  submission = { relay: await freePort(), headers: await freePort() };
  scratch = await mkdtemp(join(tmpdir(), "petrel-examples-"));
  const archive = join(scratch, "archive");
  closedHours = officeHours(2, 3);
  const quiet = createSocket("udp4");
  silent = quiet;
  await new Promise<void>((resolve) => quiet.bind(0, "127.0.0.1", resolve));
  // Only the servers that need them wait for the users file and for dnsmasq; the others start at once.
  const users = usersFile(scratch);
  const records = ["--local=/zen.example/", "--address=/2.0.0.127.zen.example/127.0.0.2", `--server=/slow.example/127.0.0.1#${quiet.address().port}`];
  const dns = DNSMASQ === null ? null : startDnsmasq(records, "2.0.0.127.zen.example").then((started) => (dnsmasq = started));
  const configs: Record<string, () => Promise<Petrel>> = {
    relay: async () =>
      Petrel.start({
        toml: withExample("relay-control.ts", `extra_relay_networks = ["127.0.0.3"]\nrelay_domains = ["backup.example"]`, {
          smtp: `relay_networks = ["127.0.0.2"]`,
          tables: submissionListener(submission.relay, await users),
        }),
      }),
    quota: () => Petrel.start({ toml: withExample("recipient-quota.ts", "recipient_quota = 3") }),
    headers: async () =>
      Petrel.start({
        toml: withExample("header-rewrite.ts", `policy_header = "submission; privacy headers removed"`, {
          tables: submissionListener(submission.headers, await users),
        }),
      }),
    executables: () => Petrel.start({ toml: withExample("reject-executables.ts", "") }),
    suspicious: () => Petrel.start({ toml: withExample("quarantine-suspicious.ts", "", { smtp: `relay_networks = ["127.0.0.3"]` }) }),
    archive: () => Petrel.start({ toml: withExample("archive-copy.ts", `archive = "${archive}"\narchive_json = true`) }),
    lmtp: () => Petrel.start({ toml: withExample("lmtp-domain.ts", `lmtp_domains = ["mail.petrel.test"]\nlmtp_url = "lmtp://127.0.0.1:2424"`) }),
    bcc: () =>
      Petrel.start({ toml: withExample("compliance-bcc.ts", `compliance_domains = ["finance.petrel.test"]\ncompliance_mailbox = "journal@localhost"`) }),
    // Office hours that start in two hours: closed now, whatever the day and hour the test runs.
    time: () =>
      Petrel.start({ toml: withExample("time-of-day.ts", `bulk_senders = ["news@petrel.test"]\ntimezone = "UTC"\noffice_hours = "${closedHours}"`) }),
  };
  if (dns !== null) {
    configs["dnsbl"] = async () => {
      const { port } = await dns;
      const zones = `dnsbl_zones = ["zen.example", "down.example", "slow.example"]`;
      // dnsbl_timeout_ms is the default 2000, past half the rule's deadline: the rule caps it at 1500 ms, which
      // leaves 1.5 s for a loaded machine to finish the stage (1 s of rules.timeout with 500 ms lookups did not).
      return Petrel.start({ toml: withExample("dnsbl.ts", `${zones}\ndnsbl_resolver = "127.0.0.1:${port}"`, { timeout: "3s" }) });
    };
  }
  const started = await Promise.allSettled(Object.entries(configs).map(async ([name, start]) => (servers[name] = await start())));
  const failed = started.find((result) => result.status === "rejected");
  if (failed !== undefined) throw failed.reason;
});

after(async () => {
  await Promise.all(Object.values(servers).map((server) => server.remove()));
  await dnsmasq?.stop();
  silent?.close();
  await rm(scratch, { recursive: true, force: true });
});

test("relay-control: local domains for anyone; elsewhere only from smtp.relay_networks, extra_relay_networks or after AUTH, else 550 5.7.1", async () => {
  const server = petrel("relay");
  const stranger = await from(server, "127.0.0.1");
  assert.equal((await stranger.command("MAIL FROM:<someone@elsewhere.example>"))?.code, 250);
  assert.equal((await stranger.command("RCPT TO:<postmaster@petrel.test>"))?.code, 250);
  assert.equal((await stranger.command("RCPT TO:<friend@other.example>"))?.text, "550 5.7.1 relaying to other.example denied: authenticate first");
  assert.equal((await stranger.command("RCPT TO:<mx@backup.example>"))?.code, 250, "relay_domains: taken from anyone");
  stranger.close();
  const refused = await server.waitFor((line) => line.msg === "relay refused");
  assert.deepEqual([refused["client"], refused["recipient"], refused["rule"]], ["127.0.0.1", "friend@other.example", "relayControl"]);

  const trusted = await from(server, "127.0.0.2");
  const id = queueIdOf(await trusted.sendMail("app@petrel.test", ["friend@other.example"], "Subject: report\r\n\r\nx\r\n"));
  assert.deepEqual((await server.spooled(id)).envelope.recipients.map((recipient) => recipient.address), ["friend@other.example"]);
  await verdict(server, "relayControl", "accept");
  trusted.close();

  const extra = await from(server, "127.0.0.3"); // in extra_relay_networks, not in smtp.relay_networks
  assert.equal((await extra.command("MAIL FROM:<app@petrel.test>"))?.code, 250);
  assert.equal((await extra.command("RCPT TO:<friend@other.example>"))?.code, 250);
  await verdict(server, "relayControl", "accept", 2);
  extra.close();

  const user = await loggedIn(submission.relay);
  const sent = queueIdOf(await user.sendMail("alice@petrel.test", ["friend@other.example"], "Subject: hi\r\n\r\nx\r\n"));
  assert.equal((await server.spooled(sent)).envelope.recipients[0]?.address, "friend@other.example");
  user.close();
  await verdict(server, "relayControl", "accept", 3); // the rule accepted it, not the built-in relay control
});

test("recipient-quota: the fourth message to one recipient within the hour gets 452 4.2.2; other recipients go on; a quota that is not a number fails closed", async () => {
  const server = petrel("quota");
  const client = await from(server, "127.0.0.1");
  for (let i = 1; i <= 3; i++) queueIdOf(await client.sendMail("sender@elsewhere.example", ["bob@petrel.test"], `Subject: ${i}\r\n\r\nx\r\n`));
  assert.equal((await client.command("MAIL FROM:<sender@elsewhere.example>"))?.code, 250);
  assert.equal((await client.command("RCPT TO:<Bob@petrel.test>"))?.text, "452 4.2.2 bob@petrel.test has received too many messages this hour, try again later");
  assert.equal((await client.command("RCPT TO:<carol@petrel.test>"))?.code, 250);
  assert.equal((await client.command("DATA"))?.code, 354);
  const id = queueIdOf(await client.command("Subject: 4\r\n\r\nx\r\n."));
  assert.deepEqual((await server.spooled(id)).envelope.recipients.map((recipient) => recipient.address), ["carol@petrel.test"]);
  client.close();
  const line = await server.waitFor((entry) => entry.msg === "recipient over quota");
  assert.deepEqual([line["recipient"], line["quota"], line["stage"]], ["bob@petrel.test", 3, "rcpt"]);

  // A quota written as a string: 451 4.3.0 for local recipients rather than no quota, and the log names the setting.
  await server.writeConfig(withExample("recipient-quota.ts", `recipient_quota = "3"`));
  server.process.kill("SIGHUP");
  await server.waitForMessage("configuration reloaded");
  const misconfigured = await from(server, "127.0.0.1");
  assert.equal((await misconfigured.command("MAIL FROM:<sender@elsewhere.example>"))?.code, 250);
  assert.equal((await misconfigured.command("RCPT TO:<dave@petrel.test>"))?.text, "451 4.3.0 temporary local problem, try again later");
  misconfigured.close();
  const failed = await server.waitFor((entry) => entry["event"] === "rule-failed" && entry["rule"] === "recipientQuota");
  assert.equal(failed["error"], 'TypeError: rules.settings.recipient_quota: expected an integer of at least 1, got "3"');
});

test("header-rewrite: mail submitted with smtplib loses its leaking fields and gets X-Petrel-Policy; inbound mail keeps them", async () => {
  const server = petrel("headers");
  const script = [
    "import smtplib, sys",
    "with smtplib.SMTP('127.0.0.1', int(sys.argv[1])) as s:",
    "    s.ehlo('laptop.petrel.test')",
    "    s.login('alice@petrel.test', sys.argv[2])",
    "    s.mail('alice@petrel.test')",
    "    s.rcpt('friend@elsewhere.example')",
    "    code, text = s.data(sys.stdin.read())",
    "    print(code, text.decode())",
  ].join("\n");
  const message = [
    "From: Alice <alice@petrel.test>",
    "To: friend@elsewhere.example",
    "Subject: holiday pictures",
    "X-Originating-IP: [192.168.1.23]",
    "User-Agent: Mozilla/5.0 Thunderbird/115.3.1",
    "X-Mailer: Microsoft Outlook 16.0",
    "X-Petrel-Policy: made up by the client",
    "",
    "See you soon.",
    "",
  ].join("\r\n");
  const child = execFile("python3", ["-c", script, String(submission.headers), PASSWORD]);
  child.stdin!.end(message);
  const stdout = await new Promise<string>((resolve, reject) => {
    let out = "";
    child.stdout!.on("data", (chunk: string) => (out += chunk));
    child.on("close", (code) => (code === 0 ? resolve(out) : reject(new Error(`python3 exited with ${code}: ${out}`))));
  });
  const id = /^250 2\.0\.0 queued as (\S+)/.exec(stdout)?.[1];
  assert.ok(id, stdout);
  // The forged policy field was replaced in place; whatever Petrel adds to submitted mail (Date, Message-ID) comes before.
  const content = (await server.spooled(id)).content.toString("utf8");
  assert.doesNotMatch(content, /^(X-Originating-IP|User-Agent|X-Mailer):/im);
  assert.equal(content.split("X-Petrel-Policy").length, 2, "one X-Petrel-Policy field");
  assert.ok(
    content.endsWith(
      "From: Alice <alice@petrel.test>\r\nTo: friend@elsewhere.example\r\nSubject: holiday pictures\r\n" +
        "X-Petrel-Policy: submission; privacy headers removed\r\n\r\nSee you soon.\r\n",
    ),
    content,
  );
  const line = await server.waitFor((entry) => entry.msg === "headers rewritten");
  assert.deepEqual([line["queueId"], line["user"], line["removed"]], [id, "alice@petrel.test", 3]);

  const inbound = await from(server, "127.0.0.1");
  const kept = queueIdOf(await inbound.sendMail("friend@elsewhere.example", ["alice@petrel.test"], message));
  const inboundContent = (await server.spooled(kept)).content.toString("utf8");
  assert.match(inboundContent, /^User-Agent: Mozilla\/5\.0 Thunderbird\/115\.3\.1\r$/m);
  assert.match(inboundContent, /^X-Originating-IP: \[192\.168\.1\.23\]\r$/m);
  assert.doesNotMatch(inboundContent, /X-Petrel-Policy/, "only we write X-Petrel-Policy");
  inbound.close();
});

test("reject-executables: swaks attaching Invoice.PDF.exe gets 550 5.7.1 after DATA; a PDF goes through", async () => {
  const server = petrel("executables");
  const swaks = (name: string) =>
    run("swaks", [
      "--server", `127.0.0.1:${server.port}`, "--from", "billing@elsewhere.example", "--to", "postmaster@petrel.test",
      "--attach-name", name, "--attach", "MZ pretend this is a program",
    ]).catch((error: { stdout: string }) => error);
  const refused = await swaks("Invoice.PDF.exe");
  assert.match(refused.stdout, /<\*\* +550 5\.7\.1 attachment "Invoice\.PDF\.exe" refused: \.exe files are not accepted here/);
  const line = await server.waitFor((entry) => entry.msg === "executable attachment refused");
  assert.deepEqual([line["filename"], line["sender"]], ["Invoice.PDF.exe", "billing@elsewhere.example"]);
  await server.waitFor((entry) => entry["event"] === "refused" && entry["reason"] === "rule");
  const accepted = await swaks("invoice.pdf");
  assert.match(accepted.stdout, /<- +250 2\.0\.0 queued as /);

  // A trailing dot does not hide the extension (Windows drops it), nor does a name in RFC 2231 pieces.
  const client = await from(server, "127.0.0.1");
  const mime = (disposition: string) =>
    `Subject: scan\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n` +
    `--b\r\nContent-Type: application/octet-stream\r\nContent-Disposition: ${disposition}\r\nContent-Transfer-Encoding: base64\r\n\r\nTVo=\r\n--b--\r\n`;
  for (const [disposition, shown] of [
    ['attachment; filename="update.scr."', "update\\.scr\\."],
    ['attachment; filename*0="scan.pdf"; filename*1=".js"', "scan\\.pdf\\.js"],
  ] as const) {
    assert.equal((await client.command("MAIL FROM:<x@elsewhere.example>"))?.code, 250);
    assert.equal((await client.command("RCPT TO:<postmaster@petrel.test>"))?.code, 250);
    assert.equal((await client.command("DATA"))?.code, 354);
    const reply = await client.command(`${mime(disposition)}.`);
    assert.match(reply?.text ?? "", new RegExp(`^550 5\\.7\\.1 attachment "${shown}" refused`), disposition);
  }
  client.close();
});

test("quarantine-suspicious: bait subjects from a foreign From domain and Reply-To away from our local domains go to quarantine/", async () => {
  const server = petrel("suspicious");
  const client = await from(server, "127.0.0.1");
  const bait = "From: Bank Security <security@bank.example>\r\nSubject: =?UTF-8?Q?Please_verify_your_account?=\r\n\r\nclick\r\n";
  const phishing = queueIdOf(await client.sendMail("bounce@mailer.example", ["bob@petrel.test"], bait));
  assert.equal((await inQuarantine(server, phishing)).quarantine, "suspicious");
  const genuine = queueIdOf(await client.sendMail("alerts@bounces.bank.example", ["bob@petrel.test"], bait));
  assert.equal((await server.spooled(genuine)).envelope.quarantine, undefined, "From and sender in one domain: queued");
  const fraud = "From: The CEO <ceo@petrel.test>\r\nReply-To: ceo.private@freemail.example\r\nSubject: quick favour\r\n\r\nurgent\r\n";
  const ceo = queueIdOf(await client.sendMail("ceo@petrel.test", ["accounting@petrel.test"], fraud));
  assert.equal((await inQuarantine(server, ceo)).quarantine, "suspicious");
  const reply = "From: Bob <bob@partner.example>\r\nReply-To: sales@partner-help.example\r\nSubject: offer\r\n\r\nx\r\n";
  const other = queueIdOf(await client.sendMail("bob@partner.example", ["accounting@petrel.test"], reply));
  await server.spooled(other); // Reply-To elsewhere, but From is not one of ours: queued
  // Read as parsed addresses: an address in the display name does not hide From, a second Reply-To counts too.
  const disguised = 'From: "Accounts <accounts@partner.example>" <ceo@petrel.test>\r\nReply-To: ceo@petrel.test, ceo@freemail.example\r\nSubject: x\r\n\r\nx\r\n';
  const hidden = queueIdOf(await client.sendMail("ceo@petrel.test", ["accounting@petrel.test"], disguised));
  assert.equal((await inQuarantine(server, hidden)).quarantine, "suspicious");
  client.close();
  const app = await from(server, "127.0.0.3"); // in smtp.relay_networks: our own application
  const shop = queueIdOf(await app.sendMail("shop@petrel.test", ["accounting@petrel.test"], fraud));
  assert.equal((await server.spooled(shop)).envelope.quarantine, undefined, "our own application: queued");
  app.close();
  assert.deepEqual((await readdir(join(server.spool, "quarantine"))).sort(), [phishing, ceo, hidden].sort());
  const reasons = await Promise.all([
    server.waitFor((line) => line.msg === "suspicious message" && line["queueId"] === phishing),
    server.waitFor((line) => line.msg === "suspicious message" && line["queueId"] === ceo),
  ]);
  assert.deepEqual(reasons.map((line) => line["rule"]), ["phishingSubjectFromElsewhere", "replyToElsewhere"]);
  await server.waitFor((line) => line["event"] === "quarantined" && line["queueId"] === ceo && line["quarantine"] === "suspicious");
});

test("archive-copy: every message lands in <archive>/<day>/<id>.eml, byte for byte as spooled, with a .json beside it", async () => {
  const server = petrel("archive");
  const client = await from(server, "127.0.0.1");
  const id = queueIdOf(await client.sendMail("sender@elsewhere.example", ["bob@petrel.test", "carol@petrel.test"], "Subject: minutes\r\n\r\nagreed\r\n"));
  client.close();
  const archive = join(scratch, "archive");
  const days = await readdir(archive);
  assert.equal(days.length, 1);
  assert.match(days[0]!, /^\d{4}-\d\d-\d\d$/);
  const folder = join(archive, days[0]!);
  assert.deepEqual((await readdir(folder)).sort(), [`${id}.eml`, `${id}.json`]);
  assert.deepEqual(await readFile(join(folder, `${id}.eml`)), (await server.spooled(id)).body);
  const json = JSON.parse(await readFile(join(folder, `${id}.json`), "utf8")) as {
    envelope: { sender: string; recipients: Array<{ address: string }> };
    mime: { subject: string };
  };
  assert.equal(json.envelope.sender, "sender@elsewhere.example");
  assert.deepEqual(json.envelope.recipients.map((recipient) => recipient.address), ["bob@petrel.test", "carol@petrel.test"]);
  assert.equal(json.mime.subject, "minutes");
  const line = await server.waitFor((entry) => entry.msg === "archived" && entry["queueId"] === id);
  assert.equal(line["path"], join(folder, `${id}.eml`));
});

test("lmtp-domain: recipients of lmtp_domains get the LMTP route in the queue, others the default", async () => {
  const server = petrel("lmtp");
  const client = await from(server, "127.0.0.1");
  const id = queueIdOf(await client.sendMail("sender@elsewhere.example", ["ann@mail.petrel.test", "bob@petrel.test", "Cid@MAIL.petrel.test"], "Subject: x\r\n\r\nx\r\n"));
  client.close();
  assert.deepEqual(
    (await server.spooled(id)).envelope.recipients.map((recipient) => [recipient.address, recipient.route]),
    [
      ["ann@mail.petrel.test", { kind: "lmtp", url: "lmtp://127.0.0.1:2424" }],
      ["bob@petrel.test", undefined],
      ["Cid@mail.petrel.test", { kind: "lmtp", url: "lmtp://127.0.0.1:2424" }],
    ],
  );
});

test("compliance-bcc: mail from or to the finance domain gets the journal mailbox as a blind envelope recipient", async () => {
  const server = petrel("bcc");
  const client = await from(server, "127.0.0.1");
  const content = "From: cfo@finance.petrel.test\r\nTo: bob@petrel.test\r\nSubject: Q3\r\n\r\nnumbers\r\n";
  const outgoing = queueIdOf(await client.sendMail("cfo@finance.petrel.test", ["bob@petrel.test"], content));
  const incoming = queueIdOf(await client.sendMail("supplier@elsewhere.example", ["bob@petrel.test", "ap@finance.petrel.test"], content));
  const unrelated = queueIdOf(await client.sendMail("supplier@elsewhere.example", ["bob@petrel.test"], content));
  client.close();
  const recipients = async (id: string) => (await server.spooled(id)).envelope.recipients.map((recipient) => recipient.address);
  assert.deepEqual(await recipients(outgoing), ["bob@petrel.test", "journal@localhost"]);
  assert.deepEqual(await recipients(incoming), ["bob@petrel.test", "ap@finance.petrel.test", "journal@localhost"]);
  assert.deepEqual(await recipients(unrelated), ["bob@petrel.test"]);
  assert.ok(!(await server.spooled(outgoing)).content.includes("journal"), "the copy is blind: the message is unchanged");
  await server.waitForCount((line) => line.msg === "compliance copy" && line["mailbox"] === "journal@localhost", 2);
});

test("time-of-day: outside office hours the bulk sender gets 451 4.7.1 at MAIL; after a reload with hours that include now, it sends", async () => {
  const server = petrel("time");
  const closed = await from(server, "127.0.0.1");
  assert.equal(
    (await closed.command("MAIL FROM:<news@petrel.test>"))?.text,
    `451 4.7.1 bulk mail is accepted during office hours only (${closedHours} UTC), try again later`,
  );
  queueIdOf(await closed.sendMail("alice@petrel.test", ["bob@petrel.test"], "Subject: not bulk\r\n\r\nx\r\n"));
  closed.close();
  const held = await server.waitFor((line) => line.msg === "bulk mail held until office hours");
  assert.deepEqual([held["sender"], held["officeHours"]], ["news@petrel.test", `${closedHours} UTC`]);

  // Every day of the week, from an hour ago to an hour from now: open.
  const days = `office_days = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]`;
  await server.writeConfig(withExample("time-of-day.ts", `bulk_senders = ["news@petrel.test"]\ntimezone = "UTC"\noffice_hours = "${officeHours(-1, 1)}"\n${days}`));
  server.process.kill("SIGHUP");
  await server.waitForMessage("configuration reloaded");
  const open = await from(server, "127.0.0.1");
  queueIdOf(await open.sendMail("news@petrel.test", ["bob@petrel.test"], "Subject: newsletter\r\n\r\nx\r\n"));
  open.close();
});

test("dnsbl: a client listed in zen.example (dnsmasq) gets 554 5.7.1 and is cut off; a failed lookup lets a client through, before the rule's deadline", { skip: DNSMASQ === null ? "dnsmasq is not installed (apt-get install dnsmasq-base)" : false }, async () => {
  const server = petrel("dnsbl");
  const listed = await RawClient.open(server.port, "127.0.0.1", "127.0.0.2");
  assert.equal((await listed.read())?.text, "554 5.7.1 client [127.0.0.2] blocked using zen.example");
  assert.equal(await listed.read(), null, "the server closed the connection");
  const line = await server.waitFor((entry) => entry.msg === "client listed");
  assert.deepEqual([line["client"], line["zone"], line["rule"]], ["127.0.0.2", "zen.example", "dnsBlocklist"]);

  // 127.0.0.1: NXDOMAIN in zen.example (not listed), REFUSED for down.example and no answer for slow.example
  // (outages): greeted, with a warning for each. The silent list costs 1500 ms, half of rules.timeout: waiting the
  // default 2000 ms would come too close to the rule's deadline, past which the stage fails closed (421).
  const clean = await from(server, "127.0.0.1");
  assert.equal((await clean.command("QUIT"))?.code, 221);
  const warned = (zone: string) =>
    server.waitFor((entry) => entry.msg === "DNSBL lookup failed, client let through" && entry["client"] === "127.0.0.1" && entry["zone"] === zone);
  const [down, slow] = await Promise.all([warned("down.example"), warned("slow.example")]);
  assert.deepEqual([down["level"], down["error"], slow["error"]], ["warn", "EREFUSED", "ETIMEOUT"]);
  assert.ok(!server.lines.some((entry) => entry.msg === "client listed" && entry["client"] === "127.0.0.1"));
});
