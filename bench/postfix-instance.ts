// Runs a private Postfix instance as the benchmark's reference: its own configuration and queue directory
// in a temporary directory (`postfix -c DIR start`), smtpd on one loopback port, accepting any recipient
// of bench.test from 127.0.0.0/8 and putting every message on hold (see the main.cf comments for why); or,
// for the relay load, relaying every message from 127.0.0.0/8 to one next hop (relayhost) with its own
// queue manager and smtp delivery agents, as a smarthost does.
// `postfix -c` needs no alternate_config_directories entry when run as root (that list only guards the
// set-gid postdrop and postqueue, which the benchmark does not use). The instance only reads the system's
// /etc/postfix/postfix-files; it must never write /etc/postfix, /var/spool/postfix or /var/lib/postfix,
// and never leave its daemons running.

import { execFile } from "node:child_process";
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import { promisify } from "node:util";
import { freePort } from "../test/support/ports.ts";
import type { RelayTarget } from "./smtp-sink.ts";
import { isRunning, processTree } from "./process-tree.ts";
import { waitForGreeting } from "./smtp-conversation.ts";

const run = promisify(execFile);
const START_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 30_000;
const EXIT_POLL_MS = 20;

/** Where a message can be once cleanup has answered; `hold` is where the receiving configuration puts them all. */
const QUEUED_FOLDERS = ["incoming", "active", "deferred", "hold"] as const;

/** The certificate the TLS load uses on both servers (Petrel's self-signed one). */
export type TlsFiles = { readonly certificate: string; readonly key: string };

export type PostfixOptions = {
  /** STARTTLS with this certificate, for the TLS load. */
  readonly tls?: TlsFiles;
  /** Relay every message to this next hop instead of holding it. */
  readonly relayTo?: RelayTarget;
};

function tlsCf(tls: TlsFiles | undefined): string {
  if (tls === undefined) return "";
  return `# STARTTLS with the same certificate as Petrel, for the TLS load.
smtpd_tls_security_level = may
smtpd_tls_chain_files = ${tls.key}, ${tls.certificate}
smtpd_tls_protocols = >=TLSv1.2
smtpd_tls_loglevel = 0
`;
}

function mainCf(dir: string, relayTo: RelayTarget | undefined): string {
  return `# Written by bench/postfix-instance.ts for one benchmark run.
compatibility_level = 3.6
queue_directory = ${dir}/queue
data_directory = ${dir}/data
maillog_file = ${dir}/maillog
maillog_file_prefixes = ${dir}
myhostname = postfix.bench.test
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
# bench.test is a relay domain without relay_recipient_maps: every recipient is accepted without a lookup,
# as Petrel accepts every local part of its local domains today.
mydestination =
relay_domains = bench.test
smtpd_relay_restrictions = permit_mynetworks, reject
# Petrel does not look up the client's reverse DNS name today; loopback would hit /etc/hosts anyway.
smtpd_peername_lookup = no
message_size_limit = 104857600
alias_maps =
alias_database =
${relayTo === undefined ? holdCf : relayCf(relayTo)}`;
}

const holdCf = `# The work Petrel does today is: receive, write and fsync to the queue, answer 250; nothing is delivered.
# HOLD makes Postfix do exactly that: cleanup writes and fsyncs the queue file as usual, then files it in
# hold/ instead of incoming/, so the queue manager never touches it. The alternatives cost Postfix work
# Petrel does not do: defer_transports still has qmgr move every message to active/ and then deferred/
# with a defer log, and removing qmgr from master.cf makes cleanup fail its wake-up on every message.
# One static lookup per DATA is the whole cost of the HOLD action (plus a "hold:" log line).
smtpd_data_restrictions = check_client_access static:HOLD
`;

/** The relay load: what Petrel's configuration says with relay_networks and delivery.relay. */
function relayCf({ address, port }: RelayTarget): string {
  return `# The relay load: every message (clients in mynetworks may relay to any domain) goes to one next hop,
# smtp-sink, through the queue manager and the smtp delivery agent; no MX or address lookup ([...] and an
# address). Petrel's delivery.relay for it has tls = "none"; smtp-sink offers no STARTTLS anyway.
relayhost = [${address}]:${port}
smtp_tls_security_level = none
`;
}

// Only the daemons receiving needs (and for the relay load, delivering), with chroot off (the Debian default
// is on, which needs copies of /etc files inside the queue directory). Process limits are Postfix's defaults.
function masterCf(port: number, relay: boolean): string {
  return `# Written by bench/postfix-instance.ts for one benchmark run.
127.0.0.1:${port} inet n - n - - smtpd
cleanup    unix  n - n -   0 cleanup
qmgr       unix  n - n 300 1 qmgr
rewrite    unix  - - n -   - trivial-rewrite
bounce     unix  - - n -   0 bounce
defer      unix  - - n -   0 bounce
trace      unix  - - n -   0 bounce
proxymap   unix  - - n -   - proxymap
anvil      unix  - - n -   1 anvil
postlog    unix-dgram n - n - 1 postlogd
tlsmgr     unix  - - n 1000? 1 tlsmgr
${relay ? relayMasterCf : ""}`;
}

