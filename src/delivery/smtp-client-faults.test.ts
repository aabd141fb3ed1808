// The outbound client when things go wrong, against a scripted server: a disconnect at every point of the
// conversation (with and without PIPELINING, inside DATA and BDAT bodies), a greeting or final reply that never
// comes, a refused connection, malformed and unsolicited replies. Each must reject with a temporary
// SmtpClientError at the right stage (or, at QUIT, not at all), leave the client unusable and leave no promise
// rejected unseen. Also: the message is read no faster than the remote takes it, and a finished client leaves
// no socket, timer or listener behind.

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createWriteStream } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { once } from "node:events";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import { promisify } from "node:util";
import { after, describe, it } from "node:test";
import { freePort } from "../../test/support/petrel-process.ts";
import { type ClientStage, type OutboundTransaction, SmtpClient, SmtpClientError, type SmtpClientOptions } from "./smtp-client.ts";
import { type Answer, CUT, SILENT, type ScriptOptions, scriptedServers } from "./smtp-client-test-server.ts";

const unhandled: unknown[] = [];
process.on("unhandledRejection", (reason) => unhandled.push(reason));
const warnings: Error[] = [];
process.on("warning", (warning) => warnings.push(warning));

const server = scriptedServers();

const dir = await mkdtemp(join(tmpdir(), "petrel-client-faults-"));
after(() => rm(dir, { recursive: true, force: true }));
let bodyCount = 0;

async function transaction(content: string | Buffer = "Subject: x\r\n\r\nhello\r\n", more: Partial<OutboundTransaction> = {}): Promise<OutboundTransaction> {
  const path = join(dir, `body-${++bodyCount}`);
  await writeFile(path, content);
  return { sender: "alice@petrel.test", parameters: {}, recipients: [{ address: "a@x.test" }, { address: "b@x.test" }], message: { path, size: Buffer.byteLength(content) }, ...more };
}

function options(scripted: { port: number }, more: Partial<SmtpClientOptions> = {}): SmtpClientOptions {
  return { protocol: "smtp", host: "127.0.0.1", port: scripted.port, heloName: "client.petrel.test", tls: "none", timeouts: { command: 10_000 }, ...more };
}

const failsAt = (stage: ClientStage, message?: RegExp) => (e: unknown) =>
  e instanceof SmtpClientError && e.stage === stage && e.temporary && (message === undefined || message.test(e.message));

/** Every turn of the event loop that a late rejection would need to surface has passed: none did. */
async function noUnhandledRejections(): Promise<void> {
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(unhandled, []);
}

const BIG = `Subject: big\r\n\r\n${"a line of the message body, long enough to fill chunks\r\n".repeat(20_000)}`;

