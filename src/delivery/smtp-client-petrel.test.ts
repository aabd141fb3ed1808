// The outbound client against a real Petrel on loopback, checking what Petrel stored: STARTTLS (opportunistic
// with its self-signed certificate, required with and without verification), implicit TLS, AUTH PLAIN (over
// TLS, in clear to loopback, a wrong password), SIZE and its local refusal, SMTPUTF8, the DSN parameters kept in
// the spooled envelope (xtext and RFC 6533 forms), mixed accepted and refused recipients, several transactions
// on one connection, and BDAT with a binary body of several chunks.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { Petrel, freePort } from "../../test/support/petrel-process.ts";
import type { Reply } from "../smtp/reply.ts";
import { type OutboundTransaction, SmtpClient, SmtpClientError, type SmtpClientOptions } from "./smtp-client.ts";

const PASSWORD = "correct horse battery";
const MAIN = new URL("../cli/main.ts", import.meta.url).pathname;

let petrel: Petrel;
let small: number;
let submission: number;
let submissions: number;
let certificate: string;
let bodies: string;

function addUser(name: string, password: string): Promise<number | null> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [MAIN, "user", "add", name, "--config", petrel.configPath], { stdio: ["pipe", "ignore", "inherit"] });
    child.on("close", resolve);
    child.stdin.end(`${password}\n`);
  });
}

before(async () => {
  [small, submission, submissions] = [await freePort(), await freePort(), await freePort()];
  petrel = await Petrel.start({
    toml:
      `[smtp]\nlocal_domains = ["localhost", "petrel.test"]\n` +
      `[auth]\nfailure_delay = "10ms"\n` +
      `[[listener]]\nname = "small"\naddress = "127.0.0.1"\nport = ${small}\nrole = "mta"\nmax_message_size = "2KiB"\n` +
      `[[listener]]\nname = "submission"\naddress = "127.0.0.1"\nport = ${submission}\nrole = "submission"\nplaintext_auth = true\n` +
      `[[listener]]\nname = "submissions"\naddress = "127.0.0.1"\nport = ${submissions}\nrole = "submissions"`,
  });
  assert.equal(await addUser("alice@petrel.test", PASSWORD), 0);
  petrel.process.kill("SIGHUP"); // workers read the users file when they apply a configuration
  await petrel.waitForMessage("configuration reloaded");
  certificate = await readFile(join(petrel.dir, "var", "tls", "self-signed.crt"), "utf8");
  bodies = await mkdtemp(join(tmpdir(), "petrel-client-bodies-"));
});
after(async () => {
  await petrel.remove();
  await rm(bodies, { recursive: true, force: true });
});

let bodyCount = 0;
async function messageFile(content: string | Buffer): Promise<{ path: string; size: number }> {
  const path = join(bodies, `body-${++bodyCount}`);
  await writeFile(path, content);
  return { path, size: Buffer.byteLength(content) };
}

function options(more: Partial<SmtpClientOptions> = {}): SmtpClientOptions {
  return { protocol: "smtp", host: "127.0.0.1", port: petrel.port, heloName: "client.petrel.test", tls: "none", ...more };
}

async function transaction(more: Partial<OutboundTransaction> & { content?: string | Buffer } = {}): Promise<OutboundTransaction> {
  const { content = "Subject: test\r\n\r\nhello\r\n", ...rest } = more;
  return { sender: "sender@petrel.test", parameters: {}, recipients: [{ address: "postmaster@petrel.test" }], message: await messageFile(content), ...rest };
}

function queueId(reply: Reply | undefined): string {
  const id = /^queued as (\S+)$/.exec(reply?.lines.join(" ") ?? "")?.[1];
  assert.ok(id, `not a queued reply: ${JSON.stringify(reply)}`);
  return id;
}

