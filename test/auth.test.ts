// SMTP AUTH on a submission listener with real clients: `petrel user add|list|remove`, swaks with PLAIN and
// LOGIN over STARTTLS, Python's smtplib, SCRAM-SHA-256 through a client written here from RFC 5802, AUTH
// refused before TLS, MAIL refused without AUTH, relay allowed after it, senders a user does not own (by the
// default rule and by an auth.sender_logins map, through nodemailer), and
// the lockout of an address that keeps failing.

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { createHash, createHmac, pbkdf2Sync, randomBytes } from "node:crypto";
import { mkdtemp, readFile, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { createTransport } from "nodemailer";
import { Petrel, freePort } from "./support/petrel-process.ts";
import { RawClient, queueIdOf } from "./support/smtp-client.ts";

const run = promisify(execFile);
const MAIN = new URL("../src/cli/main.ts", import.meta.url).pathname;
const PASSWORD = "correct horse battery";

let petrel: Petrel;
let submission: number;

function petrelCommand(args: string[], input = ""): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [MAIN, ...args, "--config", petrel.configPath]);
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk));
    child.on("close", (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(input);
  });
}

before(async () => {
  submission = await freePort();
  const dir = await mkdtemp(join(tmpdir(), "petrel-auth-"));
  await writeFile(join(dir, "sender-logins"), "sales@petrel.test  bob   # bob answers for sales\n");
  petrel = await Petrel.start({
    dir,
    toml:
      `[smtp]\nlocal_domains = ["localhost", "petrel.test"]\n` +
      `[auth]\nmax_failures = 3\nfailure_delay = "10ms"\nlockout = "1m"\nsender_logins = "./sender-logins"\n` +
      `[[listener]]\nname = "submission"\naddress = "127.0.0.1"\nport = ${submission}\nrole = "submission"`,
  });
  assert.equal((await petrelCommand(["user", "add", "alice@petrel.test"], `${PASSWORD}\n`)).code, 0);
  assert.equal((await petrelCommand(["user", "add", "bob"], "bobs password\n")).code, 0);
  assert.equal((await petrelCommand(["user", "add", "carol@petrel.test"], "carols password\n")).code, 0);
  assert.equal((await petrelCommand(["user", "remove", "carol@petrel.test"])).code, 0);
  petrel.process.kill("SIGHUP"); // workers read the users file when they apply a configuration
  await petrel.waitForMessage("configuration reloaded");
});
after(() => petrel.remove());

test("petrel user: list shows the users; the file holds salted hashes only and is private", async () => {
  const list = await petrelCommand(["user", "list"]);
  assert.equal(list.stdout, "alice@petrel.test\nbob\n");
  const file = join(petrel.dir, "var", "users");
  assert.ok(!(await readFile(file, "utf8")).includes(PASSWORD));
  assert.equal((await stat(file)).mode & 0o077, 0);
  assert.equal((await petrelCommand(["user", "add", "short"], "1234\n")).code, 2, "a short password is refused");
  assert.equal((await petrelCommand(["user", "remove", "nobody"])).code, 1);
  const again = await petrelCommand(["user", "add", "bob"], "bobs password\n");
  assert.match(again.stdout, /^changed the password of bob \(.*users; a running server reads it at SIGHUP\)$/m, "an existing user: said so");
});

test("swaks: AUTH PLAIN and LOGIN over STARTTLS, then relaying to another domain; Received says ESMTPSA", async () => {
  for (const mechanism of ["PLAIN", "LOGIN"]) {
    const { stdout } = await run("swaks", [
      "--server", `127.0.0.1:${submission}`, "--tls", "--auth", mechanism,
      "--auth-user", "alice@petrel.test", "--auth-password", PASSWORD,
      "--from", "alice@petrel.test", "--to", "friend@elsewhere.example",
    ]);
    assert.match(stdout, /235 2\.7\.0/);
    const id = /queued as (\S+)/.exec(stdout)?.[1];
    assert.ok(id, stdout);
    assert.match((await petrel.spooled(id)).received, /with ESMTPSA id /);
  }
});

