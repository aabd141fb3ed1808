// The outbound client against Postfix's smtp-sink on loopback: what arrives (its dumps show the MAIL and RCPT
// arguments and the body with the dot-stuffing undone), with and without PIPELINING, 8BITMIME and DSN, several
// transactions per connection, the faults smtp-sink injects (4xx/5xx on each command, 421, disconnects, a
// server that stops answering, an abort in the middle of DATA), a 3 MB body, LMTP over TCP and a Unix socket,
// HELO fallback, refused greetings, and STARTTLS required from a server that has none.

import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { chmod, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { freePort } from "../../test/support/petrel-process.ts";
import { type OutboundTransaction, SmtpClient, SmtpClientError, type SmtpClientOptions } from "./smtp-client.ts";

const SEPARATOR = "=== MESSAGE ===";

type Dump = { mailArgs: string; rcptArgs: string[]; body: string };

class Sink {
  readonly dir: string;
  readonly child: ChildProcess;
  readonly port: number;
  readonly path: string | undefined;
  /** What smtp-sink -v said: one line per command it received. */
  log = "";

  private constructor(dir: string, child: ChildProcess, port: number, path: string | undefined) {
    this.dir = dir;
    this.child = child;
    this.port = port;
    this.path = path;
    child.stderr!.setEncoding("latin1").on("data", (text: string) => (this.log += text));
  }

  /** smtp-sink with `flags` on a free loopback port (or a Unix socket), dumping every message; ready to accept. */
  static async start(flags: string[], unix = false): Promise<Sink> {
    const dir = await mkdtemp(join(tmpdir(), "petrel-sink-"));
    await chmod(dir, 0o777); // smtp-sink writes its dumps as nobody when started by root
    const port = await freePort();
    const path = unix ? join(dir, "lmtp.sock") : undefined;
    const privileges = process.getuid?.() === 0 ? ["-u", "nobody"] : [];
    const args = [...privileges, "-v", "-D", join(dir, "dump"), "-S", `${SEPARATOR}\\n`, ...flags, path ? `unix:${path}` : `127.0.0.1:${port}`, "10"];
    const sink = new Sink(dir, spawn("/usr/sbin/smtp-sink", args, { stdio: ["ignore", "ignore", "pipe"] }), port, path);
    await sink.#accepting();
    return sink;
  }

  async #accepting(): Promise<void> {
    for (let attempt = 0; attempt < 1000; attempt++) {
      const target = this.path === undefined ? { host: "127.0.0.1", port: this.port } : { path: this.path };
      const up = await new Promise<boolean>((resolve) => {
        const probe = connect(target, () => resolve(true));
        probe.on("error", () => resolve(false)).on("connect", () => probe.destroy());
      });
      if (up) return;
      if (this.child.exitCode !== null) throw new Error(`smtp-sink exited: ${this.log}`);
      await new Promise((resolve) => setTimeout(resolve, 20)); // polling the port, not waiting for a guess
    }
    throw new Error(`smtp-sink did not listen: ${this.log}`);
  }

  options(more: Partial<SmtpClientOptions> = {}): SmtpClientOptions {
    const where = this.path === undefined ? { host: "127.0.0.1", port: this.port } : { path: this.path };
    return { protocol: "smtp", heloName: "client.petrel.test", tls: "none", ...where, ...more };
  }

  /** The messages received so far, in order. */
  async dumps(): Promise<Dump[]> {
    const text = await readFile(join(this.dir, "dump"), "latin1").catch(() => "");
    return text.split(`${SEPARATOR}\n`).slice(1).map((message) => {
      const lines = message.split("\n");
      const received = lines.findIndex((line) => line.startsWith("Received: "));
      const field = (name: string) => lines.slice(0, received).filter((l) => l.startsWith(`${name}: `)).map((l) => l.slice(name.length + 2));
      return { mailArgs: field("X-Mail-Args")[0] ?? "", rcptArgs: field("X-Rcpt-Args"), body: lines.slice(received + 3).join("\n").replace(/\n\n$/, "") };
    });
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null) {
      const exited = new Promise((resolve) => this.child.once("exit", resolve));
      this.child.kill();
      await exited;
    }
    await rm(this.dir, { recursive: true, force: true });
  }
}

const sinks: Sink[] = [];
async function sink(flags: string[] = [], unix = false): Promise<Sink> {
  const started = await Sink.start(flags, unix);
  sinks.push(started);
  return started;
}
after(() => Promise.all(sinks.map((s) => s.stop())));

