// The outbound client's conversation, checked command by command against a scripted server: PIPELINING used
// when offered and never otherwise, the empty message after an unwanted 354, RSET before reuse, LMTP replies per
// recipient (after DATA and after BDAT), BDAT with and without PIPELINING and a refused chunk, a 421 among the
// RCPTs, STARTTLS refused or broken, AUTH LOGIN, and credentials kept back from a connection in clear.

import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { type OutboundTransaction, SmtpClient, SmtpClientError, type SmtpClientOptions } from "./smtp-client.ts";
import { CUT, type ScriptedServer, scriptedServers } from "./smtp-client-test-server.ts";

const server = scriptedServers();

const bodies = await mkdtemp(join(tmpdir(), "petrel-client-bodies-"));
after(() => rm(bodies, { recursive: true, force: true }));
let bodyCount = 0;

async function transaction(addresses: string[], content: string | Buffer = "Subject: x\r\n\r\nhello\r\n", more: Partial<OutboundTransaction> = {}): Promise<OutboundTransaction> {
  const path = join(bodies, `body-${++bodyCount}`);
  await writeFile(path, content);
  const message = { path, size: Buffer.byteLength(content) };
  return { sender: "alice@petrel.test", parameters: {}, recipients: addresses.map((address) => ({ address })), message, ...more };
}

function options(scripted: ScriptedServer, more: Partial<SmtpClientOptions> = {}): SmtpClientOptions {
  return { protocol: "smtp", host: "127.0.0.1", port: scripted.port, heloName: "client.petrel.test", tls: "none", timeouts: { command: 5000 }, ...more };
}

const codes = (replies: readonly { code: number }[]) => replies.map((r) => r.code);
const verbs = (commands: readonly string[]) => commands.map((c) => c.split(/[ :]/)[0]);

function binary(size: number): Buffer {
  const bytes = Buffer.alloc(size);
  for (let i = 0; i < size; i++) bytes[i] = (i * 31 + (i >> 8)) % 256;
  return bytes;
}