test("smtplib: login and send; a plain user name owns its local part at the local domains", async () => {
  const script = `
import smtplib, ssl
s = smtplib.SMTP("127.0.0.1", ${submission}, timeout=10)
context = ssl.create_default_context(); context.check_hostname = False; context.verify_mode = ssl.CERT_NONE
s.starttls(context=context)
s.login("bob", "bobs password")
s.sendmail("bob@petrel.test", ["friend@elsewhere.example"], "Subject: hi\\r\\n\\r\\nfrom bob\\r\\n")
print("sent")
try:
    s.sendmail("alice@petrel.test", ["friend@elsewhere.example"], "Subject: forged\\r\\n\\r\\nx\\r\\n")
except smtplib.SMTPSenderRefused as e:
    print("refused", e.smtp_code)
s.quit()
`;
  const { stdout } = await run("python3", ["-c", script]);
  assert.match(stdout, /sent/);
  assert.match(stdout, /refused 553/);
});

test("nodemailer: STARTTLS and AUTH, sending as an address the sender_logins map gives the user; others may not", async () => {
  const transport = (user: string, pass: string) =>
    createTransport({
      host: "127.0.0.1",
      port: submission,
      secure: false,
      requireTLS: true,
      tls: { rejectUnauthorized: false },
      auth: { user, pass },
    });
  const bob = transport("bob", "bobs password");
  const info = await bob.sendMail({ from: "sales@petrel.test", to: "customer@elsewhere.example", subject: "offer", text: "hello" });
  const id = /queued as (\S+)/.exec(info.response)?.[1];
  assert.ok(id, info.response);
  const spooled = await petrel.spooled(id);
  assert.equal(spooled.envelope.sender, "sales@petrel.test");
  assert.match(spooled.received, /with ESMTPSA id /);
  bob.close();
  const alice = transport("alice@petrel.test", PASSWORD);
  await assert.rejects(
    alice.sendMail({ from: "sales@petrel.test", to: "customer@elsewhere.example", subject: "x", text: "x" }),
    (error: { responseCode?: number; response?: string }) => error.responseCode === 553 && /5\.7\.1/.test(error.response ?? ""),
  );
  alice.close();
});

/** A SCRAM-SHA-256 client (RFC 5802 §3) over a raw TLS session; returns the final reply code. */
async function scramLogin(user: string, password: string): Promise<{ code: number | undefined; serverVerified: boolean }> {
  const client = await RawClient.greeted(submission, { ehlo: "scram.test" });
  assert.equal((await client.command("STARTTLS"))?.code, 220);
  await client.startTls();
  assert.equal((await client.command("EHLO scram.test"))?.code, 250);
  const clientNonce = randomBytes(18).toString("base64");
  const clientFirstBare = `n=${user},r=${clientNonce}`;
  const first = await client.command(`AUTH SCRAM-SHA-256 ${Buffer.from(`n,,${clientFirstBare}`).toString("base64")}`);
  assert.equal(first?.code, 334);
  const serverFirst = Buffer.from(first!.lines[0]!.slice(4), "base64").toString();
  const fields = new Map(serverFirst.split(",").map((part) => [part[0]!, part.slice(2)]));
  const salted = pbkdf2Sync(password, Buffer.from(fields.get("s")!, "base64"), Number(fields.get("i")), 32, "sha256");
  const hmac = (key: Buffer, text: string) => createHmac("sha256", key).update(text).digest();
  const clientKey = hmac(salted, "Client Key");
  const storedKey = createHash("sha256").update(clientKey).digest();
  const withoutProof = `c=biws,r=${fields.get("r")}`;
  const authMessage = `${clientFirstBare},${serverFirst},${withoutProof}`;
  const signature = hmac(storedKey, authMessage);
  const proof = Buffer.from(clientKey.map((byte, i) => byte ^ signature[i]!)).toString("base64");
  const final = await client.command(Buffer.from(`${withoutProof},p=${proof}`).toString("base64"));
  let serverVerified = false;
  let code = final?.code;
  if (code === 334) {
    const expected = hmac(hmac(salted, "Server Key"), authMessage).toString("base64");
    serverVerified = Buffer.from(final!.lines[0]!.slice(4), "base64").toString() === `v=${expected}`;
    code = (await client.command(""))?.code;
  }
  client.close();
  return { code, serverVerified };
}

test("SCRAM-SHA-256: the right password authenticates and the server proves it knows the keys; a wrong one gets 535", async () => {
  assert.deepEqual(await scramLogin("alice@petrel.test", PASSWORD), { code: 235, serverVerified: true });
  assert.equal((await scramLogin("alice@petrel.test", "not the password")).code, 535);
});

