// Tests of `petrel queue list|show` and of the command itself: text and JSON output with the delivery state,
// filters, corrupt/ files, usage mistakes and failures, reading while a server writes.

import assert from "node:assert/strict";
import { stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { draftFor, freshDirectory } from "../queue/fixtures/spool-fixtures.ts";
import { Spool } from "../queue/spool.ts";
import { isoAt, minutes, plant, runQueue as run } from "./queue-fixtures.ts";

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
  assert.equal(errors, "");
  assert.equal(
    out,
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
  const listed = JSON.parse(out);
  assert.deepEqual(
    listed.map((entry: { id: string; state: string }) => [entry.id, entry.state]),
    [["01WWWWWWWWWWW1", "incoming"], ["01WWWWWWWWWWW2", "hold"]],
  );
  assert.equal(listed[1].envelope.senderParameters.envid, "QQ314159");
});

test("an empty queue says so", async (t) => {
  const root = await freshDirectory(t);
  await Spool.open(root);
  assert.equal((await run(["list"], root)).out, "Mail queue is empty\n");
  assert.equal((await run(["list", "--json"], root)).out, "[]\n");
});

test("show prints the envelope, the size and the header section, with 8-bit bytes kept and escapes defused", async (t) => {
  const root = await freshDirectory(t);
  await spoolWithTwoMessages(root);
  const { code, out, bytes } = await run(["show", "01WWWWWWWWWWW1"], root);
  assert.equal(code, 0);
  const text = out;
  assert.match(text, /^id: +01WWWWWWWWWWW1$/m);
  assert.match(text, /^state: +incoming$/m);
  assert.match(text, /^received: +2025-03-01T10:00:00\.000Z \(5m ago\)$/m);
  assert.match(text, /^size: +\d+ bytes$/m);
  assert.match(text, /^sender: +<alice@example\.org> BODY=8BITMIME SIZE=1000$/m);
  assert.match(text, /^client: +mx\.example\.org \[192\.0\.2\.10\]:40000 helo=mx\.example\.org protocol=ESMTPS$/m);
  assert.match(text, /^recipients: +bob@example\.net \(pending\)\n +carol@example\.net \(pending\)$/m);
  const section = bytes.subarray(bytes.indexOf("-- header section --\n") + 21);
  assert.deepEqual(section, Buffer.from("Received: from mx.example.org\r\nSubject: caf\xe9 ?[31mred\r\n", "latin1"));

  const bounce = (await run(["show", "01WWWWWWWWWWW2"], root)).out;
  assert.match(bounce, /^sender: +<> RET=HDRS ENVID=QQ314159$/m);
  assert.match(bounce, /^recipients: +dave@example\.com \(pending\) NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;dave@example\.com$/m);
});

test("show --json prints state, envelope, body size and headers", async (t) => {
  const root = await freshDirectory(t);
  await spoolWithTwoMessages(root);
  const { code, out } = await run(["show", "01WWWWWWWWWWW2", "--json"], root);
  assert.equal(code, 0);
  const shown = JSON.parse(out);
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
  assert.equal(unknown.out, "");
  assert.equal(unknown.errors, `petrel queue show: no message with id 01WWWWWWWWWWW9 in ${root}\n`);
  assert.equal((await run(["show"], root)).code, 2);
  assert.equal((await run(["list", "--long"], root)).code, 2);
  assert.match((await run(["list", "--long"], root)).errors, /^petrel queue: list takes no option --long\nusage:/);
  assert.match((await run(["hold"], root)).errors, /^petrel queue: hold needs queue ids, --all, or filters\nusage:/);
  assert.match((await run(["frobnicate"], root)).errors, /^petrel queue: unknown subcommand "frobnicate"\n/);
  assert.match((await run(["--help"], root)).out, /petrel queue bounce +ID\.\.\. \| --all \| FILTER/);

  const missing = `${root}-nowhere`;
  const absent = await run(["list"], missing);
  assert.equal(absent.code, 1);
  assert.match(absent.errors, /opening the spool directory .*-nowhere.*ENOENT/);
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
    for (const entry of JSON.parse(out)) assert.ok(ids.includes(entry.id));
  }
  assert.equal(JSON.parse((await run(["list", "--json"], root)).out).length, 30);
});

