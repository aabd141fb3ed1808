// Runs Petrel for the benchmark: writes a configuration (with the rule files it is given, if any) and a fresh
// spool in a temporary directory, starts `petrel serve` from a checkout, waits for its 220 greeting, counts
// what it queued, and stops it with SIGTERM. Logs go to files in the temporary directory so the benchmark's
// console stays clean. Delivery is paused (receive and queue only, as the Postfix reference holds every
// message), unless the server is the relay load's: then every message is relayed to one next hop.
// It must never touch a spool or configuration it did not create, and never leave the server running.

import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { freePort } from "../test/support/ports.ts";
import type { RelayTarget } from "./smtp-sink.ts";
import { waitForGreeting } from "./smtp-conversation.ts";

const START_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 45_000;
const OUTPUT_TAIL_BYTES = 4096;

/** Where a message answered 250 can be until it is delivered (with delivery paused: incoming/). */
const QUEUED_FOLDERS = ["incoming", "active", "deferred", "hold"] as const;

function deliveryText(relayTo: RelayTarget | undefined): string {
  if (relayTo === undefined) {
    return `[delivery]
paused = true                       # receive and queue only: the Postfix reference holds every message
`;
  }
  return `[delivery]
# The relay load: every domain but bench.test goes to the next hop (smtp-sink has no STARTTLS anyway).
relay = { url = "smtp://${relayTo.address}:${relayTo.port}", tls = "none" }
`;
}

function configText(port: number, dir: string, ruleFiles: readonly string[], relayTo: RelayTarget | undefined): string {
  const path = (name: string) => JSON.stringify(join(dir, name));
  const rules = ruleFiles.length === 0 ? "" : `\n[rules]\nfiles = ${JSON.stringify(ruleFiles)}\n`;
  const relayNetworks = relayTo === undefined ? "" : `relay_networks = ["127.0.0.0/8"]   # smtp-source may relay\n`;
  return `# Written by bench/petrel-server.ts for one benchmark run.
[server]
workers = "auto"

[spool]
dir = ${path("spool")}

[limits]
max_connections = 5000              # the idle-session check holds 1,000 connections from one address
max_connections_per_client = 5000

[smtp]
local_domains = ["bench.test"]
max_message_size = "100MiB"
${relayNetworks}
${deliveryText(relayTo)}${rules}
[[listener]]
address = "127.0.0.1"
port = ${port}
role = "mta"

[log.mail]
destination = "file"
path = ${path("mail.log")}

[log.system]
destination = "file"
path = ${path("system.log")}
`;
}

/** Keeps the last few KiB a stream printed, to explain a failure. */
function tailOf(stream: NodeJS.ReadableStream | null): () => string {
  let tail = "";
  stream?.setEncoding("utf8");
  stream?.on("data", (text: string) => {
    tail = (tail + text).slice(-OUTPUT_TAIL_BYTES);
  });
  return () => tail;
}

function hasExited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

export type PetrelOptions = {
  /** What the tables call this server (default "Petrel"). */
  readonly label?: string;
  /** Absolute paths of rule files for `[rules] files` (default none). */
  readonly ruleFiles?: readonly string[];
  /** Relay mail from 127.0.0.0/8 to this next hop (default: deliver nothing). */
  readonly relayTo?: RelayTarget;
  /** NODE_OPTIONS for every Petrel process (say "--cpu-prof --cpu-prof-dir=DIR"), default none. */
  readonly nodeOptions?: string;
};

export class PetrelServer {
  readonly label: string;
  readonly #checkout: string;
  readonly #baseDir: string;
  readonly #ruleFiles: readonly string[];
  readonly #relayTo: RelayTarget | undefined;
  readonly #nodeOptions: string | undefined;
  #dir: string | null = null;
  #child: ChildProcess | null = null;
  #exited: Promise<unknown> = Promise.resolve();
  #output = { stdout: () => "", stderr: () => "" };
  #port = 0;

