// Tests of Maildir delivery: what Dovecot and Python's mailbox read back (byte-exact, LF form, trace headers),
// the Maildir spec's names and Dovecot's S=, modes, creation of missing folders, concurrent deliveries, and
// failures that leave nothing behind with the right status.

import assert from "node:assert/strict";
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import { test } from "node:test";
import type { TestContext } from "node:test";
import { Dovecot, pythonMailbox, sampleMessages } from "../../test/support/dovecot.ts";
import type { LocalDelivery } from "./local-delivery.ts";
import { LocalDeliveryError } from "./local-delivery.ts";
import { deliverToMaildir } from "./maildir.ts";

async function scratch(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "petrel-maildir-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

let spooled = 0;

/** Spools `bytes` as a body file and returns the delivery of it to bob. */
async function delivery(dir: string, bytes: Buffer, sender = "alice@example.org"): Promise<LocalDelivery> {
  spooled += 1;
  const bodyPath = join(dir, `body-${spooled}`);
  await writeFile(bodyPath, bytes);
  return { queueId: `Q${spooled}`, sender, recipient: "bob@example.net", bodyPath };
}

const subfolders = ["tmp", "new", "cur"];
const small = Buffer.from("Subject: x\r\n\r\nx\r\n");
const trace = Buffer.from("Return-Path: <alice@example.org>\nDelivered-To: bob@example.net\n");
const uniqueName = /^(\d+)\.M(\d{1,6})P(\d+)Q(\d+)\.([^/:]+),S=(\d+)$/;

function sorted(buffers: readonly Buffer[]): Buffer[] {
  return [...buffers].sort(Buffer.compare);
}

function rejectsWith(status: string, temporary: boolean) {
  return (error: unknown) => error instanceof LocalDeliveryError && error.status === status && error.temporary === temporary;
}

test("messages delivered into a new Maildir read back byte-exact with their trace headers (Dovecot, Python)", async (t) => {
  const dir = await scratch(t);
  const folder = join(dir, "home", "bob", "Maildir");
  const samples = sampleMessages();
  const expected = samples.map((sample) => Buffer.concat([trace, sample.stored]));
  const files: string[] = [];
  for (const sample of samples) files.push((await deliverToMaildir(folder, await delivery(dir, sample.spooled))).file);

  for (const [index, file] of files.entries()) {
    assert.equal(dirname(file), join(folder, "new"));
    const name = uniqueName.exec(basename(file));
    assert.ok(name, `${basename(file)} is a Maildir unique name with S=`);
    assert.equal(Number(name[3]), process.pid);
    const info = await stat(file);
    assert.equal(Number(name[6]), info.size, "S= is the stored size");
    assert.equal(info.mode & 0o777, 0o600);
    assert.deepEqual(await readFile(file), expected[index], samples[index]?.name);
  }
  assert.equal(new Set(files).size, files.length);
  const created = [join(dir, "home"), join(dir, "home", "bob"), folder, ...subfolders.map((sub) => join(folder, sub))];
  for (const made of created) {
    assert.equal((await stat(made)).mode & 0o777, 0o700, made);
  }
  assert.deepEqual(await readdir(join(folder, "tmp")), []);

  const python = await pythonMailbox("Maildir", folder);
  assert.deepEqual(sorted(python.map((message) => message.bytes)), sorted(expected));

  const dovecot = await Dovecot.start(t);
  const read = await dovecot.messages(Dovecot.maildir(await dovecot.copyOf(folder)));
  assert.deepEqual(sorted(read), sorted(expected));
});

test("a Maildir missing tmp/ and new/ gets them back (mode 0700) and the message lands", async (t) => {
  const dir = await scratch(t);
  const folder = join(dir, "Maildir");
  await mkdir(join(folder, "cur"), { recursive: true });
  const { file } = await deliverToMaildir(folder, await delivery(dir, Buffer.from("Subject: x\r\n\r\nbody\r\n")));
  assert.equal((await stat(join(folder, "tmp"))).mode & 0o777, 0o700);
  assert.equal((await stat(join(folder, "new"))).mode & 0o777, 0o700);
  assert.deepEqual(await readFile(file), Buffer.concat([trace, Buffer.from("Subject: x\n\nbody\n")]));
});

test("many deliveries into one Maildir at once all land whole under unique names", async (t) => {
  const dir = await scratch(t);
  const folder = join(dir, "Maildir");
  const bodies = Array.from({ length: 40 }, (_, index) => `Subject: ${index}\r\n\r\n${"line\r\n".repeat(index * 500)}`);
  const deliveries = await Promise.all(bodies.map((body) => delivery(dir, Buffer.from(body))));
  const files = await Promise.all(deliveries.map((each) => deliverToMaildir(folder, each)));
  assert.equal(new Set(files.map(({ file }) => file)).size, bodies.length);
  assert.equal((await readdir(join(folder, "new"))).length, bodies.length);
  for (const [index, { file }] of files.entries()) {
    const stored = Buffer.concat([trace, Buffer.from(bodies[index]!.replaceAll("\r\n", "\n"))]);
    assert.deepEqual(await readFile(file), stored);
  }
  assert.deepEqual(await readdir(join(folder, "tmp")), []);
});

test("a Maildir path that is a file fails permanently with 5.2.0", async (t) => {
  const dir = await scratch(t);
  const notAFolder = join(dir, "Maildir");
  await writeFile(notAFolder, "I am a file\n");
  await assert.rejects(deliverToMaildir(notAFolder, await delivery(dir, small)), rejectsWith("5.2.0", false));
  assert.equal(await readFile(notAFolder, "utf8"), "I am a file\n");
});

test("a spooled message that cannot be read fails temporarily (4.3.0) and leaves no file in tmp/ or new/", async (t) => {
  const dir = await scratch(t);
  const folder = join(dir, "Maildir");
  const gone = await delivery(dir, small);
  await rm(gone.bodyPath);
  await assert.rejects(deliverToMaildir(folder, gone), rejectsWith("4.3.0", true));
  assert.deepEqual(await readdir(join(folder, "tmp")), []);
  assert.deepEqual(await readdir(join(folder, "new")), []);
});

const asRoot = process.getuid?.() === 0;
const rootSkip = asRoot ? "root writes through mode 0500 folders: this needs an unprivileged user" : false;

test("an unwritable tmp/ fails temporarily with 4.3.0", { skip: rootSkip }, async (t) => {
  const dir = await scratch(t);
  const folder = join(dir, "Maildir");
  for (const sub of subfolders) await mkdir(join(folder, sub), { recursive: true, mode: 0o700 });
  await chmod(join(folder, "tmp"), 0o500);
  await assert.rejects(deliverToMaildir(folder, await delivery(dir, small)), rejectsWith("4.3.0", true));
  assert.deepEqual(await readdir(join(folder, "new")), []);
});

test("an unwritable new/ fails temporarily with 4.3.0 and removes the file from tmp/", { skip: rootSkip }, async (t) => {
  const dir = await scratch(t);
  const folder = join(dir, "Maildir");
  for (const sub of subfolders) await mkdir(join(folder, sub), { recursive: true, mode: 0o700 });
  await chmod(join(folder, "new"), 0o500);
  await assert.rejects(deliverToMaildir(folder, await delivery(dir, small)), rejectsWith("4.3.0", true));
  assert.deepEqual(await readdir(join(folder, "tmp")), []);
  assert.deepEqual(await readdir(join(folder, "new")), []);
});

test("a relative path (4.3.5) and a sender with CR LF (5.1.7) are refused before anything is written", async (t) => {
  const dir = await scratch(t);
  await assert.rejects(deliverToMaildir("Maildir", await delivery(dir, Buffer.from("x\r\n"))), rejectsWith("4.3.5", true));
  const folder = join(dir, "Maildir");
  const injected = await delivery(dir, Buffer.from("x\r\n"), "alice@example.org>\r\nX-Injected: yes");
  await assert.rejects(deliverToMaildir(folder, injected), rejectsWith("5.1.7", false));
  const badRecipient = { ...(await delivery(dir, Buffer.from("x\r\n"))), recipient: "bob@example.net\nX-Injected: yes" };
  await assert.rejects(deliverToMaildir(folder, badRecipient), rejectsWith("5.1.3", false));
  await assert.rejects(stat(folder), { code: "ENOENT" });
});