test("list shows the delivery state: per-recipient outcome, last diagnostic, time to the next attempt, quarantine name", async (t) => {
  const root = await freshDirectory(t);
  await Spool.open(root);
  await plant(root, "deferred", "01WWWWWWWWWWW3", {
    recipients: [
      { address: "bob@example.net", status: "delivered", attempts: 1, last: { at: isoAt(minutes(1)), status: "2.0.0", diagnostic: "250 ok" }, reported: true },
      { address: "carol@example.net", status: "pending", attempts: 2, last: { at: isoAt(minutes(2)), status: "4.4.1", diagnostic: "connect to mx.example.net[192.0.2.1]:25: connection refused by the \x1b[31m remote host after a long wait" } },
      { address: "dave@example.org", status: "failed", attempts: 1, last: { at: isoAt(minutes(2)), status: "5.1.1", diagnostic: "550 no such user" } },
      "erin@example.org",
    ],
    schedule: { runs: 2, nextAttemptAt: isoAt(minutes(20)) },
  });
  await plant(root, "quarantine", "01WWWWWWWWWWW4", { quarantine: "spam\x07" });
  const { code, out } = await run(["list"], root);
  assert.equal(code, 0);
  assert.equal(
    out,
    [
      "ID              STATE             AGE  SIZE  SENDER               RECIPIENTS",
      "01WWWWWWWWWWW3  deferred:14m       5m    34  <alice@example.org>  bob@example.net (delivered 2.0.0), " +
        "carol@example.net (4.4.1 connect to mx.example.net[192.0.2.1]:25: connection refus...), " +
        "dave@example.org (failed 5.1.1), erin@example.org",
      "01WWWWWWWWWWW4  quarantine:spam?   5m    34  <alice@example.org>  bob@example.net",
      "-- 2 messages, 68 bytes",
      "",
    ].join("\n"),
  );
  const due = await run(["list"], root, { at: Date.parse(isoAt(minutes(21))) });
  assert.match(due.out, /^01WWWWWWWWWWW3 {2}deferred:due +21m +34 {2}<alice/m);
});

test("list filters: sender, recipient, domain and its subdomains, state, age; AND together; pending recipients only", async (t) => {
  const root = await freshDirectory(t);
  await Spool.open(root);
  await plant(root, "incoming", "01WWWWWWWWWWW5", { recipients: ["bob@mail.Example.NET"] });
  await plant(root, "deferred", "01WWWWWWWWWWW6", { sender: "", recipients: ["carol@example.com"], receivedAt: isoAt(-minutes(120)) });
  await plant(root, "hold", "01WWWWWWWWWWW7", {
    sender: "mallory@spam.example",
    recipients: [{ address: "bob@example.net", status: "delivered" }, "dave@example.org"],
  });
  const ids = async (...filters: string[]) => {
    const { code, out } = await run(["list", ...filters, "--json"], root);
    assert.equal(code, 0);
    return JSON.parse(out).map((entry: { id: string }) => entry.id.slice(-1));
  };
  assert.deepEqual(await ids(), ["5", "6", "7"]);
  assert.deepEqual(await ids("--domain", "example.net"), ["5"], "a subdomain matches; a delivered recipient does not");
  assert.deepEqual(await ids("--recipient", "@example.net"), [], "@domain is that domain only");
  assert.deepEqual(await ids("--recipient", "@mail.example.net"), ["5"]);
  assert.deepEqual(await ids("--recipient", "DAVE@example.org"), ["7"]);
  assert.deepEqual(await ids("--sender", "<>"), ["6"]);
  assert.deepEqual(await ids("--sender=@spam.example"), ["7"]);
  assert.deepEqual(await ids("--sender", "alice@example.org"), ["5"]);
  assert.deepEqual(await ids("--state", "deferred,hold"), ["6", "7"]);
  assert.deepEqual(await ids("--older-than", "1h"), ["6"]);
  assert.deepEqual(await ids("--younger-than", "1h"), ["5", "7"]);
  assert.deepEqual(await ids("--younger-than", "1h", "--state", "hold", "--recipient", "dave@example.org"), ["7"]);
  assert.deepEqual(await ids("--younger-than", "1h", "--state", "incoming", "--recipient", "dave@example.org"), []);
  assert.equal((await run(["list", "--state", "active"], root)).out, "No message matches\n");
});