  /** Nothing happens until start(); stop() may be called at any time, also when start() failed. */
  constructor(checkout: string, baseDir: string, options: PetrelOptions = {}) {
    this.#checkout = checkout;
    this.#baseDir = baseDir;
    this.label = options.label ?? "Petrel";
    this.#ruleFiles = options.ruleFiles ?? [];
    this.#relayTo = options.relayTo;
    this.#nodeOptions = options.nodeOptions;
  }

  get port(): number {
    return this.#port;
  }

  /** The primary process; the workers are its children. */
  get mainPid(): number {
    return this.#child?.pid ?? 0;
  }

  /** The self-signed certificate Petrel made at its first start (PEM files), for Postfix to use too. */
  get tlsFiles(): { certificate: string; key: string } {
    const dir = join(this.#dir ?? "", "var", "tls");
    return { certificate: join(dir, "self-signed.crt"), key: join(dir, "self-signed.key") };
  }

  get spoolDir(): string {
    return join(this.#dir ?? "", "spool");
  }

  /** Writes the configuration in a new directory under the base directory, starts Petrel, waits for 220. */
  async start(): Promise<void> {
    const dir = await mkdtemp(join(this.#baseDir, "petrel-bench-"));
    this.#dir = dir;
    this.#port = await freePort();
    const configPath = join(dir, "petrel.toml");
    await writeFile(configPath, configText(this.#port, dir, this.#ruleFiles, this.#relayTo));
    // detached: its own process group, so a Ctrl-C on the benchmark reaches the benchmark only and the
    // benchmark decides the order of shutdown.
    const node = join(this.#checkout, "node_modules/.bin/node");
    const child = spawn(node, ["src/cli/main.ts", "serve", "--config", configPath], {
      cwd: this.#checkout,
      detached: true,
      ...(this.#nodeOptions === undefined ? {} : { env: { ...process.env, NODE_OPTIONS: this.#nodeOptions } }),
      stdio: ["ignore", "pipe", "pipe"],
    });
    this.#child = child;
    this.#output = { stdout: tailOf(child.stdout), stderr: tailOf(child.stderr) };
    const died = new AbortController();
    this.#exited = once(child, "exit").finally(() => died.abort(new Error("petrel serve exited")));
    this.#exited.catch(() => undefined);
    try {
      await once(child, "spawn");
      await waitForGreeting(this.#port, died.signal, START_TIMEOUT_MS);
    } catch (error) {
      throw await this.#explain(`Petrel did not greet on 127.0.0.1:${this.#port}: ${(error as Error).message}`);
    }
  }

  /** Envelopes in the spool's queue folders (incoming/, active/, deferred/, hold/): one per message not yet gone. */
  async countQueued(): Promise<number> {
    const counts = await Promise.all(QUEUED_FOLDERS.map(async (folder) => (await readdir(join(this.spoolDir, folder))).length));
    return counts.reduce((sum, count) => sum + count, 0);
  }

  /** SIGTERM, then waits for the exit (SIGKILL to the process group if it hangs), then removes the files. */
  async stop(): Promise<void> {
    const child = this.#child;
    if (child?.pid !== undefined && !hasExited(child)) {
      child.kill("SIGTERM");
      const timer = setTimeout(() => process.kill(-child.pid!, "SIGKILL"), STOP_TIMEOUT_MS);
      await this.#exited.catch(() => undefined);
      clearTimeout(timer);
      if (child.signalCode === "SIGKILL") throw await this.#explain(`Petrel did not stop within ${STOP_TIMEOUT_MS} ms`);
    }
    this.#child = null;
    if (this.#dir !== null) await rm(this.#dir, { recursive: true, force: true });
    this.#dir = null;
  }

  async #explain(what: string): Promise<Error> {
    const child = this.#child;
    const log = await readFile(join(this.#dir ?? "", "system.log"), "utf8").catch(() => "");
    return new Error(
      `${what} (exit code ${child?.exitCode}, signal ${child?.signalCode})\n` +
        `--- stderr\n${this.#output.stderr()}\n--- stdout\n${this.#output.stdout()}\n` +
        `--- system.log\n${log.slice(-OUTPUT_TAIL_BYTES)}`,
    );
  }
}
