// Tests of the mbox locks: the fcntl lock and the dot-lock against concurrent deliveries (this process and
// others), against readers that take either (Python, Dovecot), against another program's fcntl lock and a writer
// that takes only the dot-lock; stale and busy locks, and an mbox replaced while we waited.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { constants } from "node:fs";
import { lstat, mkdtemp, open, readdir, readFile, readlink, rm, utimes, watch, writeFile } from "node:fs/promises";
import { hostname, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { setTimeout } from "node:timers/promises";
import type { TestContext } from "node:test";
import { pathToFileURL } from "node:url";
import { Dovecot, pythonLockingReader, run } from "../../test/support/dovecot.ts";
import type { LocalDelivery } from "./local-delivery.ts";
import { deliverToMbox } from "./mbox.ts";
import { delivery, latin1, numbered, readMboxrd, rejectsWith, scratch } from "./mbox-test-support.ts";

test("many deliveries into one mbox at once, from this process and two others, all arrive whole", async (t) => {
  const dir = await scratch(t);
  const mbox = join(dir, "bob");
  const module = pathToFileURL(join(import.meta.dirname, "mbox.ts")).href;
  const child = [
    "const [module, mbox, ...bodies] = process.argv.slice(1);",
    "const { deliverToMbox } = await import(module);",
    "await Promise.all(bodies.map((bodyPath, i) =>",
    "  deliverToMbox(mbox, { queueId: 'C' + i, sender: 'c@example.org', recipient: 'bob@example.net', bodyPath })));",
  ].join("\n");
  const expected = new Map<string, string>();
  const batches: LocalDelivery[][] = [];
  for (const process of ["parent", "childA", "childB"]) {
    const batch: LocalDelivery[] = [];
    for (let index = 0; index < 30; index += 1) {
      const message = numbered(`${process}-${index}`, index);
      expected.set(message.name, message.body);
      batch.push(await delivery(dir, message.spooled));
    }
    batches.push(batch);
  }
  const children = batches.slice(1).map((batch) => {
    const args = ["--input-type=module", "-e", child, module, mbox, ...batch.map((each) => each.bodyPath)];
    return new Promise<number | null>((resolve) => {
      spawn(process.execPath, args, { stdio: "inherit" }).on("exit", resolve);
    });
  });
  await Promise.all((batches[0] ?? []).map((each) => deliverToMbox(mbox, each, { lockTimeout: 120_000 })));
  assert.deepEqual(await Promise.all(children), [0, 0]);

  const read = readMboxrd(await readFile(mbox));
  assert.equal(read.length, expected.size);
  const seen = new Set<string>();
  for (const { message } of read) {
    const [head = "", body] = latin1(message).split("\n\n", 2);
    const name = /^Subject: (\S+) (\d+)$/m.exec(head)?.[1] ?? "";
    assert.equal(body, expected.get(name), `message ${name} is whole`);
    seen.add(name);
  }
  assert.equal(seen.size, expected.size);
});

for (const [locks, reader] of [
  ["dot-lock", "a reader that takes the dot-lock (Python's mailbox, as mutt)"],
  ["fcntl", "a reader that takes only a shared fcntl lock (as Dovecot's readers by default)"],
] as const) {
  test(`${reader} never sees a torn message while deliveries run`, async (t) => {
    const dir = await scratch(t);
    const mbox = join(dir, "bob");
    const messages = Array.from({ length: 40 }, (_, index) => numbered(`m${index}`, index * 3));
    const deliveries = await Promise.all(messages.map((message) => delivery(dir, message.spooled)));
    const reading = pythonLockingReader(mbox, messages.length, locks);
    await reading.ready;
    await Promise.all(deliveries.map((each) => deliverToMbox(mbox, each, { lockTimeout: 120_000 })));
    const { code, output } = await reading.done;
    assert.equal(code, 0, output);
    const { reads } = JSON.parse(output.split("\n")[1] ?? "{}") as { reads: number };
    assert.ok(reads >= 2, `the reader read while deliveries ran (${reads} reads)`);
  });
}

/**
 * A spooled message that arrives as slowly as the test likes: a FIFO fed through `cat`. After the test, a
 * delivery still reading it gets its end, even one that is stuck opening it (a FIFO opened read-write never
 * waits, and counts as the writer the reader waits for).
 */
async function slowBody(t: TestContext): Promise<{ path: string; write(text: string): void; end(): void }> {
  const dir = await mkdtemp(join(tmpdir(), "petrel-fifo-"));
  const path = join(dir, "body");
  const made = await run("mkfifo", [path]);
  assert.equal(made.code, 0, made.stderr);
  const feeder = spawn("sh", ["-c", 'exec cat > "$1"', "sh", path], { stdio: ["pipe", "ignore", "inherit"] });
  t.after(async () => {
    feeder.stdin.end();
    if (feeder.exitCode === null) feeder.kill();
    await (await open(path, constants.O_RDWR)).close();
    await rm(dir, { recursive: true, force: true });
  });
  return { path, write: (text) => feeder.stdin.write(text), end: () => feeder.stdin.end() };
}

/** Resolves once the file at `path` contains `needle`, looking again at each change in its folder. */
async function untilContains(path: string, needle: string): Promise<void> {
  const contains = async () => (await readFile(path, "latin1").catch(() => "")).includes(needle);
  const stop = new AbortController();
  const changes = watch(dirname(path), { signal: stop.signal });
  try {
    if (await contains()) return;
    for await (const _ of changes) if (await contains()) return;
  } finally {
    stop.abort();
  }
}

test("Dovecot (default fcntl reads, and dot-lock reads) waits for a delivery in progress, reads it whole after, breaks a dead pid's dot-lock", async (t) => {
  const dir = await scratch(t);
  const mbox = join(dir, "bob");
  await deliverToMbox(mbox, await delivery(dir, "Subject: first\r\n\r\nfirst\r\n"));
  const dovecot = await Dovecot.start(t);
  await dovecot.readable(dir);
  const slow = await slowBody(t);
  const second = deliverToMbox(mbox, { ...(await delivery(dir, "")), bodyPath: slow.path });
  slow.write("Subject: second\r\n\r\npartial line\r\n");
  await untilContains(mbox, "partial line");

  const waiting = { mbox_lock_timeout: "1 secs" };
  const dotlockReads = { mbox_read_locks: "fcntl dotlock" };
  for (const settings of [{ ...waiting, ...dotlockReads }, waiting]) {
    const listing = await dovecot.doveadm(dovecot.mbox(mbox), ["-f", "pager", "fetch", "text", "all"], settings);
    assert.equal(listing.code, 75, `${JSON.stringify(settings)}: ${listing.stderr}`);
    assert.match(listing.stderr, /Timeout while waiting for lock/);
    assert.doesNotMatch(listing.stdout.toString("latin1"), /partial line/);
  }

  slow.write("rest\r\n");
  slow.end();
  await second;
  const trace = "Return-Path: <alice@example.org>\nDelivered-To: bob@example.net\n";
  const whole = [`${trace}Subject: first\n\nfirst\n`, `${trace}Subject: second\n\npartial line\nrest\n`];
  const read = await dovecot.messages(dovecot.mbox(mbox), dotlockReads);
  assert.deepEqual(read.map(latin1), whole);

  // a lock in Petrel's format whose pid is dead: Dovecot removes it rather than waiting (its pid check starts 2 s in)
  await writeFile(`${mbox}.lock`, `${await deadPid()}:${hostname()}`);
  const past = new Date(Date.now() - 10_000);
  await utimes(`${mbox}.lock`, past, past);
  const afterCrash = await dovecot.messages(dovecot.mbox(mbox), { ...dotlockReads, ...waiting });
  assert.deepEqual(afterCrash.map(latin1), whole);
});

/** The pid of a process that has exited. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ["-e", ""], { stdio: "ignore" });
  await new Promise((resolve) => child.on("exit", resolve));
  assert.ok(child.pid !== undefined);
  return child.pid;
}

test("a lock held by a live process, or by another host, fails the delivery with 4.2.0 after lockTimeout", async (t) => {
  const dir = await scratch(t);
  const dead = await deadPid();
  for (const [index, holder] of [`${process.pid}:${hostname()}`, `${process.pid}`, "", `${dead}:elsewhere.invalid`].entries()) {
    const mbox = join(dir, `mbox-${index}`);
    await writeFile(mbox, "");
    await writeFile(`${mbox}.lock`, holder);
    const attempt = deliverToMbox(mbox, await delivery(dir, "Subject: x\r\n\r\nx\r\n"), { lockTimeout: 300 });
    await assert.rejects(attempt, (error) => rejectsWith("4.2.0", true)(error) && String(error).includes(`${mbox}.lock`));
    assert.equal(await readFile(mbox, "latin1"), "", holder);
    assert.equal(await readFile(`${mbox}.lock`, "latin1"), holder);
  }
});

/**
 * Another program's fcntl lock on the mbox, as Dovecot or mutt take it (Python's lockf: a classic POSIX lock):
 * held from `locked` until `release(replace)`, which first moves the mbox aside to `<path>.old` and creates a
 * new empty one when `replace` is true.
 */
async function fcntlHolder(t: TestContext, path: string): Promise<{ release(replace: boolean): Promise<void> }> {
  const script = [
    "import fcntl, os, sys",
    "path = sys.argv[1]",
    "file = open(path, 'r+')",
    "fcntl.lockf(file, fcntl.LOCK_EX)",
    "print('locked', flush=True)",
    "if sys.stdin.readline().strip() == 'replace':",
    "    os.rename(path, path + '.old')",
    "    open(path, 'w').close()",
  ].join("\n");
  const holder = spawn("python3", ["-c", script, path], { stdio: ["pipe", "pipe", "inherit"] });
  const exited = new Promise((resolve) => holder.on("exit", resolve));
  t.after(() => {
    holder.kill();
    return exited;
  });
  await new Promise<void>((resolve, reject) => {
    holder.stdout.once("data", () => resolve());
    holder.once("exit", (code) => reject(new Error(`the lock holder exited with ${code}`)));
  });
  return {
    async release(replace) {
      holder.stdin.end(replace ? "replace\n" : "release\n");
      await exited;
    },
  };
}

/** Resolves once a descriptor of this process names `path` (looking every few milliseconds). */
async function untilOpenHere(path: string): Promise<void> {
  for (;;) {
    const fds = await readdir("/proc/self/fd");
    const names = await Promise.all(fds.map((fd) => readlink(`/proc/self/fd/${fd}`).catch(() => "")));
    if (names.includes(path)) return;
    await setTimeout(5);
  }
}

test("another program's fcntl lock: the delivery waits for it, fails with 4.2.0 after lockTimeout, takes no dot-lock", async (t) => {
  const dir = await scratch(t);
  const mbox = join(dir, "bob");
  await writeFile(mbox, "");
  const holder = await fcntlHolder(t, mbox);
  const refused = deliverToMbox(mbox, await delivery(dir, "Subject: x\r\n\r\nx\r\n"), { lockTimeout: 300 });
  await assert.rejects(refused, (error) => rejectsWith("4.2.0", true)(error) && String(error).includes("fcntl lock"));
  assert.equal(await readFile(mbox, "latin1"), "");
  await assert.rejects(lstat(`${mbox}.lock`), { code: "ENOENT" });

  const waiting = deliverToMbox(mbox, await delivery(dir, "Subject: later\r\n\r\nlater\r\n"), { lockTimeout: 60_000 });
  await holder.release(false);
  await waiting;
  assert.deepEqual(readMboxrd(await readFile(mbox)).map(({ message }) => /^Subject: (\S+)$/m.exec(latin1(message))?.[1]), ["later"]);
});

test("a writer that takes only the dot-lock and appends while we wait for it: our message is separated from its", async (t) => {
  const dir = await scratch(t);
  const mbox = join(dir, "bob");
  await writeFile(mbox, "");
  // It holds the dot-lock; once our fcntl lock shows (its shared lockf is refused), it appends a message that
  // does not end in a blank line, then lets the dot-lock go.
  const script = [
    "import fcntl, os, sys, time",
    "path = sys.argv[1]",
    "lock = os.open(path + '.lock', os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)",
    "os.write(lock, str(os.getpid()).encode()); os.close(lock)",
    "print('locked', flush=True)",
    "while True:",
    "    with open(path, 'rb') as probe:",
    "        try:",
    "            fcntl.lockf(probe, fcntl.LOCK_SH | fcntl.LOCK_NB)",
    "        except OSError:",
    "            break",
    "    time.sleep(0.005)",
    "with open(path, 'ab') as box:",
    "    box.write(b'From theirs@example.org Sun Nov 29 09:00:00 2026\\nSubject: theirs\\n\\nno blank line after this')",
    "os.unlink(path + '.lock')",
  ].join("\n");
  const writer = spawn("python3", ["-c", script, mbox], { stdio: ["ignore", "pipe", "inherit"] });
  const exited = once(writer, "exit");
  await once(writer.stdout, "data");
  await deliverToMbox(mbox, await delivery(dir, "Subject: ours\r\n\r\nours\r\n"), { lockTimeout: 60_000 });
  assert.deepEqual(await exited, [0, null]);
  const read = readMboxrd(await readFile(mbox));
  assert.deepEqual(read.map(({ sender }) => sender), ["theirs@example.org", "alice@example.org"]);
  assert.match(latin1(read[0]!.message), /no blank line after this\n$/);
});

test("an mbox replaced while the delivery waited for its lock: the message goes into the file the path names now", async (t) => {
  const dir = await scratch(t);
  const mbox = join(dir, "bob");
  await writeFile(mbox, "");
  const holder = await fcntlHolder(t, mbox);
  const waiting = deliverToMbox(mbox, await delivery(dir, "Subject: x\r\n\r\nx\r\n"), { lockTimeout: 60_000 });
  await untilOpenHere(mbox); // the delivery holds the old file open, waiting for its lock
  await holder.release(true);
  await waiting;
  assert.equal(await readFile(`${mbox}.old`, "latin1"), "");
  assert.equal(readMboxrd(await readFile(mbox)).length, 1);
});

test("stale locks are removed: a dead pid on this host, or untouched for staleLockAge", async (t) => {
  const dir = await scratch(t);
  const dead = await deadPid();
  const longAgo = new Date(Date.now() - 10 * 60_000);
  const cases = [
    { holder: `${dead}:${hostname()}`, modified: new Date(), staleLockAge: undefined },
    { holder: `${dead}\n`, modified: new Date(), staleLockAge: undefined },
    { holder: "", modified: longAgo, staleLockAge: undefined },
    { holder: `${process.pid}:${hostname()}`, modified: new Date(Date.now() - 10_000), staleLockAge: 5_000 },
  ];
  for (const [index, { holder, modified, staleLockAge }] of cases.entries()) {
    const mbox = join(dir, `mbox-${index}`);
    await writeFile(`${mbox}.lock`, holder);
    await utimes(`${mbox}.lock`, modified, modified);
    await deliverToMbox(mbox, await delivery(dir, "Subject: x\r\n\r\nx\r\n"), { lockTimeout: 300, staleLockAge });
    assert.equal(readMboxrd(await readFile(mbox)).length, 1, holder);
    await assert.rejects(lstat(`${mbox}.lock`), { code: "ENOENT" });
  }
});

test("a delivery keeps its lock fresh while it writes; another of this process gives up at its deadline", {
  timeout: 60_000,
}, async (t) => {
  const dir = await scratch(t);
  const mbox = join(dir, "bob");
  const lock = `${mbox}.lock`;
  const staleLockAge = 300;
  const slow = await slowBody(t);
  const writing = deliverToMbox(mbox, { ...(await delivery(dir, "", "")), bodyPath: slow.path }, { staleLockAge });
  slow.write("Subject: slow\r\n\r\nstarted\r\n");
  await untilContains(mbox, "started");
  const held = await readFile(lock, "latin1");
  assert.equal(held, `${process.pid}:${hostname()}`);

  const heldSince = Date.now();
  const stop = new AbortController();
  for await (const _ of watch(lock, { signal: stop.signal })) if (Date.now() - heldSince > 2 * staleLockAge) break;
  stop.abort();
  assert.ok(Date.now() - (await lstat(lock)).mtimeMs < staleLockAge, "the lock was touched within staleLockAge");

  const waiting = deliverToMbox(mbox, await delivery(dir, "Subject: queued\r\n\r\n"), { lockTimeout: 200 });
  await assert.rejects(waiting, (error) => rejectsWith("4.2.0", true)(error) && String(error).includes("this process"));

  slow.write("done\r\n");
  slow.end();
  await writing;
  const read = readMboxrd(await readFile(mbox));
  const bodies = read.map(({ sender, message }) => [sender, latin1(message).split("\n\n")[1]]);
  assert.deepEqual(bodies, [["MAILER-DAEMON", "started\ndone\n"]]);
});
