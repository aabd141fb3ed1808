// Relaying end to end: a Petrel sends through a SECOND PETREL (the hub) that requires AUTH on a submission
// listener, with credentials named in delivery.credentials (user + password file); through per-domain
// delivery.transports entries; and along routes a rule gives at RCPT (ctx.route.relay). Receivers: the hub (its
// delivery paused, so what it took waits in its incoming/) and Postfix's smtp-sink. Checked: the hub's Received
// header says ESMTPSA (STARTTLS + AUTH) or ESMTPA (AUTH in clear, to loopback only); a wrong password is refused
// for good (535: failed, DSN to the sender); tls = "required" to a server without STARTTLS defers; one message's
// recipients reach the receivers their routes name; a rule route without a port is tried on the scheme's port
// (25); the password never appears in the sender's files or logs. Certificates: the hub has one for its name and
// 127.0.0.1 (made with openssl); a relay with tls = "required" must present one that verifies against
// delivery.tls_ca_file and the address it is reached at (127.0.0.2 does not match: deferred, 4.7.5), unless the
// next hop says verify = false.

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, type LogLine, Petrel } from "./support/petrel-process.ts";
import { queueIdOf, RawClient } from "./support/smtp-client.ts";
import { SMTP_SINK, type SmtpSink, startSmtpSink } from "./support/smtp-sink.ts";

const skip = SMTP_SINK === null ? "smtp-sink is not installed (postfix)" : false;

const MAIN = new URL("../src/cli/main.ts", import.meta.url).pathname;
const USER = "relay-client";
const PASSWORD = "hub password 7Qe!x";

let secrets: string; // outside the sender's directory: the password files
let hub: Petrel;
let hubPort = 0; // the hub's submission listener, on 127.0.0.1 (in its certificate) and 127.0.0.2 (not in it)
let hubOtherPort = 0;
let sender: Petrel;
let transportSink: SmtpSink; // delivery.transports (no STARTTLS: tls = "required" to it defers)
let ruleSink: SmtpSink; // a rule's route

/** `petrel user add` into a users file of its own; `* USER` in a sender_logins file: USER may send as anyone. */
async function hubAccounts(dir: string): Promise<{ users: string; senderLogins: string }> {
  const config = join(dir, "accounts.toml");
  await writeFile(config, `[auth]\nusers = "${join(dir, "users")}"\n`);
  const code = await new Promise<number | null>((resolve) => {
    const child = spawn(process.execPath, [MAIN, "user", "add", USER, "--config", config], { stdio: ["pipe", "ignore", "inherit"] });
    child.on("close", resolve);
    child.stdin.end(`${PASSWORD}\n`);
  });
  assert.equal(code, 0, "petrel user add");
  await writeFile(join(dir, "sender-logins"), `*  ${USER}\n`);
  return { users: join(dir, "users"), senderLogins: join(dir, "sender-logins") };
}

const RULES = `import { defineRules, stringSetting } from "petrel/rules";
export default defineRules({
  rcpt: [
    function routeByDomain(ctx) {
      if (ctx.rcpt.domain === "ruled.example") ctx.route.relay(stringSetting(ctx.settings, "sink_url"), { tls: "none" });
      if (ctx.rcpt.domain === "ruled-auth.example") ctx.route.relay(stringSetting(ctx.settings, "hub_url"), { tls: "none", credentials: "hub" });
      if (ctx.rcpt.domain === "portless.example") ctx.route.relay("smtp://127.0.0.33", { tls: "none" }); // port 25
      // STARTTLS by default (required), to a server that has none.
      if (ctx.rcpt.domain === "ruled-strict.example") ctx.route.relay(stringSetting(ctx.settings, "strict_url"), { credentials: "hub" });
    },
  ],
});
`;

