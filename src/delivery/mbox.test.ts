// Tests of mbox delivery: the stored form (From_ line, mboxrd quoting, LF, blank line) as an mboxrd reader with
// mutt's From_ line rules, Python's mailbox and Dovecot read it back, and failures that leave the mbox as it was,
// with the right status. The locks are tested in mbox-locks.test.ts.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { link, lstat, mkdir, readFile, rm, stat, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { pathToFileURL } from "node:url";
import { Dovecot, pythonMailbox, run, sampleMessages } from "../../test/support/dovecot.ts";
import { FromQuoting, LineEndings } from "./local-delivery.ts";
import { deliverToMbox } from "./mbox.ts";
import { bytesOf, delivery, latin1, readMboxrd, rejectsWith, scratch } from "./mbox-test-support.ts";


/** mboxrd quoting, line by line on the whole message: the reference the streaming quoting must match. */
function quoted(stored: Buffer): Buffer {
  return bytesOf(latin1(stored).replace(/^(>*From )/gm, ">$1"));
}

/** What a reader gets back: the message, ending in a newline (mbox adds one where the message had none). */
function terminated(stored: Buffer): Buffer {
  return stored.at(-1) === 0x0a ? stored : Buffer.concat([stored, bytesOf("\n")]);
}


test("the streamed conversion (CRLF to LF, mboxrd quoting) does not depend on where the chunks split", () => {
  const inputs = [
    "From x\r\n>From y\r\n>>From z\r\nFrom \r\nFrom\r\nFrom\rx\r\n>F>From no\r\n\r\nFro",
    "Fr\rom \r\r\n\r\n\r\r\r\n>>>>From the start\r\n a From \r\n>From",
  ];
  for (const input of inputs) {
    const expected = quoted(bytesOf(input.replaceAll("\r\n", "\n")));
    const whole = bytesOf(input);
    for (let first = 0; first <= whole.length; first += 1) {
      for (let second = first; second <= whole.length; second += 1) {
        const endings = new LineEndings();
        const quoting = new FromQuoting();
        const out: Buffer[] = [];
        for (const chunk of [whole.subarray(0, first), whole.subarray(first, second), whole.subarray(second), null]) {
          const lines: Buffer[] = [];
          endings.convert(chunk, lines);
          for (const line of lines) quoting.quote(line, out);
        }
        quoting.end(out);
        assert.equal(latin1(Buffer.concat(out)), latin1(expected), `split at ${first} and ${second}`);
      }
    }
  }
});

test("messages appended read back byte-exact with trace headers (mboxrd reader, Python, Dovecot)", async (t) => {
  const dir = await scratch(t);
  const mbox = join(dir, "bob");
  const samples = sampleMessages();
  const senders = ["alice@example.org", "", '"alice smith"@example.org', "alice@example.org", "alice@example.org"];
  for (const [index, sample] of samples.entries()) {
    await deliverToMbox(mbox, await delivery(dir, sample.spooled, senders[index]));
  }
  assert.equal((await stat(mbox)).mode & 0o777, 0o600);
  await assert.rejects(lstat(`${mbox}.lock`), { code: "ENOENT" });
  const expected = samples.map((sample, index) => {
    const trace = `Return-Path: <${senders[index]}>\nDelivered-To: bob@example.net\n`;
    return terminated(Buffer.concat([bytesOf(trace), sample.stored]));
  });

  const read = readMboxrd(await readFile(mbox));
  assert.deepEqual(
    read.map(({ sender }) => sender),
    ["alice@example.org", "MAILER-DAEMON", '"alice_smith"@example.org', "alice@example.org", "alice@example.org"],
  );
  for (const [index, { message }] of read.entries()) assert.deepEqual(message, expected[index], samples[index]?.name);

  // Python and Dovecot do not undo the quoting: they give the message as stored
  const python = await pythonMailbox("mbox", mbox);
  assert.equal(python.length, samples.length);
  for (const [index, { from, bytes }] of python.entries()) {
    assert.match(from, /^\S+ \w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}$/);
    assert.deepEqual(bytes, quoted(expected[index]!), samples[index]?.name);
  }
  const dovecot = await Dovecot.start(t);
  const fetched = await dovecot.messages(dovecot.mbox(await dovecot.copyOf(mbox)));
  assert.deepEqual(fetched, expected.map(quoted));
});

test("an mbox that does not end in a blank line gets one before the From_ line", async (t) => {
  const dir = await scratch(t);
  for (const [before, separation] of [["no newline", "\n\n"], ["one newline\n", "\n"]] as const) {
    const mbox = join(dir, `mbox-${separation.length}`);
    const start = `From someone@example.org Sat Jan  4 10:00:00 2025\nSubject: old\n\n${before}`;
    await writeFile(mbox, start);
    await deliverToMbox(mbox, await delivery(dir, "Subject: new\r\n\r\nnew\r\n"));
    const text = await readFile(mbox, "latin1");
    assert.ok(text.startsWith(`${start}${separation}From alice@example.org `), JSON.stringify(text));
    assert.equal(readMboxrd(bytesOf(text)).length, 2);
  }
});

