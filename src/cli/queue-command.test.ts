// Tests of `petrel queue list|show`: text and JSON output, failures, reading while a server writes.

import assert from "node:assert/strict";
import { stat } from "node:fs/promises";
import { Writable } from "node:stream";
import { test } from "node:test";
import { draftFor, freshDirectory } from "../queue/fixtures/spool-fixtures.ts";
import { Spool } from "../queue/spool.ts";
import { runQueueCommand } from "./queue-command.ts";

const receivedAt = Date.parse("2025-03-01T10:00:00.000Z");
const fiveMinutesLater = () => receivedAt + 5 * 60 * 1000 + 7000;

function collector(): { stream: Writable; bytes: () => Buffer; text: () => string } {
  const chunks: Buffer[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      chunks.push(Buffer.from(chunk));
      done();
    },
  });
  const bytes = () => Buffer.concat(chunks);
  return { stream, bytes, text: () => bytes().toString("utf8") };
}

async function run(argv: string[], root: string) {
  const out = collector();
  const errors = collector();
  const code = await runQueueCommand(argv, root, out.stream, { errors: errors.stream, now: fiveMinutesLater });
  return { code, out, errors };
}

const headerBytes = Buffer.from("Received: from mx.example.org\r\nSubject: caf\xe9 \x1b[31mred\r\n", "latin1");

async function spoolWithTwoMessages(root: string): Promise<Spool> {
  const spool = await Spool.open(root);
  const first = spool.create("01WWWWWWWWWWW1");
  first.write(Buffer.concat([headerBytes, Buffer.from("\r\nHello\r\n")]));
  await first.commit(draftFor("01WWWWWWWWWWW1", ["bob@example.net", "carol@example.net"]));
  const bounce = spool.create("01WWWWWWWWWWW2");
  bounce.write(Buffer.from("Subject: bounce\r\n\r\n"));
  await bounce.commit({
    ...draftFor("01WWWWWWWWWWW2"),
    sender: "",
    senderParameters: { ret: "HDRS", envid: "QQ314159" },
    recipients: [
      { address: "dave@example.com", status: "pending", notify: ["SUCCESS", "FAILURE"], orcpt: { type: "rfc822", address: "dave@example.com" } },
    ],
  });
  await spool.move("01WWWWWWWWWWW2", "incoming", "hold");
  return spool;
}

test("list prints one line per message like mailq, and a total", async (t) => {
  const root = await freshDirectory(t);
  await spoolWithTwoMessages(root);
  const { code, out, errors } = await run(["list"], root);
  assert.equal(code, 0);
  assert.equal(errors.text(), "");
  assert.equal(
    out.text(),
    [
      "ID              STATE     AGE  SIZE  SENDER               RECIPIENTS",
      "01WWWWWWWWWWW1  incoming   5m    64  <alice@example.org>  bob@example.net, carol@example.net",
      "01WWWWWWWWWWW2  hold       5m    19  <>                   dave@example.com",
      "-- 2 messages, 83 bytes",
      "",
    ].join("\n"),
  );
});

test("list --json prints every envelope with its state", async (t) => {
  const root = await freshDirectory(t);
  await spoolWithTwoMessages(root);
  const { code, out } = await run(["list", "--json"], root);
  assert.equal(code, 0);
  const listed = JSON.parse(out.text());
  assert.deepEqual(
    listed.map((entry: { id: string; state: string }) => [entry.id, entry.state]),
    [["01WWWWWWWWWWW1", "incoming"], ["01WWWWWWWWWWW2", "hold"]],
  );
  assert.equal(listed[1].envelope.senderParameters.envid, "QQ314159");
});

test("an empty queue says so", async (t) => {
  const root = await freshDirectory(t);
  await Spool.open(root);
  assert.equal((await run(["list"], root)).out.text(), "Mail queue is empty\n");
  assert.equal((await run(["list", "--json"], root)).out.text(), "[]\n");
});