before(async () => {
  if (skip !== false) return;
  secrets = await mkdtemp(join(tmpdir(), "petrel-secrets-"));
  await writeFile(join(secrets, "hub.password"), `${PASSWORD}\n`, { mode: 0o600 });
  await writeFile(join(secrets, "wrong.password"), "not the password\n", { mode: 0o600 });
  await writeFile(join(secrets, "routes.ts"), RULES);
  const accounts = await hubAccounts(secrets);
  const certificate = await hubCertificate(secrets);
  hubPort = await freePort();
  hubOtherPort = await freePort("127.0.0.2");
  hub = await Petrel.start({
    toml: [
      `[auth]\nusers = "${accounts.users}"\nsender_logins = "${accounts.senderLogins}"\nfailure_delay = "10ms"\nmax_failures = 100`,
      `[tls]\ncertificate = "${certificate.certificate}"\nkey = "${certificate.key}"`,
      `[[listener]]\nname = "submission"\naddress = "127.0.0.1"\nport = ${hubPort}\nrole = "submission"\nplaintext_auth = true`,
      `[[listener]]\nname = "submission-other"\naddress = "127.0.0.2"\nport = ${hubOtherPort}\nrole = "submission"\nplaintext_auth = true`,
    ].join("\n"),
  });
  transportSink = await startSmtpSink("127.0.0.31", await freePort("127.0.0.31"));
  ruleSink = await startSmtpSink("127.0.0.32", await freePort("127.0.0.32"));
  const hubUrl = `smtp://127.0.0.1:${hubPort}`;
  const sinkUrl = `smtp://127.0.0.31:${transportSink.port}`;
  sender = await Petrel.start({
    toml: [
      `[smtp]\nlocal_domains = ["petrel.test"]\nrelay_networks = ["127.0.0.0/8"]`,
      `[rules]\nfiles = ["${join(secrets, "routes.ts")}"]`,
      `[rules.settings]\nhub_url = "${hubUrl}"\nsink_url = "smtp://127.0.0.32:${ruleSink.port}"\nstrict_url = "${sinkUrl}"`,
      `[delivery]\nrelay = { url = "${hubUrl}", tls = "opportunistic", credentials = "hub" }\nretry_min = "1s"\nretry_max = "2s"`,
      `tls_ca_file = "${certificate.certificate}"`,
      `[delivery.transports]\n"wrong.example" = { url = "${hubUrl}", credentials = "wrong" }`,
      `"verified.example" = { url = "${hubUrl}", tls = "required", credentials = "hub" }`,
      `"mismatch.example" = { url = "smtp://127.0.0.2:${hubOtherPort}", tls = "required", credentials = "hub" }`,
      `"unverified.example" = { url = "smtp://127.0.0.2:${hubOtherPort}", tls = "required", credentials = "hub", verify = false }`,
      `"strict.example" = { url = "${sinkUrl}", tls = "required" }\n"sink.example" = "${sinkUrl}"`,
      `[delivery.credentials]\nhub = { user = "${USER}", password_file = "${join(secrets, "hub.password")}" }`,
      `wrong = { user = "${USER}", password_file = "${join(secrets, "wrong.password")}" }`,
    ].join("\n"),
  });
});

after(async () => {
  await sender?.remove();
  await hub?.remove();
  await Promise.all([transportSink?.stop(), ruleSink?.stop()]);
  if (secrets !== undefined) await rm(secrets, { recursive: true, force: true });
});

/** A self-signed certificate for hub.petrel.test and 127.0.0.1 (its own authority), made with openssl. */
async function hubCertificate(dir: string): Promise<{ certificate: string; key: string }> {
  const certificate = join(dir, "hub.crt");
  const key = join(dir, "hub.key");
  const args = ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2"];
  args.push("-keyout", key, "-out", certificate, "-subj", "/CN=hub.petrel.test", "-addext", "subjectAltName=DNS:hub.petrel.test,IP:127.0.0.1");
  const code = await new Promise<number | null>((resolve) => spawn("openssl", args, { stdio: "ignore" }).on("close", resolve));
  assert.equal(code, 0, "openssl req");
  return { certificate, key };
}

async function send(recipients: readonly string[], content: string): Promise<string> {
  const client = await RawClient.greeted(sender.port, { ehlo: "client.example" });
  const id = queueIdOf(await client.sendMail("alice@petrel.test", recipients, content));
  await client.command("QUIT");
  client.close();
  return id;
}

/** The first attempt's log line for a recipient, checked to have `result`. */
async function firstAttempt(server: Petrel, id: string, recipient: string, result: string): Promise<LogLine> {
  const line = await server.waitFor((entry) => entry["event"] === "delivery" && entry["queueId"] === id && entry["recipient"] === recipient);
  assert.equal(line["result"], result, `${recipient}: ${String(line["reply"])}`);
  return line;
}

/** The hub's queue id in the reply the sender logged ("250 2.0.0 queued as ID"). */
function hubId(line: LogLine): string {
  const id = /queued as (\S+)/.exec(String(line["reply"]))?.[1];
  assert.ok(id, `the hub's reply: ${String(line["reply"])}`);
  return id;
}

