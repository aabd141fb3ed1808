// Tests of mbox delivery: the stored form (From_ line, mboxrd quoting, LF, blank line) as an mboxrd reader with
// mutt's From_ line rules, Python's mailbox and Dovecot read it back; the fcntl lock and the dot-lock against
// concurrent deliveries (this process and others), against readers that take either (Python, Dovecot), stale
// and busy locks, an mbox replaced while we waited; and failures that leave the mbox as it was, with the right
// status.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { constants } from "node:fs";
import { link, lstat, mkdir, mkdtemp, open, readdir, readFile, readlink, rm, stat, symlink, utimes, watch, writeFile } from "node:fs/promises";
import { hostname, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { setTimeout } from "node:timers/promises";
import type { TestContext } from "node:test";
import { pathToFileURL } from "node:url";
import { Dovecot, pythonLockingReader, pythonMailbox, run, sampleMessages } from "../../test/support/dovecot.ts";
import type { LocalDelivery } from "./local-delivery.ts";
import { FromQuoting, LineEndings, LocalDeliveryError } from "./local-delivery.ts";
import { deliverToMbox } from "./mbox.ts";

async function scratch(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "petrel-mbox-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

let spooled = 0;

async function delivery(dir: string, bytes: Buffer | string, sender = "alice@example.org"): Promise<LocalDelivery> {
  spooled += 1;
  const bodyPath = join(dir, `body-${spooled}`);
  await writeFile(bodyPath, bytes);
  return { queueId: `Q${spooled}`, sender, recipient: "bob@example.net", bodyPath };
}

function rejectsWith(status: string, temporary: boolean) {
  return (error: unknown) => error instanceof LocalDeliveryError && error.status === status && error.temporary === temporary;
}

const latin1 = (bytes: Buffer) => bytes.toString("latin1");
const bytesOf = (text: string) => Buffer.from(text, "latin1");

/** mboxrd quoting, line by line on the whole message: the reference the streaming quoting must match. */
function quoted(stored: Buffer): Buffer {
  return bytesOf(latin1(stored).replace(/^(>*From )/gm, ">$1"));
}

/** What a reader gets back: the message, ending in a newline (mbox adds one where the message had none). */
function terminated(stored: Buffer): Buffer {
  return stored.at(-1) === 0x0a ? stored : Buffer.concat([stored, bytesOf("\n")]);
}

// mutt's is_from(): "From " sender, then an asctime date
const weekday = "(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)";
const month = "(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)";
const fromLine = new RegExp(`^From (\\S+) ${weekday} ${month} [ \\d]\\d \\d\\d:\\d\\d:\\d\\d \\d{4}$`);

/**
 * An mboxrd reader that refuses anything doubtful: every line starting "From " must be a well-formed From_
 * line at the start of the file or after a blank line, and the file must end with a blank line.
 */
function readMboxrd(file: Buffer): { sender: string; message: Buffer }[] {
  const text = latin1(file);
  if (text === "") return [];
  assert.ok(text.endsWith("\n\n"), "the mbox ends with a blank line");
  const lines = text.slice(0, -1).split("\n");
  const messages: { sender: string; lines: string[] }[] = [];
  for (const [index, line] of lines.entries()) {
    if (!line.startsWith("From ")) {
      assert.ok(messages.length > 0, "the mbox starts with a From_ line");
      messages.at(-1)?.lines.push(line.replace(/^>(>*From )/, "$1"));
      continue;
    }
    const match = fromLine.exec(line);
    assert.ok(match, `a well-formed From_ line: ${line.slice(0, 80)}`);
    assert.ok(index === 0 || lines[index - 1] === "", `a From_ line after a blank line: ${line}`);
    messages.at(-1)?.lines.pop(); // the blank line belongs to the separation
    messages.push({ sender: match[1] ?? "", lines: [] });
  }
  messages.at(-1)?.lines.pop();
  return messages.map(({ sender, lines: body }) => ({ sender, message: bytesOf(body.map((line) => `${line}\n`).join("")) }));
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

/** A message body for the concurrency tests: its Subject names it and says how long the body is. */
function numbered(name: string, index: number): { name: string; spooled: string; body: string } {
  const lines = Array.from({ length: (index * 7919) % 4000 }, (_, line) => `${name} line ${line} ${"x".repeat(40)}`);
  const body = lines.map((line) => `${line}\n`).join("");
  return { name, spooled: `Subject: ${name} ${body.length}\r\n\r\n${body.replaceAll("\n", "\r\n")}`, body };
}

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
  for (const holder of [`${process.pid}:${hostname()}`, `${process.pid}`, "", `${dead}:elsewhere.invalid`]) {
    const mbox = join(dir, `mbox-${spooled}`);
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
  for (const { holder, modified, staleLockAge } of cases) {
    const mbox = join(dir, `mbox-${spooled}`);
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
