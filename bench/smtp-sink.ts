// Runs Postfix's smtp-sink as the next hop of the relay load (one per server under test, each on its own
// loopback address): it takes every message, counts them (-c prints "sess=.. quit=.. mesg=N" on each "."),
// and appends each one to a dump file (-D), whose records sink-dumps.ts reads back to check that every message
// arrived exactly once. The count is the load's clock: arrived() resolves when the sink has seen a number of
// messages. The dump goes to memory (/dev/shm) when the machine has it: the sink stands for another machine,
// and its files (it also creates and removes one per message) must not load the servers' file system.
// It must never listen anywhere but on loopback, and never outlive the benchmark.

import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { existsSync } from "node:fs";
import { chmod, mkdtemp, readFile, rm, truncate } from "node:fs/promises";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { setTimeout as delay } from "node:timers/promises";
import { acceptsConnections } from "../test/support/ports.ts";

const START_TIMEOUT_MS = 10_000;
const RETRY_INTERVAL_MS = 25;
/** Connections the sink serves at once (its default, 256, is plenty for 20 + 20). */
const BACKLOG = 256;
/** A memory file system for the dumps, if there is one. */
const MEMORY_DIR = "/dev/shm";

/** Where a server under test relays to: the sink's loopback address and port. */
export type RelayTarget = { readonly address: string; readonly port: number };

type Waiter = { count: number; resolve: (at: number) => void; reject: (error: Error) => void };


/** The last message count in smtp-sink's -c output ("sess=3 quit=2 mesg=17\r..."), or undefined. */
export function lastMessageCount(text: string): number | undefined {
  const counts = [...text.matchAll(/mesg=(\d+)/g)];
  const last = counts.at(-1);
  return last === undefined ? undefined : Number(last[1]);
}

export class SmtpSink {
  readonly address: string;
  readonly #dumpBase: string;
  #port = 0;
  #dir: string | null = null;
  #child: ChildProcess | null = null;
  #received = 0;
  #lastArrival = 0;
  #waiters: Waiter[] = [];
  /** -c output after the last "\r", which may be the first half of a count. */
  #partial = "";
  #errors = "";

  /**
   * `address`: a loopback address of its own (127.0.0.2, ...), so that each server's mail is kept apart.
   * `baseDir`: where the dump goes when the machine has no /dev/shm.
   */
  constructor(address: string, baseDir: string) {
    if (!address.startsWith("127.")) throw new Error(`smtp-sink must listen on loopback, not ${address}`);
    this.address = address;
    this.#dumpBase = existsSync(MEMORY_DIR) ? MEMORY_DIR : baseDir;
  }

  get port(): number {
    return this.#port;
  }

  get target(): RelayTarget {
    return { address: this.address, port: this.#port };
  }

  /** Messages the sink has received so far ("." seen), by its own count. */
  get received(): number {
    return this.#received;
  }

  /** When the last message arrived (performance.now()), 0 before the first. */
  get lastArrival(): number {
    return this.#lastArrival;
  }

  get #dumpPath(): string {
    return join(this.#dir ?? "", "dump");
  }

  async start(port: number): Promise<void> {
    const dir = await mkdtemp(join(this.#dumpBase, "sink-bench-"));
    this.#dir = dir;
    this.#port = port;
    await chmod(dir, 0o777); // smtp-sink writes its dump as nobody
    const child = spawn("smtp-sink", ["-u", "nobody", "-c", "-D", this.#dumpPath, `${this.address}:${port}`, String(BACKLOG)], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    this.#child = child;
    child.stdout.setEncoding("latin1");
    child.stdout.on("data", (text: string) => this.#count(text));
    child.stderr.setEncoding("latin1");
    child.stderr.on("data", (text: string) => {
      this.#errors = (this.#errors + text).slice(-2048);
    });
    child.once("exit", (code, signal) => this.#failAll(new Error(`smtp-sink on ${this.address}:${port} exited (${signal ?? code}): ${this.#errors.trim()}`)));
    const deadline = performance.now() + START_TIMEOUT_MS;
    while (!(await acceptsConnections(this.address, port))) {
      if (child.exitCode !== null || performance.now() > deadline) {
        throw new Error(`smtp-sink did not listen on ${this.address}:${port}: ${this.#errors.trim()}`);
      }
      await delay(RETRY_INTERVAL_MS);
    }
  }

  /**
   * Resolves with the time (performance.now()) at which the sink's count reached `count`. Rejects when no
   * message arrived for `stallMs` (a server that defers or lost mail would otherwise make the benchmark wait
   * for ever), when the sink exits, or when `signal` aborts (the load failed).
   */
  arrived(count: number, stallMs: number, signal: AbortSignal): Promise<number> {
    if (this.#received >= count) return Promise.resolve(this.#lastArrival);
    return new Promise((resolve, reject) => {
      const waiter: Waiter = { count, resolve, reject };
      const started = performance.now();
      let seen = this.#received;
      const watchdog = setInterval(() => {
        if (this.#received !== seen) seen = this.#received;
        else if (performance.now() - Math.max(this.#lastArrival, started) > stallMs) {
          settle(new Error(`the sink on ${this.address} got ${this.#received} of ${count} messages and nothing more for ${stallMs / 1000} s`));
        }
      }, 1000);
      const onAbort = () => settle(signal.reason as Error);
      const settle = (error?: Error, at?: number) => {
        clearInterval(watchdog);
        signal.removeEventListener("abort", onAbort);
        this.#waiters = this.#waiters.filter((other) => other !== waiter);
        if (error !== undefined) reject(error);
        else resolve(at!);
      };
      waiter.resolve = (at) => settle(undefined, at);
      waiter.reject = (error) => settle(error);
      signal.addEventListener("abort", onAbort, { once: true });
      this.#waiters.push(waiter);
    });
  }

  /**
   * The dump's text appended since the last call (the messages received meanwhile, one record each), which
   * is then cut from the file. Call it only while no message is on its way (before or after a run).
   */
  async takeDump(): Promise<string> {
    let dump: string;
    try {
      dump = await readFile(this.#dumpPath, "latin1");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return ""; // no message yet
      throw error;
    }
    // smtp-sink opens the dump (O_APPEND) for each message it finishes: between runs it can be emptied.
    await truncate(this.#dumpPath, 0);
    return dump;
  }

  async stop(): Promise<void> {
    const child = this.#child;
    this.#child = null;
    if (child !== null && child.exitCode === null && child.signalCode === null) {
      const exited = once(child, "exit");
      child.kill("SIGTERM");
      await exited;
    }
    if (this.#dir !== null) await rm(this.#dir, { recursive: true, force: true });
    this.#dir = null;
  }

  #count(text: string): void {
    const end = text.lastIndexOf("\r");
    if (end < 0) {
      this.#partial += text;
      return;
    }
    const complete = this.#partial + text.slice(0, end);
    this.#partial = text.slice(end + 1);
    const count = lastMessageCount(complete);
    if (count === undefined || count === this.#received) return;
    this.#received = count;
    this.#lastArrival = performance.now();
    for (const waiter of [...this.#waiters]) if (count >= waiter.count) waiter.resolve(this.#lastArrival);
  }

  #failAll(error: Error): void {
    for (const waiter of [...this.#waiters]) waiter.reject(error);
  }
}