describe("SmtpClient conversation", () => {
  it("pipelines MAIL, every RCPT and DATA in one go when PIPELINING is offered", async () => {
    const scripted = await server();
    const client = await SmtpClient.connect(options(scripted));
    const result = await client.send(await transaction(["a@x.test", "b@x.test", "c@x.test"]));
    assert.deepEqual(codes(result.recipients), [250, 250, 250]);
    await client.quit();
    await scripted.ended[0];
    assert.deepEqual(scripted.sessions[0]!.pipelined, ["MAIL FROM:<alice@petrel.test>", "RCPT TO:<a@x.test>", "RCPT TO:<b@x.test>", "RCPT TO:<c@x.test>"]);
  });

  it("sends one command at a time without PIPELINING", async () => {
    const scripted = await server({ extensions: ["8BITMIME"] });
    const client = await SmtpClient.connect(options(scripted));
    for (let round = 0; round < 2; round++) await client.send(await transaction(["a@x.test", "b@x.test"]));
    await client.quit();
    await scripted.ended[0];
    const session = scripted.sessions[0]!;
    assert.deepEqual(session.pipelined, []);
    assert.deepEqual(verbs(session.commands), ["EHLO", "MAIL", "RCPT", "RCPT", "DATA", "MAIL", "RCPT", "RCPT", "DATA", "QUIT"]);
  });

  it("no recipient accepted but the pipelined DATA got 354: an empty message ends it, then RSET before the next MAIL", async () => {
    const scripted = await server({ answer: (line) => (line.startsWith("RCPT") && !line.includes("ok@") ? "550 5.1.1 no such user" : undefined) });
    const client = await SmtpClient.connect(options(scripted));
    const refused = await client.send(await transaction(["a@x.test", "b@x.test"]));
    assert.deepEqual(codes([refused.mail, ...refused.recipients]), [250, 550, 550]);
    assert.equal(client.reusable, true);
    const accepted = await client.send(await transaction(["ok@x.test"], "second\r\n"));
    assert.deepEqual(codes(accepted.recipients), [250]);
    await client.quit();
    await scripted.ended[0];
    const session = scripted.sessions[0]!;
    assert.deepEqual(session.bodies.map(String), ["", "second\r\n"]);
    assert.deepEqual(verbs(session.commands), ["EHLO", "MAIL", "RCPT", "RCPT", "DATA", "RSET", "MAIL", "RCPT", "DATA", "QUIT"]);
  });

  it("a refused MAIL (pipelined): every recipient gets MAIL's reply, and RSET comes first next time", async () => {
    const scripted = await server({ answer: (line) => (line.startsWith("MAIL FROM:<bad") ? "550 5.7.1 sender refused" : undefined) });
    const client = await SmtpClient.connect(options(scripted));
    const refused = await client.send(await transaction(["a@x.test", "b@x.test"], "x\r\n", { sender: "bad@petrel.test" }));
    assert.deepEqual([refused.mail.code, ...refused.recipients.map((r) => r.lines[0])], [550, "sender refused", "sender refused"]);
    await client.send(await transaction(["a@x.test"]));
    await client.quit();
    await scripted.ended[0];
    assert.deepEqual(verbs(scripted.sessions[0]!.commands).slice(5, 7), ["RSET", "MAIL"]);
  });

  it("LMTP: one reply per accepted recipient after the data, each in its place", async () => {
    const scripted = await server({
      lmtpReply: (address) => (address.startsWith("full") ? "452 4.2.2 mailbox full" : `250 2.1.5 delivered to ${address}`),
      answer: (line) => (line.includes("<nobody@") ? "550 5.1.1 no such user" : undefined),
    });
    const client = await SmtpClient.connect(options(scripted, { protocol: "lmtp" }));
    const result = await client.send(await transaction(["a@x.test", "nobody@x.test", "full@x.test", "b@x.test"]));
    assert.deepEqual(
      result.recipients.map((r) => `${r.code} ${r.lines[0]}`),
      ["250 delivered to a@x.test", "550 no such user", "452 mailbox full", "250 delivered to b@x.test"],
    );
    await client.quit();
    assert.equal(scripted.sessions[0]!.commands[0], "LHLO client.petrel.test");
  });

  for (const pipelining of [true, false]) {
    it(`BDAT ${pipelining ? "pipelined" : "one chunk at a time"}: a binary body in 64 KiB chunks, LAST on the last; LMTP replies per recipient`, async () => {
      const extensions = ["CHUNKING", "BINARYMIME", ...(pipelining ? ["PIPELINING"] : [])];
      const scripted = await server({ extensions, lmtpReply: (address) => `250 2.0.0 ${address} ok` });
      const client = await SmtpClient.connect(options(scripted, { protocol: "lmtp" }));
      const content = binary(150_000);
      const result = await client.send(await transaction(["a@x.test", "b@x.test"], content, { parameters: { body: "BINARYMIME" } }));
      assert.deepEqual(result.recipients.map((r) => r.lines[0]), ["a@x.test ok", "b@x.test ok"]);
      await client.quit();
      await scripted.ended[0];
      const session = scripted.sessions[0]!;
      assert.ok(session.bodies[0]?.equals(content));
      assert.deepEqual(session.commands.filter((c) => c.startsWith("BDAT")), ["BDAT 65536", "BDAT 65536", "BDAT 18928 LAST"]);
      assert.equal(session.commands.find((c) => c.startsWith("MAIL")), "MAIL FROM:<alice@petrel.test> BODY=BINARYMIME");
      if (!pipelining) assert.deepEqual(session.pipelined, []);
    });
  }

  it("a plain message goes by BDAT when CHUNKING comes with PIPELINING: no dot-stuffing, LAST on the only chunk", async () => {
    const scripted = await server({ extensions: ["PIPELINING", "8BITMIME", "CHUNKING"] });
    const client = await SmtpClient.connect(options(scripted));
    const content = "Subject: x\r\n\r\n.leading dot\r\nlast line without CRLF";
    assert.deepEqual(codes((await client.send(await transaction(["a@x.test"], content))).recipients), [250]);
    await client.quit();
    await scripted.ended[0];
    const session = scripted.sessions[0]!;
    assert.deepEqual(verbs(session.commands), ["EHLO", "MAIL", "RCPT", "BDAT", "QUIT"]);
    assert.equal(session.commands[3], `BDAT ${content.length} LAST`);
    assert.equal(String(session.bodies[0]), content);
  });

  it("a body given as bytes is sent from memory, never from the file: by DATA dot-stuffed, by BDAT in 64 KiB chunks", async () => {
    const text = `Subject: x\r\n\r\n.leading dot\r\n${"a line of text\r\n.and a dot\r\n".repeat(3000)}`;
    const byData = await server({ extensions: ["PIPELINING", "8BITMIME"] });
    const client = await SmtpClient.connect(options(byData));
    const fromMemory = { path: join(bodies, "never-written"), size: text.length, bytes: Buffer.from(text) };
    assert.deepEqual(codes((await client.send(await transaction(["a@x.test"], "", { message: fromMemory }))).recipients), [250]);
    await client.quit();
    await byData.ended[0];
    assert.equal(String(byData.sessions[0]!.bodies[0]), text.replace(/(^|\r\n)\./g, "$1.."), "DATA: the bytes, dot-stuffed");
    const small = "Subject: y\r\n\r\n.dot\r\nshort\r\n";
    const again = await server({ extensions: ["PIPELINING", "8BITMIME"] });
    const reused = await SmtpClient.connect(options(again));
    for (let round = 0; round < 2; round++) {
      const fromMemorySmall = { path: join(bodies, "never-written"), size: small.length, bytes: Buffer.from(small) };
      assert.deepEqual(codes((await reused.send(await transaction(["a@x.test"], "", { message: fromMemorySmall }))).recipients), [250]);
    }
    await reused.quit();
    await again.ended[0];
    assert.deepEqual(again.sessions[0]!.bodies.map(String), [small, small].map((body) => body.replace(/(^|\r\n)\./g, "$1..")));
    const content = binary(70_000);
    const message = { path: join(bodies, "never-written"), size: content.length, bytes: content };
    const byChunks = await server({ extensions: ["PIPELINING", "CHUNKING", "BINARYMIME"] });
    const chunked = await SmtpClient.connect(options(byChunks));
    assert.deepEqual(codes((await chunked.send(await transaction(["a@x.test"], "", { message, parameters: { body: "BINARYMIME" } }))).recipients), [250]);
    await chunked.quit();
    await byChunks.ended[0];
    assert.ok(byChunks.sessions[0]!.bodies[0]?.equals(content));
    assert.deepEqual(byChunks.sessions[0]!.commands.filter((c) => c.startsWith("BDAT")), ["BDAT 65536", `BDAT ${content.length - 65536} LAST`]);
  });

  it("a refused BDAT chunk stops the body: the accepted recipients get that reply, and RSET comes next", async () => {
    let chunks = 0;
    const scripted = await server({
      extensions: ["CHUNKING", "BINARYMIME"],
      answer: (line) => (line.startsWith("BDAT") && ++chunks === 2 ? "552 5.3.4 message too big" : undefined),
    });
    const client = await SmtpClient.connect(options(scripted));
    const result = await client.send(await transaction(["a@x.test"], binary(300_000), { parameters: { body: "BINARYMIME" } }));
    assert.deepEqual([result.recipients[0]?.code, result.recipients[0]?.enhanced], [552, "5.3.4"]);
    await client.send(await transaction(["a@x.test"]));
    await client.quit();
    await scripted.ended[0];
    const sent = verbs(scripted.sessions[0]!.commands);
    assert.deepEqual(sent.slice(2), ["RCPT", "BDAT", "BDAT", "RSET", "MAIL", "RCPT", "DATA", "QUIT"]);
  });

  it("a 421 among the RCPTs: no more commands; every recipient gets the 421; no error; the connection is done", async () => {
    const scripted = await server({
      extensions: [],
      answer: (line, session) => {
        if (!line.includes("<b@")) return undefined;
        session.send("421 4.3.2 shutting down\r\n");
        return CUT;
      },
    });
    const client = await SmtpClient.connect(options(scripted));
    const result = await client.send(await transaction(["a@x.test", "b@x.test", "c@x.test"]));
    assert.deepEqual(codes(result.recipients), [421, 421, 421]);
    assert.equal(client.reusable, false);
    await client.quit();
    assert.deepEqual(verbs(scripted.sessions[0]!.commands), ["EHLO", "MAIL", "RCPT", "RCPT"]);
  });

  it("STARTTLS refused: opportunistic goes on in clear, required fails at stage starttls with the reply", async () => {
    const scripted = await server({ extensions: ["PIPELINING", "STARTTLS"], answer: (line) => (line === "STARTTLS" ? "454 4.7.0 TLS not available" : undefined) });
    const clear = await SmtpClient.connect(options(scripted, { tls: "opportunistic" }));
    assert.equal(clear.tls, undefined);
    assert.deepEqual(codes((await clear.send(await transaction(["a@x.test"]))).recipients), [250]);
    await clear.quit();
    await assert.rejects(SmtpClient.connect(options(scripted, { tls: "required" })), (e: unknown) => e instanceof SmtpClientError && e.stage === "starttls" && e.temporary && e.reply?.code === 454);
  });

  it("a TLS handshake that breaks after STARTTLS's 220 fails at stage starttls, temporary", async () => {
    const scripted = await server({
      extensions: ["STARTTLS"],
      answer: (line, session) => {
        if (line !== "STARTTLS") return undefined;
        session.send("220 2.0.0 go ahead\r\n");
        return CUT;
      },
    });
    await assert.rejects(SmtpClient.connect(options(scripted, { tls: "opportunistic" })), (e: unknown) => e instanceof SmtpClientError && e.stage === "starttls" && e.temporary);
  });

  it("AUTH LOGIN when the server offers only LOGIN", async () => {
    const scripted = await server({
      extensions: ["AUTH LOGIN"],
      answer: (line, session) => {
        const previous = session.commands.at(-2);
        if (line === "AUTH LOGIN") return "334 VXNlcm5hbWU6";
        if (previous === "AUTH LOGIN") return "334 UGFzc3dvcmQ6";
        if (session.commands.at(-3) === "AUTH LOGIN") return "235 2.7.0 ok";
        return undefined;
      },
    });
    const client = await SmtpClient.connect(options(scripted, { credentials: { user: "alice", password: "pässword" } }));
    await client.quit();
    assert.deepEqual(scripted.sessions[0]!.commands.slice(1, 4), ["AUTH LOGIN", "YWxpY2U=", Buffer.from("pässword").toString("base64")]);
  });

  it("credentials are not sent in clear to an address that is not loopback: stage auth, temporary, nothing sent", async () => {
    const scripted = await server({ extensions: ["AUTH PLAIN LOGIN"] });
    // 0.0.0.0 reaches the loopback listener on Linux, but is not a loopback address to the client.
    await assert.rejects(
      SmtpClient.connect(options(scripted, { host: "0.0.0.0", credentials: { user: "alice", password: "secret" } })),
      (e: unknown) => e instanceof SmtpClientError && e.stage === "auth" && e.temporary && /not encrypted/.test(e.message),
    );
    await scripted.ended[0];
    assert.deepEqual(verbs(scripted.sessions[0]!.commands), ["EHLO"]);
  });
});