test("on a submission listener: no AUTH before TLS, no MAIL without AUTH, and nothing of it on the mta listener", async () => {
  const plain = await RawClient.greeted(submission);
  const ehlo = await plain.command("EHLO plain.test");
  assert.ok(ehlo!.lines.some((line) => line.includes("STARTTLS")));
  assert.ok(!ehlo!.lines.some((line) => line.includes("AUTH")), "AUTH is not offered in the clear");
  assert.equal((await plain.command("AUTH PLAIN AGFsaWNlAHg="))?.lines[0], "530 5.7.0 must issue a STARTTLS command first");
  assert.equal((await plain.command("MAIL FROM:<alice@petrel.test>"))?.lines[0], "530 5.7.0 authentication required");
  plain.close();
  await petrel.waitFor(
    (line) => line["event"] === "sender-refused" && line["sender"] === "alice@petrel.test" && line["reason"] === "authentication required",
  );
  const early = await petrel.waitFor((line) => line["event"] === "command-refused" && line["command"] === "AUTH PLAIN");
  assert.ok(!JSON.stringify(early).includes("AGFsaWNlAHg="), "no credentials in the log");
  const mta = await RawClient.greeted(petrel.port, { ehlo: "mta.test" });
  assert.equal((await mta.command("MAIL FROM:<someone@example.org>"))?.code, 250, "port 25 takes mail without AUTH");
  assert.equal((await mta.command("RCPT TO:<friend@elsewhere.example>"))?.code, 550, "but does not relay");
  mta.close();
});

test("submission adds a missing Date and Message-ID (RFC 6409 §8), keeps those present, and port 25 adds none", async () => {
  const client = await RawClient.greeted(submission, { ehlo: "mua.test" });
  assert.equal((await client.command("STARTTLS"))?.code, 220);
  await client.startTls();
  await client.command("EHLO mua.test");
  assert.equal((await client.command(`AUTH PLAIN ${Buffer.from("\0bob\0bobs password").toString("base64")}`))?.code, 235);
  const bare = await client.sendMail("bob@petrel.test", ["postmaster@localhost"], "Subject: bare\r\n\r\nno date\r\n");
  const id = queueIdOf(bare);
  const added = (await petrel.spooled(id)).content.toString();
  assert.match(added, new RegExp(`^Date: [^\\r]+\\r\\nMessage-ID: <${id}@mx\\.petrel\\.test>\\r\\nSubject: bare\\r\\n\\r\\nno date\\r\\n$`));
  const full = "Date: Sat, 28 Nov 2026 12:00:00 +0000\r\nMessage-ID: <mine@mua.test>\r\nSubject: full\r\n\r\nbody\r\n";
  const kept = await client.sendMail("bob@petrel.test", ["postmaster@localhost"], full);
  assert.equal((await petrel.spooled(queueIdOf(kept))).content.toString(), full);
  client.close();
  const mta = await RawClient.greeted(petrel.port, { ehlo: "mx.example.org" });
  const relayed = await mta.sendMail("someone@example.org", ["postmaster@localhost"], "Subject: bare\r\n\r\nx\r\n");
  assert.equal((await petrel.spooled(queueIdOf(relayed))).content.toString(), "Subject: bare\r\n\r\nx\r\n");
  mta.close();
});

// Last: it locks 127.0.0.1 out of AUTH for the rest of this server's life.
test("an address that keeps failing is locked out (421), and an unknown user fails like a wrong password", async () => {
  const attempt = async (user: string, password: string) => {
    const client = await RawClient.greeted(submission, { ehlo: "guess.test" });
    await client.command("STARTTLS");
    await client.startTls();
    await client.command("EHLO guess.test");
    const reply = await client.command(`AUTH PLAIN ${Buffer.from(`\0${user}\0${password}`).toString("base64")}`);
    client.close();
    return reply?.lines[0];
  };
  assert.equal(await attempt("nobody@petrel.test", "guess"), "535 5.7.8 authentication credentials invalid");
  assert.equal(await attempt("alice@petrel.test", "guess"), "535 5.7.8 authentication credentials invalid");
  assert.match((await attempt("alice@petrel.test", "guess"))!, /^421 4\.7\.0 /, "the third failure since the last success (the test before) locks the address out");
  assert.match((await attempt("alice@petrel.test", PASSWORD))!, /^421 4\.7\.0 /, "even the right password, for a while");
});