/** The hub's Received header (its first line: "from ... by ... with PROTOCOL id ..."). */
async function hubReceived(id: string): Promise<{ received: string; content: string }> {
  const spooled = await hub.spooled(id);
  return { received: spooled.received.replace(/\r\n\s+/g, " "), content: spooled.content.toString("latin1") };
}

/** The messages smtp-sink got, as text, once one contains `needle`. */
async function arrivedAt(sink: SmtpSink, needle: string): Promise<string> {
  for (;;) {
    const found = (await sink.messages()).map((message) => message.toString("latin1")).find((text) => text.includes(needle));
    if (found !== undefined) return found;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

test("relay with AUTH over STARTTLS: the message waits in the hub's incoming/, received with ESMTPSA", { skip }, async () => {
  const id = await send(["friend@far.example"], "Subject: through the hub\r\nMessage-ID: <hub-1@petrel.test>\r\n\r\nhello hub\r\n");
  const line = await firstAttempt(sender, id, "friend@far.example", "delivered");
  assert.equal(line["route"], `smtp://127.0.0.1:${hubPort}`);
  const { received, content } = await hubReceived(hubId(line));
  assert.match(received, / with ESMTPSA id /);
  assert.match(received, /using TLSv1\.[23]/);
  assert.ok(content.includes("Message-ID: <hub-1@petrel.test>"));
  assert.ok(content.includes("hello hub"));
  const envelope = (await hub.spooled(hubId(line))).envelope;
  assert.equal(envelope.sender, "alice@petrel.test");
  assert.deepEqual(envelope.recipients.map((recipient) => recipient.address), ["friend@far.example"]);
});

test("a wrong password: 535 is permanent, the recipient fails and the sender gets a DSN", { skip }, async () => {
  const id = await send(["someone@wrong.example"], "Subject: wrong password\r\nMessage-ID: <wrong-1@petrel.test>\r\n\r\nx\r\n");
  const line = await firstAttempt(sender, id, "someone@wrong.example", "failed");
  assert.match(String(line["status"]), /^5\.7\./);
  assert.match(String(line["reply"]), /535/);
  const dsn = await sender.waitFor((entry) => entry["event"] === "dsn" && entry["queueId"] === id);
  await firstAttempt(sender, String(dsn["dsn"]), "alice@petrel.test", "delivered");
  const folder = join(sender.dir, "var", "mail", "petrel.test", "alice", "new");
  const reports = await Promise.all((await readdir(folder)).map((name) => readFile(join(folder, name), "latin1")));
  const report = reports.find((text) => text.includes("<wrong-1@petrel.test>"));
  assert.ok(report, "the DSN returns the message");
  assert.match(report, /Final-Recipient: rfc822; ?someone@wrong\.example/i);
  assert.match(report, /Action: failed/);
  assert.match(report, /Status: 5\.7\.\d+/);
  // The remote's reply as it gave it, typed "smtp" (RFC 3464 §2.3.6), as a reply in the transaction would be.
  assert.match(report.replace(/\n /g, " "), /Diagnostic-Code: smtp; 535 5\.7\.8/);
  // The hub was reached by its address: Remote-MTA names it as an address literal.
  assert.match(report, /^Remote-MTA: dns; \[127\.0\.0\.1\]$/m);
});

test('tls = "required" (a transports entry, a rule route\'s default) to a server without STARTTLS defers; the message waits in deferred/', { skip }, async () => {
  const recipients = ["someone@strict.example", "other@ruled-strict.example"];
  const id = await send(recipients, "Subject: strict\r\nMessage-ID: <strict-1@petrel.test>\r\n\r\nx\r\n");
  for (const recipient of recipients) {
    const line = await firstAttempt(sender, id, recipient, "deferred");
    assert.equal(line["status"], "4.7.5");
    assert.match(String(line["reply"]), /STARTTLS/);
  }
  await sender.waitFor((entry) => entry.msg === "message deferred" && entry["queueId"] === id);
  const envelope = JSON.parse(await readFile(join(sender.spool, "deferred", id), "utf8")) as { recipients: Array<{ route?: { credentials?: string } }> };
  assert.equal(envelope.recipients[1]?.route?.credentials, "hub", "the queued route names its credentials, and only names them");
  assert.ok(!(await transportSink.messages()).some((message) => message.includes("<strict-1@petrel.test>")), "nothing went out in clear");
});

test('tls = "required": the relay\'s certificate must verify against delivery.tls_ca_file and its address; verify = false takes any', { skip }, async () => {
  const recipients = ["a@verified.example", "b@mismatch.example", "c@unverified.example"];
  const id = await send(recipients, "Subject: verified\r\nMessage-ID: <verify-1@petrel.test>\r\n\r\nx\r\n");
  const verified = await firstAttempt(sender, id, "a@verified.example", "delivered");
  assert.match((await hubReceived(hubId(verified))).received, / with ESMTPSA id /);
  const mismatch = await firstAttempt(sender, id, "b@mismatch.example", "deferred");
  assert.equal(mismatch["status"], "4.7.5");
  assert.match(String(mismatch["reply"]), /IP: 127\.0\.0\.2 is not in the cert's list|certificate/i);
  const unverified = await firstAttempt(sender, id, "c@unverified.example", "delivered");
  assert.match((await hubReceived(hubId(unverified))).received, / with ESMTPSA id /);
  assert.deepEqual((await hub.spooled(hubId(unverified))).envelope.recipients.map((recipient) => recipient.address), ["c@unverified.example"]);
});

test("one message, three routes: a transports entry, a rule route to a sink, a rule route to the hub with AUTH in clear (ESMTPA)", { skip }, async () => {
  const recipients = ["one@sink.example", "two@ruled.example", "three@ruled-auth.example"];
  const id = await send(recipients, "Subject: three ways\r\nMessage-ID: <three-1@petrel.test>\r\n\r\nx\r\n");
  const [viaTransport, viaRule, viaHub] = await Promise.all(recipients.map((recipient) => firstAttempt(sender, id, recipient, "delivered")));
  assert.equal(viaTransport!["route"], `smtp://127.0.0.31:${transportSink.port}`);
  assert.equal(viaRule!["route"], `smtp://127.0.0.32:${ruleSink.port}`);
  assert.equal(viaHub!["route"], `smtp://127.0.0.1:${hubPort}`);
  const atTransport = await arrivedAt(transportSink, "<three-1@petrel.test>");
  assert.match(atTransport, /X-Rcpt-Args: <one@sink\.example>/);
  assert.doesNotMatch(atTransport, /two@|three@/);
  const atRule = await arrivedAt(ruleSink, "<three-1@petrel.test>");
  assert.match(atRule, /X-Rcpt-Args: <two@ruled\.example>/);
  assert.doesNotMatch(atRule, /one@|three@/);
  const { received } = await hubReceived(hubId(viaHub!));
  assert.match(received, / with ESMTPA id /);
  assert.deepEqual((await hub.spooled(hubId(viaHub!))).envelope.recipients.map((recipient) => recipient.address), ["three@ruled-auth.example"]);
});

test("a rule route without a port (smtp://host) is tried on port 25; the run does not fail", { skip }, async () => {
  const id = await send(["someone@portless.example"], "Subject: no port\r\n\r\nx\r\n");
  const line = await sender.waitFor((entry) => entry["queueId"] === id && (entry["event"] === "delivery" || /delivery run failed/.test(entry.msg)));
  assert.equal(line["event"], "delivery", `the run failed: ${JSON.stringify(line["err"])}`);
  assert.equal(line["route"], "smtp://127.0.0.33:25");
  assert.equal(line["result"], "deferred", "nobody listens on 127.0.0.33:25");
  assert.equal(line["remote"], "[127.0.0.33]:25");
});

/** Every file under `dir`, as bytes. */
async function filesUnder(dir: string): Promise<Array<{ path: string; bytes: Buffer }>> {
  const files: Array<{ path: string; bytes: Buffer }> = [];
  for (const name of await readdir(dir, { recursive: true })) {
    const path = join(dir, name);
    if ((await stat(path)).isFile()) files.push({ path, bytes: await readFile(path) });
  }
  return files;
}

test("the password is in no file of the sender (spool, mailboxes, configuration) and in no log line", { skip }, async () => {
  assert.ok(sender.lines.some((line) => line["event"] === "delivery" && line["result"] === "delivered"), "the other tests ran first");
  const plain = Buffer.from(`\0${USER}\0${PASSWORD}`).toString("base64");
  const forms = [PASSWORD, plain, Buffer.from(PASSWORD).toString("base64")];
  for (const { path, bytes } of await filesUnder(sender.dir)) {
    for (const form of forms) assert.ok(!bytes.includes(form), `${path} holds the password (${form})`);
  }
  const log = JSON.stringify(sender.lines);
  for (const form of forms) assert.ok(!log.includes(form), `a log line holds the password (${form})`);
  assert.ok((await readdir(join(sender.spool, "deferred"))).length > 0, "a queued message with a credentials route was there to look at");
});