test("a path that is not a regular file fails permanently with 5.2.0 and is left as it was", async (t) => {
  const dir = await scratch(t);
  const target = join(dir, "target");
  await writeFile(target, "precious\n");
  const folder = join(dir, "folder");
  await mkdir(folder);
  const symbolic = join(dir, "symbolic");
  await symlink(target, symbolic);
  const hardLinked = join(dir, "hard-linked");
  await link(target, hardLinked);
  const fifo = join(dir, "fifo");
  assert.equal((await run("mkfifo", [fifo])).code, 0);
  for (const path of [folder, symbolic, hardLinked, fifo]) {
    await assert.rejects(deliverToMbox(path, await delivery(dir, "Subject: x\r\n\r\n")), rejectsWith("5.2.0", false), path);
    await assert.rejects(lstat(`${path}.lock`), { code: "ENOENT" });
  }
  assert.equal(await readFile(target, "utf8"), "precious\n");
});

test("a failure while appending truncates the mbox back to its size before (4.3.0: spool file unreadable)", async (t) => {
  const dir = await scratch(t);
  const mbox = join(dir, "bob");
  await deliverToMbox(mbox, await delivery(dir, "Subject: kept\r\n\r\nkept\r\n"));
  const before = await readFile(mbox);
  const unreadable = await delivery(dir, "x");
  await rm(unreadable.bodyPath);
  await mkdir(unreadable.bodyPath); // read() fails with EISDIR after the From_ line and trace headers are written
  await assert.rejects(deliverToMbox(mbox, unreadable), rejectsWith("4.3.0", true));
  assert.deepEqual(await readFile(mbox), before);
  await assert.rejects(lstat(`${mbox}.lock`), { code: "ENOENT" });
});

test("without the native fcntl lock (no prebuilt addon for the platform) an mbox delivery is deferred with 4.3.0, nothing written", async (t) => {
  const dir = await scratch(t);
  const mbox = join(dir, "bob");
  const spooledBody = await delivery(dir, "Subject: x\r\n\r\nx\r\n");
  // A child whose module resolution refuses the addon, as on a platform it has no build for.
  const hooks = [
    'import { registerHooks } from "node:module";',
    "registerHooks({ resolve(specifier, context, next) {",
    '  if (specifier === "fs-native-extensions") throw new Error("no prebuilt addon for this platform");',
    "  return next(specifier, context);",
    "} });",
  ].join("\n");
  const child = [
    "const [module, mbox, body] = process.argv.slice(1);",
    "const { deliverToMbox } = await import(module);",
    "try { await deliverToMbox(mbox, { queueId: 'Q', sender: 'a@example.org', recipient: 'bob@example.net', bodyPath: body }); }",
    "catch (error) { console.log(JSON.stringify({ status: error.status, temporary: error.temporary, message: error.message })); }",
  ].join("\n");
  const module = pathToFileURL(join(import.meta.dirname, "mbox.ts")).href;
  const args = ["--import", `data:text/javascript,${encodeURIComponent(hooks)}`, "--input-type=module", "-e", child, module, mbox, spooledBody.bodyPath];
  const ran = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "inherit"] });
  let output = "";
  ran.stdout.setEncoding("utf8").on("data", (text: string) => (output += text));
  const [code] = await once(ran, "exit");
  assert.equal(code, 0, output);
  const outcome = JSON.parse(output) as { status: string; temporary: boolean; message: string };
  assert.deepEqual([outcome.status, outcome.temporary], ["4.3.0", true]);
  assert.match(outcome.message, /fcntl\(\) locking is not available here .*no prebuilt addon/);
  assert.equal(await readFile(mbox, "latin1").catch(() => "no mbox"), "no mbox", "nothing created");
  await assert.rejects(lstat(`${mbox}.lock`), { code: "ENOENT" });
});

test("a relative path (4.3.5) and a recipient with LF (5.1.3) are refused before anything is written", async (t) => {
  const dir = await scratch(t);
  await assert.rejects(deliverToMbox("bob", await delivery(dir, "x\r\n")), rejectsWith("4.3.5", true));
  const mbox = join(dir, "bob");
  const injected = { ...(await delivery(dir, "x\r\n")), recipient: "bob@example.net\nX-Injected: yes" };
  await assert.rejects(deliverToMbox(mbox, injected), rejectsWith("5.1.3", false));
  await assert.rejects(lstat(mbox), { code: "ENOENT" });
});

const unprivileged =
  process.getuid?.() === 0 ? "root writes through mode 0500 folders: this needs an unprivileged user" : false;

test("an mbox in a folder we may not write fails temporarily with 4.3.0", { skip: unprivileged }, async (t) => {
  const dir = await scratch(t);
  const folder = join(dir, "mail");
  await mkdir(folder, { mode: 0o500 });
  await assert.rejects(deliverToMbox(join(folder, "bob"), await delivery(dir, "x\r\n")), rejectsWith("4.3.0", true));
});
