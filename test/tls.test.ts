// TLS with real clients: STARTTLS (swaks, Python's smtplib, openssl s_client) and implicit TLS on a
// submissions listener, the STARTTLS command injection, the state reset after STARTTLS, TLS 1.1 refused,
// the self-signed certificate made at first start, and a configured certificate replaced on SIGHUP.

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { stat } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { Petrel, freePort } from "./support/petrel-process.ts";
import { RawClient } from "./support/smtp-client.ts";

const run = promisify(execFile);

let petrel: Petrel;
let submissionsPort: number;

before(async () => {
  submissionsPort = await freePort();
  petrel = await Petrel.start({
    toml: `[[listener]]\nname = "submissions"\naddress = "127.0.0.1"\nport = ${submissionsPort}\nrole = "submissions"`,
  });
});
after(() => petrel.remove());

/** A self-signed ECDSA certificate for `cn`, written to `<dir>/<file>.crt` and `.key`. */
function selfSigned(cn: string, dir: string, file: string): Promise<unknown> {
  return run("openssl", [
    "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1",
    "-subj", `/CN=${cn}`, "-keyout", join(dir, `${file}.key`), "-out", join(dir, `${file}.crt`),
  ]);
}

/** Runs openssl s_client with `args`, sends `input`, and returns everything it printed. */
function sClient(args: string[], input: string): Promise<string> {
  return new Promise((resolve) => {
    const child = spawn("openssl", ["s_client", ...args], { stdio: ["pipe", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString("latin1")));
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString("latin1")));
    child.on("close", () => resolve(output));
    child.stdin.end(input);
  });
}

test("the self-signed certificate was made at first start, with a warning, and its key is private", async () => {
  const warning = await petrel.waitFor((line) => String(line.msg).startsWith("no TLS certificate configured"));
  assert.equal(warning.level, "warn");
  const key = await stat(join(petrel.dir, "var", "tls", "self-signed.key"));
  assert.equal(key.mode & 0o077, 0, "no access for group or others");
});

test("swaks: STARTTLS, then a message whose Received header says ESMTPS and names the TLS version", async () => {
  const { stdout } = await run("swaks", ["--server", `127.0.0.1:${petrel.port}`, "--tls", "--to", "postmaster@localhost"]);
  assert.match(stdout, /TLS started with cipher TLSv1\.3/);
  const id = /queued as (\S+)/.exec(stdout)?.[1];
  assert.ok(id, stdout);
  const { received } = await petrel.spooled(id);
  assert.match(received, /\(using TLSv1\.3 with cipher TLS_[A-Z0-9_]+\)/);
  assert.match(received, /with ESMTPS id /);
});

test("swaks: implicit TLS on the submissions listener, which offers AUTH and wants it before MAIL", async () => {
  const { stdout } = await run("swaks", ["--server", `127.0.0.1:${submissionsPort}`, "--tlsc", "--to", "postmaster@localhost"], {
    encoding: "utf8",
  }).catch((error: { stdout: string }) => ({ stdout: error.stdout }));
  assert.match(stdout, /TLS started with cipher TLSv1\.3/);
  assert.match(stdout, /250[- ]AUTH PLAIN LOGIN SCRAM-SHA-256/);
  assert.doesNotMatch(stdout, /250-STARTTLS/, "no STARTTLS on a listener that is TLS already");
  assert.match(stdout, /530 5\.7\.0 authentication required/);
});

test("smtplib: STARTTLS is offered before TLS only, and everything said before it is forgotten", async () => {
  const script = `
import smtplib, ssl, sys
s = smtplib.SMTP("127.0.0.1", ${petrel.port}, timeout=10)
s.ehlo("python.test")
print("offered-before", s.has_extn("starttls"))
s.mail("early@example.org")
context = ssl.create_default_context(); context.check_hostname = False; context.verify_mode = ssl.CERT_NONE
print("starttls-in-transaction", s.docmd("STARTTLS")[0])
s.rset()
s.starttls(context=context)
print("mail-before-ehlo", s.docmd("MAIL FROM:<a@example.org>")[0])
s.ehlo("python.test")
print("offered-after", s.has_extn("starttls"))
print("again", s.docmd("STARTTLS")[0])
s.sendmail("py@example.org", ["postmaster@localhost"], "Subject: tls\\r\\n\\r\\nover tls\\r\\n")
s.quit()
`;
  const { stdout } = await run("python3", ["-c", script]);
  assert.match(stdout, /offered-before True/);
  assert.match(stdout, /starttls-in-transaction 503/, "STARTTLS inside a mail transaction is a bad sequence");
  assert.match(stdout, /mail-before-ehlo 503/, "the EHLO from before TLS no longer counts");
  assert.match(stdout, /offered-after False/);
  assert.match(stdout, /again 503/, "TLS already active");
});