describe("SmtpClient and Petrel", () => {
  it("STARTTLS opportunistic: the self-signed certificate is used unverified; Received says ESMTPS", async () => {
    const client = await SmtpClient.connect(options({ tls: "opportunistic" }));
    assert.equal(client.tls?.authorized, false);
    assert.match(client.tls?.protocol ?? "", /^TLSv1\.[23]$/);
    assert.ok(client.extensions.has("PIPELINING") && !client.extensions.has("STARTTLS"), "the EHLO after TLS");
    const result = await client.send(await transaction());
    await client.quit();
    const stored = await petrel.spooled(queueId(result.recipients[0]));
    assert.match(stored.received, /with ESMTPS id /);
  });

  it("STARTTLS required: verified against the right anchor and name; refused, at stage starttls, without them", async () => {
    const verified = await SmtpClient.connect(options({ tls: "required", ca: certificate, servername: "mx.petrel.test" }));
    assert.equal(verified.tls?.authorized, true);
    assert.equal(verified.remote, `mx.petrel.test[127.0.0.1]:${petrel.port}`);
    await verified.quit();
    for (const wrong of [{}, { ca: certificate, servername: "other.petrel.test" }]) {
      await assert.rejects(SmtpClient.connect(options({ tls: "required", ...wrong })), (e: unknown) => e instanceof SmtpClientError && e.stage === "starttls" && e.temporary);
    }
    const unverified = await SmtpClient.connect(options({ tls: "required", verifyCertificate: false }));
    assert.equal(unverified.tls?.authorized, false);
    await unverified.quit();
  });

  it("implicit TLS with AUTH PLAIN: relays for the user; Received says ESMTPSA", async () => {
    const client = await SmtpClient.connect(options({ port: submissions, tls: "implicit", ca: certificate, servername: "mx.petrel.test", credentials: { user: "alice@petrel.test", password: PASSWORD } }));
    assert.equal(client.tls?.authorized, true);
    const result = await client.send(await transaction({ sender: "alice@petrel.test", recipients: [{ address: "friend@elsewhere.example" }] }));
    await client.quit();
    assert.match((await petrel.spooled(queueId(result.recipients[0]))).received, /with ESMTPSA id /);
    await assert.rejects(SmtpClient.connect(options({ port: submissions, tls: "implicit" })), (e: unknown) => e instanceof SmtpClientError && e.stage === "connect" && e.temporary);
  });

  it("AUTH PLAIN in clear to loopback; a wrong password fails at stage auth, not temporary", async () => {
    const client = await SmtpClient.connect(options({ port: submission, credentials: { user: "alice@petrel.test", password: PASSWORD } }));
    assert.equal(client.tls, undefined);
    const result = await client.send(await transaction({ sender: "alice@petrel.test", recipients: [{ address: "friend@elsewhere.example" }] }));
    assert.equal(result.recipients[0]?.code, 250);
    await client.quit();
    await assert.rejects(
      SmtpClient.connect(options({ port: submission, tls: "opportunistic", credentials: { user: "alice@petrel.test", password: "wrong" } })),
      (e: unknown) => e instanceof SmtpClientError && e.stage === "auth" && !e.temporary && e.reply?.code === 535 && !e.message.includes("wrong"),
    );
  });

  it("SIZE: declared when offered; a message over the limit is refused locally with 552 5.3.4 and never sent", async () => {
    const client = await SmtpClient.connect(options({ port: small }));
    assert.equal(client.extensions.get("SIZE"), "2048");
    const content = `Subject: small\r\n\r\n${"x".repeat(1000)}\r\n`;
    const fits = await client.send(await transaction({ content }));
    assert.equal((await petrel.spooled(queueId(fits.recipients[0]))).envelope.senderParameters.size, content.length);
    const before = petrel.lines.length;
    const big = await client.send(await transaction({ content: `Subject: big\r\n\r\n${"x".repeat(3000)}\r\n` }));
    assert.deepEqual([big.mail.code, big.mail.enhanced, big.recipients[0]?.code], [552, "5.3.4", 552]);
    assert.match(big.mail.lines[0]!, /refused locally: the remote server's SIZE limit is 2048/);
    assert.equal(client.reusable, true);
    await client.quit();
    assert.ok(!petrel.lines.slice(before).some((line) => /queued/.test(String(line.msg))), "nothing was queued");
  });

  it("SMTPUTF8 and the DSN parameters: Petrel's envelope keeps NOTIFY, ORCPT (utf-8 and rfc822), RET and ENVID", async () => {
    const client = await SmtpClient.connect(options());
    const result = await client.send(
      await transaction({
        sender: "josé@petrel.test",
        parameters: { smtputf8: true, ret: "HDRS", envid: "envelope+1=x y" },
        recipients: [
          { address: "ñandú@petrel.test", notify: ["SUCCESS", "DELAY"], orcpt: { type: "utf-8", address: "ñandú+x=y\\z@petrel.test" } },
          { address: "postmaster@petrel.test", notify: "NEVER", orcpt: { type: "rfc822", address: "pm+1@petrel.test" } },
        ],
        content: "Subject: =?utf-8?q?caf=C3=A9?=\r\n\r\ncafé\r\n",
      }),
    );
    const { envelope } = await petrel.spooled(queueId(result.recipients[0]));
    assert.equal(envelope.sender, "josé@petrel.test");
    assert.equal(envelope.senderParameters.smtputf8, true);
    assert.equal(envelope.senderParameters.ret, "HDRS");
    assert.equal(envelope.senderParameters.envid, "envelope+1=x y");
    assert.deepEqual(
      envelope.recipients.map(({ address, notify, orcpt }) => ({ address, notify, orcpt })),
      [
        { address: "ñandú@petrel.test", notify: ["SUCCESS", "DELAY"], orcpt: { type: "utf-8", address: "ñandú+x=y\\z@petrel.test" } },
        { address: "postmaster@petrel.test", notify: "NEVER", orcpt: { type: "rfc822", address: "pm+1@petrel.test" } },
      ],
    );
    // Without SMTPUTF8 in the transaction, a utf-8 ORCPT goes in its ASCII form (\x{...}) and comes back the same.
    const ascii = await client.send(await transaction({ recipients: [{ address: "postmaster@petrel.test", orcpt: { type: "rfc822", address: "ñandú@petrel.test" } }] }));
    const stored = await petrel.spooled(queueId(ascii.recipients[0]));
    assert.deepEqual(stored.envelope.recipients[0]?.orcpt, { type: "utf-8", address: "ñandú@petrel.test" });
    assert.equal(stored.envelope.senderParameters.smtputf8, undefined);
    await client.quit();
  });

  it("mixed recipients: the refused ones keep their RCPT reply, the accepted ones get the message's; several transactions on one connection", async () => {
    const client = await SmtpClient.connect(options());
    const ids = new Set<string>();
    for (let round = 0; round < 3; round++) {
      const result = await client.send(
        await transaction({ recipients: [{ address: "stranger@elsewhere.example" }, { address: "postmaster@petrel.test" }, { address: "root@localhost" }] }),
      );
      assert.deepEqual(
        result.recipients.map((r) => [r.code, r.enhanced]),
        [[550, "5.7.1"], [250, "2.0.0"], [250, "2.0.0"]],
      );
      assert.equal(result.recipients[1], result.recipients[2]);
      const id = queueId(result.recipients[1]);
      ids.add(id);
      const { envelope } = await petrel.spooled(id);
      assert.deepEqual(envelope.recipients.map((r) => r.address), ["postmaster@petrel.test", "root@localhost"]);
      assert.equal(client.reusable, true);
    }
    assert.equal(ids.size, 3);
    const refused = await client.send(await transaction({ recipients: [{ address: "a@elsewhere.example" }, { address: "b@elsewhere.example" }] }));
    assert.deepEqual(refused.recipients.map((r) => r.code), [550, 550]);
    const next = await client.send(await transaction());
    assert.equal(next.recipients[0]?.code, 250, "RSET, then a new transaction");
    await client.quit();
  });

  it("BDAT for a binary body of several chunks (NUL, bare CR and LF, a lone dot line): stored byte for byte", async () => {
    const binary = Buffer.alloc(200_000);
    for (let i = 0; i < binary.length; i++) binary[i] = (i * 7919) % 256;
    const content = Buffer.concat([Buffer.from("Subject: binary\r\nContent-Type: application/octet-stream\r\n\r\n.\r\n\n.\r\0"), binary]);
    const client = await SmtpClient.connect(options());
    assert.ok(client.extensions.has("CHUNKING") && client.extensions.has("BINARYMIME"));
    const result = await client.send(await transaction({ parameters: { body: "BINARYMIME" }, content }));
    await client.quit();
    const stored = await petrel.spooled(queueId(result.recipients[0]));
    assert.equal(stored.envelope.senderParameters.body, "BINARYMIME");
    assert.ok(stored.content.equals(content));
  });
});
