// Real, independent readers of the mailboxes local delivery writes, and the sample messages its tests deliver:
// Dovecot's doveadm (Debian package dovecot-core) and Python's mailbox module (python3). No Dovecot server runs:
// doveadm is given a minimal configuration in a temp folder and no -u, so it takes the user from USER and HOME
// instead of asking an auth service. Dovecot refuses to touch mail
// as root, so a test run as root reads as "nobody" (uid 65534) and hands it the mailboxes first (readable()).
// INDEX=MEMORY keeps Dovecot's index files out of the mailboxes; Dovecot still writes its own headers into an
// mbox (X-IMAPbase, X-UID) and moves Maildir files into cur/, so tests give it copies unless the point is to
// read the original.
// DovecotLmtp is the exception: a real Dovecot LMTP server (package dovecot-lmtpd) for LMTP delivery tests, on a
// loopback port and a Unix socket, run wholly as that same unprivileged user (setpriv when we are root), with
// the recipients it knows in a passwd-file and each one's Maildir under its home.

import { type ChildProcess, execFile, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { cp, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import type { TestContext } from "node:test";
import { acceptsConnections, freePort } from "./petrel-process.ts";

export type DoveadmResult = { code: number; stdout: Buffer; stderr: string };

/** Settings given to doveadm with -o (for example mbox_read_locks). */
export type DovecotSettings = Readonly<Record<string, string>>;

export class Dovecot {
  readonly home: string;
  readonly #config: string;
  readonly #uid: number;
  readonly #gid: number;
  #copies = 0;

  private constructor(home: string, config: string, uid: number, gid: number) {
    this.home = home;
    this.#config = config;
    this.#uid = uid;
    this.#gid = gid;
  }

  /** A reader with its own temp folder (removed after the test). */
  static async start(t: TestContext): Promise<Dovecot> {
    const root = await mkdtemp(join(tmpdir(), "petrel-dovecot-"));
    t.after(() => rm(root, { recursive: true, force: true }));
    const asRoot = process.getuid?.() === 0;
    const uid = asRoot ? 65534 : (process.getuid?.() ?? 0);
    const gid = asRoot ? 65534 : (process.getgid?.() ?? 0);
    const home = join(root, "home");
    await mkdir(home);
    const config = join(root, "dovecot.conf");
    const lines = [
      `base_dir = ${join(root, "run")}`,
      `state_dir = ${join(root, "state")}`,
      "log_path = /dev/stderr",
      "ssl = no",
      `mail_uid = ${uid}`,
      `mail_gid = ${gid}`,
      `first_valid_uid = ${uid}`,
      `first_valid_gid = ${gid}`,
    ];
    await writeFile(config, `${lines.join("\n")}\n`);
    const dovecot = new Dovecot(home, config, uid, gid);
    await dovecot.readable(root);
    return dovecot;
  }

  /** Hands `path` (recursively) to the user Dovecot reads as; nothing to do when that is us. */
  async readable(path: string): Promise<void> {
    if (this.#uid === process.getuid?.()) return;
    const chown = await run("chown", ["-R", `${this.#uid}:${this.#gid}`, path]);
    if (chown.code !== 0) throw new Error(`chown -R ${path} failed: ${chown.stderr}`);
  }

  /** A copy of a mailbox (file or folder) for Dovecot to read and change as it likes. */
  async copyOf(path: string): Promise<string> {
    this.#copies += 1;
    const copy = join(this.home, `copy-${this.#copies}-${basename(path)}`);
    await cp(path, copy, { recursive: true });
    await this.readable(copy);
    return copy;
  }

  /** mail_location of a Maildir. */
  static maildir(folder: string): string {
    return `maildir:${folder}:INDEX=MEMORY`;
  }

  /** mail_location of an mbox file as INBOX. */
  mbox(path: string): string {
    return `mbox:${join(this.home, "mail")}:INBOX=${path}:INDEX=MEMORY`;
  }

  /** Runs doveadm with this configuration, the mail location and settings; never rejects. */
  doveadm(location: string, args: readonly string[], settings: DovecotSettings = {}): Promise<DoveadmResult> {
    const options = Object.entries({ mail_location: location, ...settings }).flatMap(([key, value]) => [
      "-o",
      `${key}=${value}`,
    ]);
    const env = { PATH: process.env["PATH"] ?? "/usr/bin:/bin", USER: "petrel-test", HOME: this.home };
    return run("doveadm", ["-c", this.#config, ...options, ...args], env);
  }

  /** Every message of INBOX, as Dovecot gives it back (its own headers hidden), in UID order. */
  async messages(location: string, settings: DovecotSettings = {}): Promise<Buffer[]> {
    const listing = await this.doveadm(location, ["-f", "flow", "fetch", "uid", "mailbox", "INBOX", "all"], settings);
    if (listing.code !== 0) throw new Error(`doveadm fetch uid failed (${listing.code}): ${listing.stderr}`);
    const uids = [...listing.stdout.toString("latin1").matchAll(/^uid=(\d+)$/gm)].map((match) => match[1] ?? "");
    const texts: Buffer[] = [];
    for (const uid of uids) {
      const fetched = await this.doveadm(location, ["-f", "pager", "fetch", "text", "mailbox", "INBOX", "uid", uid], settings);
      if (fetched.code !== 0) throw new Error(`doveadm fetch text uid ${uid} failed: ${fetched.stderr}`);
      const label = Buffer.from("text:\n");
      if (!fetched.stdout.subarray(0, label.length).equals(label)) throw new Error("doveadm pager output changed");
      texts.push(fetched.stdout.subarray(label.length));
    }
    return texts;
  }
}

/** Why Dovecot's LMTP server cannot run here, or null when it can. */
export const DOVECOT_LMTP_MISSING = !existsSync("/usr/sbin/dovecot")
  ? "dovecot is not installed (apt-get install dovecot-core)"
  : !existsSync("/usr/lib/dovecot/lmtp")
    ? "Dovecot's LMTP server is not installed (apt-get install dovecot-lmtpd)"
    : null;

/** Dovecot's LMTP server, for the addresses given; stopped and removed after the test. */
export class DovecotLmtp {
  readonly port: number;
  /** The Unix socket it also listens on. */
  readonly socket: string;
  readonly #root: string;

  private constructor(root: string, port: number) {
    this.#root = root;
    this.port = port;
    this.socket = join(root, "run", "lmtp");
  }

  /** The Maildir Dovecot delivers `address` into. */
  maildir(address: string): string {
    return join(this.#root, "home", address, "Maildir");
  }

  static async start(t: TestContext, addresses: readonly string[]): Promise<DovecotLmtp> {
    const root = await mkdtemp(join(tmpdir(), "petrel-lmtp-"));
    const asRoot = process.getuid?.() === 0;
    const uid = asRoot ? 65534 : (process.getuid?.() ?? 0);
    const gid = asRoot ? 65534 : (process.getgid?.() ?? 0);
    const user = (await run("id", ["-un", String(uid)])).stdout.toString().trim();
    const group = (await run("id", ["-gn", String(uid)])).stdout.toString().trim();
    const port = await freePort();
    for (const address of addresses) await mkdir(join(root, "home", address), { recursive: true });
    await writeFile(join(root, "users"), addresses.map((address) => `${address}::${uid}:${gid}::${join(root, "home", address)}::\n`).join(""));
    const config = [
      `base_dir = ${join(root, "run")}`,
      `state_dir = ${join(root, "state")}`,
      "log_path = /dev/stderr",
      "ssl = no",
      "protocols = lmtp",
      // Every service runs as the one user (no root, no chroot): Dovecot's way of running unprivileged.
      `default_internal_user = ${user}\ndefault_internal_group = ${group}\ndefault_login_user = ${user}`,
      `mail_uid = ${uid}\nmail_gid = ${gid}\nfirst_valid_uid = ${uid}\nfirst_valid_gid = ${gid}`,
      "mail_location = maildir:~/Maildir:INDEX=MEMORY",
      `passdb {\n  driver = passwd-file\n  args = ${join(root, "users")}\n}`,
      `userdb {\n  driver = passwd-file\n  args = ${join(root, "users")}\n}`,
      `service lmtp {\n  inet_listener lmtp {\n    address = 127.0.0.1\n    port = ${port}\n  }\n  unix_listener lmtp {\n    mode = 0666\n  }\n}`,
      "service anvil {\n  chroot =\n}",
    ];
    await writeFile(join(root, "dovecot.conf"), `${config.join("\n")}\n`);
    if (asRoot) {
      const chown = await run("chown", ["-R", `${uid}:${gid}`, root]);
      if (chown.code !== 0) throw new Error(`chown -R ${root} failed: ${chown.stderr}`);
    }
    const command = ["/usr/sbin/dovecot", "-F", "-c", join(root, "dovecot.conf")];
    const launcher = asRoot ? ["setpriv", `--reuid=${uid}`, `--regid=${gid}`, "--clear-groups"] : [];
    const [program, ...args] = [...launcher, ...command];
    const child: ChildProcess = spawn(program!, args, { stdio: ["ignore", "ignore", "pipe"] });
    let output = "";
    child.stderr!.on("data", (chunk: Buffer) => (output += chunk));
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    t.after(async () => {
      child.kill("SIGTERM");
      if (child.exitCode === null && child.signalCode === null) await exited;
      await rm(root, { recursive: true, force: true });
    });
    const lmtp = new DovecotLmtp(root, port);
    for (const started = Date.now(); !(existsSync(lmtp.socket) && (await acceptsConnections("127.0.0.1", port))); ) {
      if (child.exitCode !== null || Date.now() - started > 10_000) throw new Error(`Dovecot's LMTP server did not start:\n${output}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    return lmtp;
  }
}

/** Python's mailbox module reading an mbox or a Maildir: each message's bytes and (mbox) its From_ line. */
export async function pythonMailbox(kind: "mbox" | "Maildir", path: string): Promise<{ from: string; bytes: Buffer }[]> {
  const script = [
    "import json, mailbox, sys",
    "kind, path = sys.argv[1], sys.argv[2]",
    "box = mailbox.mbox(path, create=False) if kind == 'mbox' else mailbox.Maildir(path, factory=None, create=False)",
    "out = [{'from': box.get_message(k).get_from() if kind == 'mbox' else '', 'hex': box.get_bytes(k).hex()}",
    "       for k in box.keys()]",
    "json.dump(out, sys.stdout)",
  ].join("\n");
  const result = await run("python3", ["-c", script, kind, path]);
  if (result.code !== 0) throw new Error(`python3 mailbox failed (${result.code}): ${result.stderr}`);
  const messages = JSON.parse(result.stdout.toString("utf8")) as { from: string; hex: string }[];
  return messages.map(({ from, hex }) => ({ from, bytes: Buffer.from(hex, "hex") }));
}

const lockingReaderScript = `
import fcntl, json, mailbox, os, re, shutil, sys, tempfile, time
path, expected, locks = sys.argv[1], int(sys.argv[2]), sys.argv[3]
snapshot = os.path.join(tempfile.mkdtemp(), "snapshot")

def read_under_dot_lock():
    box = mailbox.mbox(path, create=False)
    try:
        box.lock()
    except mailbox.ExternalClashError:
        box.close()
        return None
    try:
        return [box.get_bytes(key) for key in box.keys()]
    finally:
        box.unlock()
        box.close()

def read_under_fcntl_lock():
    with open(path, "rb") as file:
        try:
            fcntl.lockf(file, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            return None
        with open(snapshot, "wb") as copy:
            shutil.copyfileobj(file, copy)
    box = mailbox.mbox(snapshot, create=False)
    try:
        return [box.get_bytes(key) for key in box.keys()]
    finally:
        box.close()

read = read_under_dot_lock if locks == "dot-lock" else read_under_fcntl_lock
print("ready", flush=True)
reads, seen = 0, -1
while True:
    size = os.path.getsize(path) if os.path.exists(path) else 0
    if size in (0, seen):
        time.sleep(0.001)
        continue
    messages = read()
    if messages is None:
        time.sleep(0.001)
        continue
    seen = size
    reads += 1
    for message in messages:
        subject = re.search(rb"^Subject: (\\S+) (\\d+)$", message, re.M)
        if subject is None or len(message.split(b"\\n\\n", 1)[1]) != int(subject.group(2)):
            print(json.dumps({"torn": message[:300].decode("latin1")}), flush=True)
            sys.exit(1)
    if len(messages) == expected:
        break
print(json.dumps({"reads": reads}), flush=True)
`;

export type ReaderExit = { code: number | null; output: string };

/**
 * Python reading an mbox each time the file grows, until it has `count` messages, under `locks`: "dot-lock" is
 * Python's mailbox lock() (lockf and `<path>.lock`, as mutt reads), "fcntl" a shared lockf only (as Dovecot's
 * readers do by default; the file is copied under the lock and parsed after). It fails on a message whose
 * Subject `<name> <length>` does not match its body (a torn message). `ready` once it runs; `done` with its
 * exit code and output (`{"reads": n}`).
 */
export function pythonLockingReader(
  path: string,
  count: number,
  locks: "dot-lock" | "fcntl",
): { ready: Promise<void>; done: Promise<ReaderExit> } {
  const reader = spawn("python3", ["-c", lockingReaderScript, path, String(count), locks], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  let output = "";
  let started = () => {};
  const ready = new Promise<void>((resolve) => {
    started = resolve;
  });
  reader.stdout.on("data", (chunk: Buffer) => {
    output += chunk.toString("utf8");
    if (output.startsWith("ready\n")) started();
  });
  const done = new Promise<ReaderExit>((resolve) => {
    reader.on("close", (code) => {
      started(); // a reader that died before it was ready must not leave the test waiting
      resolve({ code, output });
    });
  });
  return { ready, done };
}

/** A message as the spool holds it (CRLF, as received) and as a mailbox stores it after the trace headers (LF). */
export type SampleMessage = { readonly name: string; readonly spooled: Buffer; readonly stored: Buffer };

function sample(name: string, spooled: Buffer): SampleMessage {
  return { name, spooled, stored: Buffer.from(spooled.toString("latin1").replaceAll("\r\n", "\n"), "latin1") };
}

/** Plain, "From " lines in the body, 8-bit bytes and lone CRs, no final newline, and 5 MiB. */
export function sampleMessages(): SampleMessage[] {
  const latin1 = (text: string) => Buffer.from(text, "latin1");
  const allHighBytes = Buffer.from(Array.from({ length: 128 }, (_, index) => 128 + index));
  const large: string[] = ["Subject: large\r\n\r\n"];
  for (let line = 0, size = 0; size < 5 * 1024 * 1024; line += 1) {
    const text = line % 1000 === 999 ? `From line ${line}\r\n` : `${line} ${"x".repeat(70)}\r\n`;
    large.push(text);
    size += text.length;
  }
  return [
    sample("plain", latin1("Subject: plain\r\nFrom: Alice <alice@example.org>\r\n\r\nHello Bob.\r\n")),
    sample(
      "from-lines",
      latin1(
        "Subject: From lines\r\n\r\nFrom the start\r\n>From quoted once\r\n>>From quoted twice\r\nFrom \r\n" +
          "From\r\n From indented\r\nFromage\r\n>F>From no\r\n\r\nFrom after a blank line\r\n",
      ),
    ),
    sample(
      "eight-bit",
      Buffer.concat([
        latin1("Subject: =?utf-8?q?caf=C3=A9?=\r\nContent-Type: text/plain; charset=iso-8859-1\r\n\r\n"),
        allHighBytes,
        latin1("\r\ncaf\xe9 na\xefve\r\n"),
        Buffer.from("café in UTF-8\r\n", "utf8"),
        latin1("a lone\rCR, CR CR LF:\r\r\n"),
      ]),
    ),
    sample("unterminated", latin1("Subject: unterminated\r\n\r\nthe last line has no end")),
    sample("large", latin1(large.join(""))),
  ];
}

/** Runs a command to its end; stdout as bytes. */
export function run(command: string, args: readonly string[], env?: NodeJS.ProcessEnv): Promise<DoveadmResult> {
  return new Promise((resolve) => {
    const options = { encoding: "buffer" as const, maxBuffer: 64 * 1024 * 1024, ...(env ? { env } : {}) };
    execFile(command, args, options, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === "number" ? error.code : -1;
      resolve({ code, stdout, stderr: stderr.toString("utf8") });
    });
  });
}