// The delivery side, as in Postfix's stock master.cf: the smtp client (also as "relay"), the connection cache
// it uses to reuse connections (smtp_connection_cache_on_demand), and the error/retry/discard agents the
// queue manager may call on.
const relayMasterCf = `smtp       unix  - - n -   - smtp
relay      unix  - - n -   - smtp
scache     unix  - - n -   1 scache
error      unix  - - n -   - error
retry      unix  - - n -   - error
discard    unix  - - n -   - discard
`;

async function postfix(configDir: string, command: "start" | "stop"): Promise<void> {
  try {
    await run("postfix", ["-c", configDir, command]);
  } catch (error) {
    const failure = error as Error & { stderr?: string };
    throw new Error(`postfix -c ${configDir} ${command} failed: ${failure.stderr || failure.message}`);
  }
}

async function countFiles(path: string): Promise<number> {
  const entries = await readdir(path, { withFileTypes: true, recursive: true });
  return entries.filter((entry) => entry.isFile()).length;
}

/** Waits until none of `pids` runs any more; Postfix daemons are not our children, so nothing signals it. */
async function waitUntilGone(pids: number[]): Promise<void> {
  const deadline = Date.now() + STOP_TIMEOUT_MS;
  for (;;) {
    const running = (await Promise.all(pids.map((pid) => isRunning(pid)))).some(Boolean);
    if (!running) return;
    if (Date.now() > deadline) throw new Error(`Postfix processes still run ${STOP_TIMEOUT_MS} ms after postfix stop`);
    await delay(EXIT_POLL_MS);
  }
}

async function readMasterPid(dir: string): Promise<number | null> {
  const text = await readFile(join(dir, "queue/pid/master.pid"), "utf8").catch(() => "");
  const pid = Number.parseInt(text.trim(), 10);
  return Number.isInteger(pid) ? pid : null;
}

export class PostfixInstance {
  readonly label = "Postfix";
  readonly #baseDir: string;
  #dir: string | null = null;
  #started = false;
  #port = 0;
  #mainPid = 0;

  readonly #options: PostfixOptions;

  /** Nothing happens until start(); stop() may be called at any time, also when start() failed. */
  constructor(baseDir: string, options: PostfixOptions = {}) {
    this.#baseDir = baseDir;
    this.#options = options;
  }

  get port(): number {
    return this.#port;
  }

  /** The master daemon; every other Postfix process is its child. */
  get mainPid(): number {
    return this.#mainPid;
  }

  /** Creates the instance's files in a new directory under the base directory and starts it. */
  async start(): Promise<void> {
    if (process.getuid?.() !== 0) {
      throw new Error("the Postfix reference instance needs root (postfix(1) and its daemons switch to the postfix user)");
    }
    const dir = await mkdtemp(join(this.#baseDir, "postfix-bench-"));
    this.#dir = dir;
    const configDir = join(dir, "etc");
    try {
      await chmod(dir, 0o755); // the daemons, running as postfix, must reach the queue directory
      this.#port = await freePort();
      await mkdir(configDir);
      await mkdir(join(dir, "queue"), { mode: 0o755 });
      await writeFile(join(configDir, "main.cf"), mainCf(dir, this.#options.relayTo) + tlsCf(this.#options.tls));
      await writeFile(join(configDir, "master.cf"), masterCf(this.#port, this.#options.relayTo !== undefined));
      // `postfix start` creates the queue's folders and the data directory with their owners (post-install
      // create-missing); the queue directory itself must exist and belong to root.
      this.#started = true;
      await postfix(configDir, "start");
      await waitForGreeting(this.#port, new AbortController().signal, START_TIMEOUT_MS);
      const mainPid = await readMasterPid(dir);
      if (mainPid === null) throw new Error(`Postfix started but left no ${dir}/queue/pid/master.pid`);
      this.#mainPid = mainPid;
    } catch (error) {
      const log = await readFile(join(dir, "maillog"), "utf8").catch(() => "");
      throw new Error(`${(error as Error).message}\n--- Postfix maillog\n${log.slice(-4096)}`);
    }
  }

  /** Messages in the queue folders a received message can be in. */
  async countQueued(): Promise<number> {
    const queue = join(this.#dir ?? "", "queue");
    const counts = await Promise.all(QUEUED_FOLDERS.map((folder) => countFiles(join(queue, folder))));
    return counts.reduce((sum, count) => sum + count, 0);
  }

  /** Stops the daemons, waits until every one of them has exited, and removes the instance's directory. */
  async stop(): Promise<void> {
    const dir = this.#dir;
    if (dir === null) return;
    if (this.#started) {
      this.#started = false;
      const master = await readMasterPid(dir);
      const pids = master === null ? [] : await processTree(master);
      if (master !== null) await postfix(join(dir, "etc"), "stop");
      await waitUntilGone(pids);
    }
    this.#dir = null;
    await rm(dir, { recursive: true, force: true });
  }
}