test("STARTTLS with a command pipelined after it in the same packet is refused, and nothing is upgraded", async () => {
  const client = await RawClient.greeted(petrel.port, { ehlo: "injector.test" });
  client.write("STARTTLS\r\nNOOP\r\n");
  assert.deepEqual((await client.read())?.lines, ["503 5.5.1 commands may not be pipelined after STARTTLS (RFC 3207)"]);
  assert.equal((await client.command("NOOP"))?.code, 250, "the session goes on in plain text");
  client.close();
  await petrel.waitFor((line) => line["event"] === "starttls-injection");
});

test("openssl: TLS 1.1 is refused, TLS 1.2 and 1.3 are served", async () => {
  const base = ["-starttls", "smtp", "-connect", `127.0.0.1:${petrel.port}`];
  assert.match(await sClient([...base, "-tls1_1"], "QUIT\r\n"), /alert protocol version|no protocols available|wrong version/);
  assert.match(await sClient([...base, "-tls1_2"], "QUIT\r\n"), /New, TLSv1\.2, Cipher is ECDHE/);
  assert.match(await sClient([...base, "-tls1_3"], "QUIT\r\n"), /New, TLSv1\.3, Cipher is TLS_/);
});

test("a configured certificate is served, and a new one is picked up on SIGHUP without dropping a session", async () => {
  const own = await Petrel.start({ toml: "" });
  try {
    const make = (cn: string) => selfSigned(cn, own.dir, "server");
    const tls = `[tls]\ncertificate = "${join(own.dir, "server.crt")}"\nkey = "${join(own.dir, "server.key")}"`;
    await make("first.petrel.test");
    await own.writeConfig(tls);
    own.process.kill("SIGHUP");
    await own.waitForCount((line) => line.msg === "configuration reloaded", 1);
    const connect = ["-starttls", "smtp", "-connect", `127.0.0.1:${own.port}`];
    assert.match(await sClient(connect, "QUIT\r\n"), /subject=CN ?= ?first\.petrel\.test/);

    const open = await RawClient.greeted(own.port, { ehlo: "before.test" });
    await make("second.petrel.test");
    own.process.kill("SIGHUP");
    await own.waitForCount((line) => line.msg === "configuration reloaded", 2);
    assert.match(await sClient(connect, "QUIT\r\n"), /subject=CN ?= ?second\.petrel\.test/);
    assert.equal((await open.command("NOOP"))?.code, 250, "a session from before the reload goes on");
    open.close();
  } finally {
    await own.remove();
  }
});

test("SNI: a certificate per server name (exact or *.domain), the default one for other names, on STARTTLS and on 465", async () => {
  const dir = petrel.dir;
  await selfSigned("mail.one.test", dir, "one");
  await selfSigned("*.two.test", dir, "two");
  const port465 = await freePort();
  const own = await Petrel.start({
    toml:
      `[tls]\n` +
      `[[tls.server_names]]\nname = "mail.one.test"\ncertificate = "${join(dir, "one.crt")}"\nkey = "${join(dir, "one.key")}"\n` +
      `[[tls.server_names]]\nname = "*.two.test"\ncertificate = "${join(dir, "two.crt")}"\nkey = "${join(dir, "two.key")}"\n` +
      `[[listener]]\nname = "465"\naddress = "127.0.0.1"\nport = ${port465}\nrole = "submissions"`,
  });
  try {
    const starttls = ["-starttls", "smtp", "-connect", `127.0.0.1:${own.port}`];
    assert.match(await sClient([...starttls, "-servername", "mail.one.test"], "QUIT\r\n"), /subject=CN ?= ?mail\.one\.test/);
    assert.match(await sClient([...starttls, "-servername", "mx.two.test"], "QUIT\r\n"), /subject=CN ?= ?\*\.two\.test/);
    assert.match(await sClient([...starttls, "-servername", "other.test"], "QUIT\r\n"), /subject=CN ?= ?mx\.petrel\.test/);
    const implicit = ["-connect", `127.0.0.1:${port465}`, "-servername", "mail.one.test"];
    assert.match(await sClient(implicit, "QUIT\r\n"), /subject=CN ?= ?mail\.one\.test/);
  } finally {
    await own.remove();
  }
});