test("show prints the envelope, the size and the header section, with 8-bit bytes kept and escapes defused", async (t) => {
  const root = await freshDirectory(t);
  await spoolWithTwoMessages(root);
  const { code, out } = await run(["show", "01WWWWWWWWWWW1"], root);
  assert.equal(code, 0);
  const text = out.text();
  assert.match(text, /^id: +01WWWWWWWWWWW1$/m);
  assert.match(text, /^state: +incoming$/m);
  assert.match(text, /^received: +2025-03-01T10:00:00\.000Z \(5m ago\)$/m);
  assert.match(text, /^size: +\d+ bytes$/m);
  assert.match(text, /^sender: +<alice@example\.org> BODY=8BITMIME SIZE=1000$/m);
  assert.match(text, /^client: +mx\.example\.org \[192\.0\.2\.10\]:40000 helo=mx\.example\.org protocol=ESMTPS$/m);
  assert.match(text, /^recipients: +bob@example\.net \(pending\)\n +carol@example\.net \(pending\)$/m);
  const section = out.bytes().subarray(out.bytes().indexOf("-- header section --\n") + 21);
  assert.deepEqual(section, Buffer.from("Received: from mx.example.org\r\nSubject: caf\xe9 ?[31mred\r\n", "latin1"));

  const bounce = (await run(["show", "01WWWWWWWWWWW2"], root)).out.text();
  assert.match(bounce, /^sender: +<> RET=HDRS ENVID=QQ314159$/m);
  assert.match(bounce, /^recipients: +dave@example\.com \(pending\) NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;dave@example\.com$/m);
});

test("show --json prints state, envelope, body size and headers", async (t) => {
  const root = await freshDirectory(t);
  await spoolWithTwoMessages(root);
  const { code, out } = await run(["show", "01WWWWWWWWWWW2", "--json"], root);
  assert.equal(code, 0);
  const shown = JSON.parse(out.text());
  assert.equal(shown.state, "hold");
  assert.equal(shown.envelope.sender, "");
  assert.equal(shown.bodySize, 19);
  assert.equal(shown.headers, "Subject: bounce\r\n");
});

test("an unknown id, bad arguments and a missing spool are clear failures", async (t) => {
  const root = await freshDirectory(t);
  await spoolWithTwoMessages(root);
  const unknown = await run(["show", "01WWWWWWWWWWW9"], root);
  assert.equal(unknown.code, 1);
  assert.equal(unknown.out.text(), "");
  assert.equal(unknown.errors.text(), `petrel queue show: no message with id 01WWWWWWWWWWW9 in ${root}\n`);
  assert.equal((await run(["show"], root)).code, 2);
  assert.equal((await run(["list", "--long"], root)).code, 2);
  assert.match((await run(["flush"], root)).errors.text(), /^petrel queue: wrong arguments\nusage:/);

  const missing = `${root}-nowhere`;
  const absent = await run(["list"], missing);
  assert.equal(absent.code, 1);
  assert.match(absent.errors.text(), /opening the spool directory .*-nowhere.*ENOENT/);
  await assert.rejects(stat(missing), { code: "ENOENT" }, "listing must not create the spool");
});

test("list works while a server commits and moves messages", async (t) => {
  const root = await freshDirectory(t);
  const spool = await Spool.open(root);
  const ids = Array.from({ length: 30 }, (_, n) => `01XXXXXXXXXX${String(n).padStart(2, "0")}`);
  const server = Promise.all(
    ids.map(async (id) => {
      const writer = spool.create(id);
      writer.write(Buffer.from(`Subject: ${id}\r\n\r\n`));
      await writer.commit(draftFor(id));
      await spool.move(id, "incoming", "active");
    }),
  );
  const listings = await Promise.all([run(["list", "--json"], root), run(["list", "--json"], root)]);
  await server;
  for (const { code, out } of listings) {
    assert.equal(code, 0);
    for (const entry of JSON.parse(out.text())) assert.ok(ids.includes(entry.id));
  }
  assert.equal(JSON.parse((await run(["list", "--json"], root)).out.text()).length, 30);
});