test("list shows what recovery set aside in corrupt/, readable or not", async (t) => {
  const root = await freshDirectory(t);
  await Spool.open(root);
  await plant(root, "corrupt", "01WWWWWWWWWWW8");
  await writeFile(join(root, "corrupt", "01WWWWWWWWWWW8.1"), "{ not json\x1b");
  const { out } = await run(["list", "--state", "corrupt"], root);
  assert.match(out, /^01WWWWWWWWWWW8 +corrupt +5m +34 +<alice@example\.org> +bob@example\.net$/m);
  assert.match(out, /^01WWWWWWWWWWW8\.1 +corrupt +\? +\? +\? +\(unreadable: not complete JSON \(11 bytes\)\)$/m);
  const listed = JSON.parse((await run(["list", "--json", "--state", "corrupt"], root)).out);
  assert.deepEqual(listed[1], { id: "01WWWWWWWWWWW8.1", state: "corrupt", envelope: null, problem: "not complete JSON (11 bytes)" });
  const bySender = JSON.parse((await run(["list", "--state", "corrupt", "--sender", "alice@example.org", "--json"], root)).out);
  assert.deepEqual(bySender.map((entry: { id: string }) => entry.id), ["01WWWWWWWWWWW8"], "an unreadable file meets no sender filter");
});

test("show prints the delivery state: attempts, last outcome, DSN reported, schedule, quarantine", async (t) => {
  const root = await freshDirectory(t);
  await Spool.open(root);
  await plant(root, "deferred", "01WWWWWWWWWWWA", {
    recipients: [
      { address: "bob@example.net", status: "failed", attempts: 1, last: { at: isoAt(minutes(1)), status: "5.1.1", diagnostic: "550 5.1.1 no\r\n such user", remote: "mx.example.net[192.0.2.1]:25" }, reported: true },
      { address: "carol@example.net", status: "pending", attempts: 3, last: { at: isoAt(minutes(2)), status: "4.4.1", diagnostic: "connection refused" } },
      { address: "dave@example.net", status: "delivered", attempts: 1 },
    ],
    schedule: { runs: 3, nextAttemptAt: isoAt(minutes(45)), delayWarnedAt: isoAt(minutes(4)) },
  });
  const { code, out } = await run(["show", "01WWWWWWWWWWWA"], root);
  assert.equal(code, 0);
  assert.match(out, /^schedule: +3 runs, next attempt 2025-03-01T10:45:00\.000Z \(in 39m\), delay warning sent 2025-03-01T10:04:00\.000Z$/m);
  assert.match(
    out,
    new RegExp(
      [
        "^recipients:  bob@example\\.net \\(failed, 1 attempt, reported\\)",
        "               last: 2025-03-01T10:01:00\\.000Z 5\\.1\\.1 mx\\.example\\.net\\[192\\.0\\.2\\.1\\]:25: 550 5\\.1\\.1 no such user",
        "             carol@example\\.net \\(pending, 3 attempts\\)",
        "               last: 2025-03-01T10:02:00\\.000Z 4\\.4\\.1: connection refused",
        "             dave@example\\.net \\(delivered, 1 attempt, not reported yet\\)$",
      ].join("\n"),
      "m",
    ),
  );
  await plant(root, "quarantine", "01WWWWWWWWWWWB", { quarantine: "review" });
  assert.match((await run(["show", "01WWWWWWWWWWWB"], root)).out, /^state: +quarantine\nquarantine: +review$/m);
});