describe("SmtpClient faults", () => {
  const points: { where: string; stage: ClientStage; script: ScriptOptions; body?: string | Buffer; parameters?: OutboundTransaction["parameters"] }[] = [
    { where: "before the greeting", stage: "greeting", script: { greeting: CUT } },
    { where: "at EHLO", stage: "ehlo", script: { answer: (l) => (l.startsWith("EHLO") ? CUT : undefined) } },
    { where: "at MAIL", stage: "mail", script: { answer: (l) => (l.startsWith("MAIL") ? CUT : undefined) } },
    { where: "at the second RCPT", stage: "rcpt", script: { answer: (l) => (l.includes("<b@") ? CUT : undefined) } },
    { where: "at DATA", stage: "data", script: { answer: (l) => (l === "DATA" ? CUT : undefined) } },
    { where: "inside the DATA body", stage: "data", script: { cutInBody: 100_000 }, body: BIG },
    { where: "at the end of data", stage: "data", script: { answer: (l) => (l === "." ? CUT : undefined) } },
    {
      where: "inside a BDAT chunk",
      stage: "data",
      script: { cutInBody: 30_000, extensions: ["CHUNKING", "BINARYMIME"] },
      body: BIG,
      parameters: { body: "BINARYMIME" },
    },
  ];
  for (const pipelining of [true, false]) {
    for (const { where, stage, script, body, parameters } of points) {
      it(`a disconnect ${where} (${pipelining ? "" : "no "}PIPELINING) rejects at stage ${stage}, temporary; the client is done`, async () => {
        const extensions = [...(script.extensions ?? ["8BITMIME"]), ...(pipelining ? ["PIPELINING"] : [])];
        const scripted = await server({ ...script, extensions });
        const connecting = SmtpClient.connect(options(scripted));
        if (stage === "greeting" || stage === "ehlo") {
          await assert.rejects(connecting, failsAt(stage));
        } else {
          const client = await connecting;
          await assert.rejects(client.send(await transaction(body, parameters ? { parameters } : {})), failsAt(stage));
          assert.equal(client.reusable, false);
          await assert.rejects(client.send(await transaction()), failsAt("mail"));
          await client.quit();
        }
        await noUnhandledRejections();
      });
    }
  }

  it("a disconnect at QUIT is no error", async () => {
    const scripted = await server({ answer: (l) => (l === "QUIT" ? CUT : undefined) });
    const client = await SmtpClient.connect(options(scripted));
    await client.send(await transaction());
    await client.quit();
    await noUnhandledRejections();
  });

  it("a greeting that never comes times out at stage greeting", async () => {
    const scripted = await server({ greeting: SILENT });
    await assert.rejects(SmtpClient.connect(options(scripted, { timeouts: { greeting: 300 } })), failsAt("greeting", /timed out after 0.3 s/));
    await scripted.ended[0]; // the client closed the connection
  });

  it("a final reply that never comes times out at stage data with the data timeout", async () => {
    const scripted = await server({ answer: (l) => (l === "." ? SILENT : undefined) });
    const client = await SmtpClient.connect(options(scripted, { timeouts: { command: 10_000, data: 300 } }));
    await assert.rejects(client.send(await transaction()), failsAt("data", /timed out/));
    assert.equal(client.reusable, false);
  });

  it("a refused connection fails at stage connect, temporary", async () => {
    await assert.rejects(SmtpClient.connect(options({ port: await freePort() })), failsAt("connect", /ECONNREFUSED/));
  });

  const malformed: [string, Answer][] = [
    ["a line without a code", "hello there"],
    ["a multi-line reply with mixed codes", "250-fine\n550 not fine"],
    ["an over-long line", `250 ${"x".repeat(3000)}`],
  ];
  for (const [what, answer] of malformed) {
    it(`${what} is a protocol error at the stage that read it`, async () => {
      const scripted = await server({ answer: (l) => (l.startsWith("RCPT") ? answer : undefined) });
      const client = await SmtpClient.connect(options(scripted));
      await assert.rejects(client.send(await transaction()), failsAt("rcpt", /protocol error/));
      assert.equal(client.reusable, false);
      await noUnhandledRejections();
    });
  }

  it("a reply to no command (a 421 to an idle connection) makes the client unusable; send then fails at stage mail", async () => {
    const scripted = await server({ answer: (l) => (l.startsWith("EHLO") ? "250-fake.test\n250 PIPELINING\n421 4.4.2 idle for too long" : undefined) });
    const client = await SmtpClient.connect(options(scripted));
    assert.equal(client.reusable, false);
    await assert.rejects(client.send(await transaction()), (e: unknown) => failsAt("mail", /421 4\.4\.2 idle/)(e) && (e as SmtpClientError).reply === undefined);
    client.close();
  });

  it("a body file that cannot be opened fails before any command; one that fails to read ends the session at stage data", async () => {
    const scripted = await server();
    const client = await SmtpClient.connect(options(scripted));
    const missing = await transaction();
    missing.message.path = join(dir, "no-such-body");
    await assert.rejects(client.send(missing), { code: "ENOENT" });
    assert.equal(client.reusable, true);
    const unreadable = await transaction();
    unreadable.message.path = dir; // a directory opens, and fails at the first read (EISDIR)
    await assert.rejects(client.send(unreadable), failsAt("data", /EISDIR/));
    assert.equal(client.reusable, false);
    await scripted.ended[0];
    assert.deepEqual(scripted.sessions[0]!.commands.map((c) => c.split(":")[0]), ["EHLO client.petrel.test", "MAIL FROM", "RCPT TO", "RCPT TO", "DATA"]);
  });

  it("reads the message no faster than the remote takes it", async () => {
    const total = 32 * 1024 * 1024;
    const scripted = await server({
      answer: (line, session) => {
        if (line === "DATA") session.socket.pause(); // the remote stops reading once it asked for the data
        return undefined;
      },
    });
    const fifo = join(dir, "message.fifo");
    await promisify(execFile)("mkfifo", [fifo]);
    const client = await SmtpClient.connect(options(scripted));
    const sending = client.send({ sender: "", parameters: {}, recipients: [{ address: "a@x.test" }], message: { path: fifo, size: total } });
    const writer = createWriteStream(fifo);
    const piece = Buffer.from(`${"x".repeat(1022)}\r\n`.repeat(64));
    const writing = (async () => {
      for (let written = 0; written < total; written += piece.length) if (!writer.write(piece)) await once(writer, "drain");
      writer.end();
      await once(writer, "finish");
    })();
    // A client that read ahead would have taken all 32 MiB in this time; one that waits is held at the socket's buffers.
    const first = await Promise.race([writing.then(() => "read all"), delay(3000).then(() => "held")]);
    const taken = writer.bytesWritten;
    scripted.sessions[0]!.socket.resume();
    await writing;
    const result = await sending;
    assert.equal(first, "held");
    assert.ok(taken < 16 * 1024 * 1024, `the client read ${taken} octets while the remote read none`);
    assert.equal(result.recipients[0]?.code, 250);
    assert.equal(scripted.sessions[0]!.bodies[0]?.length, total);
    await client.quit();
  });

  it("twenty transactions on one connection, then QUIT: no listener warning, no socket or timer left", async () => {
    const before = process.getActiveResourcesInfo().filter((r) => r !== "TCPServerWrap");
    const scripted = await server();
    const client = await SmtpClient.connect(options(scripted));
    for (let n = 0; n < 20; n++) await client.send(await transaction());
    await client.quit();
    await scripted.ended[0];
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(process.getActiveResourcesInfo().filter((r) => r !== "TCPServerWrap"), before);
    assert.deepEqual(warnings.map(String), []);
  });
});