const bodies = await mkdtemp(join(tmpdir(), "petrel-client-bodies-"));
after(() => rm(bodies, { recursive: true, force: true }));
let bodyCount = 0;
async function messageFile(content: string | Buffer): Promise<{ path: string; size: number }> {
  const path = join(bodies, `body-${++bodyCount}`);
  await writeFile(path, content);
  return { path, size: Buffer.byteLength(content) };
}

/** The body as smtp-sink dumps it: lines ended by LF, a last line without CRLF ended all the same. */
const asDumped = (body: string) => body.replace(/\r\n/g, "\n").replace(/\n$/, "");

const STUFFED = "Subject: dots\r\n\r\n.one dot\r\n..two dots\r\n.\r\nmiddle . dot\r\nno CRLF at the end";

async function transaction(content = STUFFED, more: Partial<OutboundTransaction> = {}): Promise<OutboundTransaction> {
  return { sender: "alice@petrel.test", parameters: {}, recipients: [{ address: "bob@example.test" }], message: await messageFile(content), ...more };
}

const codes = (replies: readonly { code: number }[]) => replies.map((r) => r.code);

describe("SmtpClient and smtp-sink", () => {
  it("pipelines a transaction: BODY and DSN parameters as offered, the body arrives byte for byte after unstuffing", async () => {
    const server = await sink();
    const client = await SmtpClient.connect(server.options({ servername: "sink.test" }));
    assert.equal(client.remote, `sink.test[127.0.0.1]:${server.port}`);
    assert.ok(client.extensions.has("PIPELINING") && client.extensions.has("DSN"));
    const result = await client.send(
      await transaction(STUFFED, {
        parameters: { body: "8BITMIME", ret: "HDRS", envid: "queue+id=1" },
        recipients: [
          { address: "bob@example.test", notify: ["SUCCESS", "FAILURE"], orcpt: { type: "rfc822", address: "bob+tag@example.test" } },
          { address: "carol@example.test", notify: "NEVER" },
        ],
      }),
    );
    assert.deepEqual(codes([result.mail, ...result.recipients]), [250, 250, 250]);
    assert.equal(client.reusable, true);
    await client.quit();
    const [dump] = await server.dumps();
    assert.equal(dump?.mailArgs, "<alice@petrel.test> BODY=8BITMIME RET=HDRS ENVID=queue+2Bid+3D1");
    assert.deepEqual(dump?.rcptArgs, ["<bob@example.test> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;bob+2Btag@example.test", "<carol@example.test> NOTIFY=NEVER"]);
    assert.equal(dump?.body, asDumped(STUFFED));
    assert.match(server.log, /MAIL FROM:<alice@petrel.test>/);
  });

  it("without PIPELINING, 8BITMIME and DSN: three transactions on one connection, no parameters the server lacks", async () => {
    const server = await sink(["-p", "-8", "-N"]);
    const client = await SmtpClient.connect(server.options());
    assert.equal(client.extensions.has("PIPELINING"), false);
    for (const n of [1, 2, 3]) {
      const message = `Subject: ${n}\r\n\r\n8-bit: \xe9t\xe9\r\n`;
      const sent = await transaction(message, { parameters: { body: "8BITMIME", envid: "x" }, recipients: [{ address: `r${n}@example.test`, notify: "NEVER" }] });
      sent.message = await messageFile(Buffer.from(message, "latin1"));
      const result = await client.send(sent);
      assert.deepEqual(codes(result.recipients), [250]);
      assert.equal(client.reusable, true);
    }
    await client.quit();
    const dumps = await server.dumps();
    assert.deepEqual(dumps.map((d) => [d.mailArgs, d.rcptArgs]), [1, 2, 3].map((n) => ["<alice@petrel.test>", [`<r${n}@example.test>`]]));
    assert.equal(dumps[1]?.body, "Subject: 2\n\n8-bit: \xe9t\xe9", "8-bit bytes go as they are");
  });

  it("refuses locally what the server cannot take: SMTPUTF8 (5.6.7) and BINARYMIME (5.6.3); nothing is sent", async () => {
    const server = await sink();
    const client = await SmtpClient.connect(server.options());
    const utf8 = await client.send(await transaction("x\r\n", { recipients: [{ address: "josé@example.test" }, { address: "bob@example.test" }] }));
    assert.deepEqual([utf8.mail.code, utf8.mail.enhanced, ...codes(utf8.recipients)], [553, "5.6.7", 553, 553]);
    assert.match(utf8.recipients[0]!.lines.join(" "), /refused locally: the remote server does not offer SMTPUTF8/);
    const binary = await client.send(await transaction("x\r\n", { parameters: { body: "BINARYMIME" } }));
    assert.deepEqual([binary.recipients[0]?.code, binary.recipients[0]?.enhanced], [554, "5.6.3"]);
    assert.equal(client.reusable, true);
    await client.quit();
    assert.doesNotMatch(server.log, /MAIL FROM/);
  });

  it("a 4xx to MAIL: every recipient gets it, the connection stays usable and RSET goes before the next MAIL", async () => {
    const server = await sink(["-r", "MAIL"]);
    const client = await SmtpClient.connect(server.options());
    const sent = await transaction("x\r\n", { recipients: [{ address: "a@example.test" }, { address: "b@example.test" }] });
    const result = await client.send(sent);
    assert.deepEqual(codes([result.mail, ...result.recipients]), [450, 450, 450]);
    assert.equal(client.reusable, true);
    await client.send(sent);
    await client.quit();
    assert.match(server.log, /MAIL FROM:<alice@petrel.test>\n.*RSET\n.*MAIL FROM:<alice@petrel.test>/);
    assert.doesNotMatch(server.log, /RCPT TO/, "no RCPT after a refused MAIL without pipelining");
  });

  it("every recipient refused (5xx): no DATA, no message, RSET before the next transaction", async () => {
    const server = await sink(["-f", "RCPT"]);
    const client = await SmtpClient.connect(server.options());
    const sent = await transaction("x\r\n", { recipients: [{ address: "a@example.test" }, { address: "b@example.test" }] });
    const result = await client.send(sent);
    assert.deepEqual(codes([result.mail, ...result.recipients]), [250, 500, 500]);
    await client.send(sent);
    await client.quit();
    assert.doesNotMatch(server.log, /DATA/);
    assert.match(server.log, /RSET/);
    assert.deepEqual(await server.dumps(), []);
  });

  for (const [command, flag, code] of [["DATA", "-f", 500], ["DATA", "-r", 450], [".", "-f", 500], [".", "-r", 450]] as const) {
    it(`a ${code} to ${command} is every accepted recipient's reply; the connection stays usable`, async () => {
      const server = await sink([flag, command]);
      const client = await SmtpClient.connect(server.options());
      const result = await client.send(await transaction("x\r\n", { recipients: [{ address: "a@example.test" }, { address: "b@example.test" }] }));
      assert.deepEqual(codes([result.mail, ...result.recipients]), [250, code, code]);
      assert.equal(client.reusable, true);
      const again = await client.send(await transaction("x\r\n"));
      assert.deepEqual(codes(again.recipients), [code]);
      await client.quit();
    });
  }

  it("a 421 to MAIL and a disconnect: the recipients get the 421, no error, the connection is done", async () => {
    const server = await sink(["-Q", "MAIL"]);
    const client = await SmtpClient.connect(server.options());
    const result = await client.send(await transaction("x\r\n", { recipients: [{ address: "a@example.test" }, { address: "b@example.test" }] }));
    assert.deepEqual(codes([result.mail, ...result.recipients]), [421, 421, 421]);
    assert.equal(client.reusable, false);
    await assert.rejects(client.send(await transaction()), (e: unknown) => e instanceof SmtpClientError && e.stage === "mail" && e.temporary);
    await client.quit();
  });

  for (const [command, stage] of [["RCPT", "rcpt"], ["DATA", "data"], [".", "data"]] as const) {
    it(`a disconnect without reply after ${command} rejects at stage "${stage}", temporary, and ends the connection`, async () => {
      const server = await sink(["-q", command]);
      const client = await SmtpClient.connect(server.options());
      await assert.rejects(client.send(await transaction()), (e: unknown) => e instanceof SmtpClientError && e.stage === stage && e.temporary && e.reply === undefined);
      assert.equal(client.reusable, false);
      await client.quit();
    });
  }

  it("a server that stops answering (RCPT) times out at stage rcpt with the command timeout", async () => {
    const server = await sink(["-p", "-W", "RCPT:30"]); // smtp-sink answers pipelined commands out of order when it delays
    const client = await SmtpClient.connect(server.options({ timeouts: { command: 300 } }));
    await assert.rejects(client.send(await transaction()), (e: unknown) => e instanceof SmtpClientError && e.stage === "rcpt" && e.temporary && /timed out/.test(e.message));
    assert.equal(client.reusable, false);
    client.close();
  });

  it("a server that aborts DATA with 550 before the end: the accepted recipients get the 550, the connection is closed", async () => {
    const server = await sink(["-A", "0"]);
    const client = await SmtpClient.connect(server.options());
    const big = `Subject: big\r\n\r\n${"0123456789abcdefghijklmnopqrstuvwxyz ...\r\n".repeat(400_000)}`;
    const result = await client.send(await transaction(big, { recipients: [{ address: "a@example.test" }, { address: "b@example.test" }] }));
    assert.deepEqual(codes(result.recipients), [550, 550]);
    assert.equal(client.reusable, false);
  });

  it("streams a 3 MB body with dots at line starts; it arrives intact", async () => {
    const server = await sink();
    const client = await SmtpClient.connect(server.options());
    const lines = [];
    for (let i = 0, length = 0; length < 3_000_000; i++) {
      lines.push(`${i % 7 === 0 ? "." : ""}line ${i} ${"x".repeat(i % 120)}\r\n`);
      length += lines.at(-1)!.length;
    }
    const big = `Subject: large\r\n\r\n${lines.join("")}`;
    const result = await client.send(await transaction(big));
    assert.deepEqual(codes(result.recipients), [250]);
    await client.quit();
    const [dump] = await server.dumps();
    assert.equal(dump?.body.length, asDumped(big).length);
    assert.equal(dump?.body, asDumped(big));
  });

  for (const unix of [false, true]) {
    it(`LMTP over ${unix ? "a Unix socket" : "TCP"}: LHLO, then one reply per accepted recipient, in order`, async () => {
      const server = await sink(["-L"], unix);
      const client = await SmtpClient.connect(server.options({ protocol: "lmtp" }));
      if (unix) assert.equal(client.remote, `unix:${server.path}`);
      const recipients = ["a", "b", "c"].map((name) => ({ address: `${name}@example.test` }));
      const result = await client.send(await transaction(STUFFED, { recipients }));
      assert.deepEqual(codes(result.recipients), [250, 250, 250]);
      assert.ok(result.recipients.every((r) => r.enhanced === "2.2.0"), "the per-recipient replies, not RCPT's 2.0.0");
      await client.send(await transaction("second\r\n", { recipients: recipients.slice(1) }));
      await client.quit();
      assert.match(server.log, /LHLO client.petrel.test/);
      const dumps = await server.dumps();
      assert.deepEqual(dumps.map((d) => d.rcptArgs.length), [3, 2]);
      assert.equal(dumps[0]?.body, asDumped(STUFFED));
    });
  }

  it("falls back to HELO when EHLO gets a 5xx, and then sends no parameters", async () => {
    const server = await sink(["-f", "EHLO"]);
    const client = await SmtpClient.connect(server.options());
    assert.equal(client.extensions.size, 0);
    await client.send(await transaction("x\r\n", { parameters: { body: "8BITMIME", envid: "e" }, recipients: [{ address: "b@example.test", notify: "NEVER" }] }));
    await client.quit();
    assert.match(server.log, /HELO client.petrel.test/);
    assert.deepEqual((await server.dumps()).map((d) => [d.mailArgs, d.rcptArgs]), [["<alice@petrel.test>", ["<b@example.test>"]]]);
  });

  it("a 4xx to EHLO fails at stage ehlo, temporary, without HELO", async () => {
    const server = await sink(["-r", "EHLO"]);
    await assert.rejects(SmtpClient.connect(server.options()), (e: unknown) => e instanceof SmtpClientError && e.stage === "ehlo" && e.temporary && e.reply?.code === 450);
    assert.doesNotMatch(server.log, /HELO client/);
  });

  for (const [flag, code, temporary] of [["-f", 500, false], ["-r", 450, true]] as const) {
    it(`a greeting of ${code} fails at stage greeting, temporary ${temporary}`, async () => {
      const server = await sink([flag, "CONNECT"]);
      await assert.rejects(SmtpClient.connect(server.options()), (e: unknown) => e instanceof SmtpClientError && e.stage === "greeting" && e.temporary === temporary && e.reply?.code === code);
    });
  }

  it("TLS required from a server without STARTTLS fails at stage starttls, temporary; opportunistic goes on in clear", async () => {
    const server = await sink();
    await assert.rejects(SmtpClient.connect(server.options({ tls: "required" })), (e: unknown) => e instanceof SmtpClientError && e.stage === "starttls" && e.temporary);
    const clear = await SmtpClient.connect(server.options({ tls: "opportunistic" }));
    assert.equal(clear.tls, undefined);
    await clear.quit();
  });
});
