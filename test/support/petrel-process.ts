// Starts a real `petrel serve` process for end-to-end tests: a fresh temp directory with its own spool and
// config file, listeners on free loopback ports, and the system/mail logs captured as JSON lines. Waits for
// the "petrel started" log line, never for a fixed time. Also runs the `petrel` command line (queue, config)
// and reads spooled messages, so tests can check what the server stored.

import { execFile, spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, readFile, writeFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Envelope } from "../../src/queue/envelope.ts";
import { acceptsConnections, freePort } from "./ports.ts";

export { acceptsConnections, freePort };

const MAIN = fileURLToPath(new URL("../../src/cli/main.ts", import.meta.url));

export type LogLine = { msg: string; level: string; [field: string]: unknown };


export type PetrelOptions = {
  /** Extra TOML appended to the generated configuration (no [[listener]] needed: one is made). */
  readonly toml?: string;
  /** Extra keys of the [server] table (`key = value` lines). */
  readonly server?: string;
  readonly workers?: number;
  /** Reuse a directory (restarts after a crash); a new temp dir otherwise. */
  readonly dir?: string;
  readonly port?: number;
  /** Own process group, so that a test can kill the primary and its workers at once (kill(-pid)). */
  readonly detached?: boolean;
  /** A command that starts Petrel (e.g. setpriv with its options), run with node and its arguments after it. */
  readonly launcher?: readonly string[];
};

/** The configuration file of a test server: one loopback listener after the extra TOML (which may add more). */
function configText(dir: string, port: number, options: PetrelOptions): string {
  return [
    `[server]\nhostname = "mx.petrel.test"\nworkers = ${options.workers ?? 1}\nshutdown_timeout = "5s"\n${options.server ?? ""}`,
    `[spool]\ndir = "${join(dir, "spool")}"`,
    `[log]\nformat = "json"\nlevel = "debug"`,
    // Traffic stays on loopback: reverse lookups of made-up clients go to a port where no one answers.
    options.toml?.includes("[dns]") ? "" : '[dns]\nservers = ["127.0.0.1:9"]',
    options.toml ?? "",
    // Tests send refusals in bulk: no tarpit unless a test sets its own [limits].
    options.toml?.includes("[limits]") ? "" : '[limits]\nerror_delay = "0s"',
    // Most tests read what the server queued: nothing leaves incoming/ unless a test sets its own [delivery].
    options.toml?.includes("[delivery]") ? "" : "[delivery]\npaused = true",
    `[[listener]]\naddress = "127.0.0.1"\nport = ${port}\nrole = "mta"`,
  ].join("\n\n");
}

export type SpooledMessage = { envelope: Envelope; body: Buffer; received: string; content: Buffer };

export type CommandResult = { code: number | null; stdout: string; stderr: string };

/** Runs the `petrel` command line (`node src/cli/main.ts ...args`) to its end. */
export function runPetrel(args: readonly string[]): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [MAIN, ...args], (error, stdout, stderr) => {
      if (error !== null && typeof error.code !== "number") reject(error);
      else resolve({ code: error === null ? 0 : (error.code as number), stdout, stderr });
    });
  });
}

export class Petrel {
  readonly dir: string;
  readonly port: number;
  readonly process: ChildProcess;
  readonly lines: LogLine[] = [];
  private readonly waiters: Array<{ test: (line: LogLine) => boolean; resolve: (line: LogLine) => void }> = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private readonly options: PetrelOptions;

  private constructor(dir: string, port: number, child: ChildProcess, options: PetrelOptions) {
    this.dir = dir;
    this.port = port;
    this.process = child;
    this.options = options;
    let buffered = "";
    child.stdout!.setEncoding("utf8");
    child.stdout!.on("data", (text: string) => {
      buffered += text;
      let end = buffered.indexOf("\n");
      while (end >= 0) {
        const raw = buffered.slice(0, end);
        buffered = buffered.slice(end + 1);
        end = buffered.indexOf("\n");
        if (!raw.startsWith("{")) continue;
        const line = JSON.parse(raw) as LogLine;
        this.lines.push(line);
        for (const waiter of [...this.waiters]) {
          if (waiter.test(line)) {
            this.waiters.splice(this.waiters.indexOf(waiter), 1);
            waiter.resolve(line);
          }
        }
      }
    });
    this.exited = new Promise((resolve) => child.on("exit", (code, signal) => resolve({ code, signal })));
  }

  get spool(): string {
    return join(this.dir, "spool");
  }

  /** Resolves with the first log line (already seen or still to come) that passes `test`. */
  waitFor(test: (line: LogLine) => boolean): Promise<LogLine> {
    const seen = this.lines.find(test);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve) => this.waiters.push({ test, resolve }));
  }

  waitForMessage(msg: string): Promise<LogLine> {
    return this.waitFor((line) => line.msg === msg);
  }

  /** Resolves with the `count`-th log line (seen or to come) that passes `test`. */
  waitForCount(test: (line: LogLine) => boolean, count: number): Promise<LogLine> {
    let seen = 0;
    return this.waitFor((line) => test(line) && ++seen === count);
  }

  get configPath(): string {
    return join(this.dir, "petrel.toml");
  }

  /** Rewrites the configuration file with other extra TOML (same spool, port and workers), e.g. before a SIGHUP. */
  async writeConfig(toml: string): Promise<void> {
    await writeFile(this.configPath, configText(this.dir, this.port, { ...this.options, toml }));
  }

  /** Runs `petrel queue ...args` against this server's configuration. */
  queue(...args: string[]): Promise<CommandResult> {
    return runPetrel(["queue", ...args, "--config", this.configPath]);
  }

  /**
   * A message in `incoming/`: its envelope, its body file, and that file split into the Received header Petrel
   * prepended (with its folding) and the content as the client sent it.
   */
  async spooled(id: string): Promise<SpooledMessage> {
    const envelope = JSON.parse(await readFile(join(this.spool, "incoming", id), "utf8")) as Envelope;
    const body = await readFile(join(this.spool, "body", id));
    let end = body.indexOf("\r\n");
    while (end >= 0 && (body[end + 2] === 0x09 || body[end + 2] === 0x20)) end = body.indexOf("\r\n", end + 2);
    if (!body.subarray(0, 10).equals(Buffer.from("Received: ")) || end < 0) throw new Error(`${id}: no Received header first`);
    return { envelope, body, received: body.subarray(0, end + 2).toString("utf8"), content: body.subarray(end + 2) };
  }

  static async start(options: PetrelOptions = {}): Promise<Petrel> {
    const dir = options.dir ?? (await mkdtemp(join(tmpdir(), "petrel-test-")));
    const port = options.port ?? (await freePort());
    await writeFile(join(dir, "petrel.toml"), configText(dir, port, options));
    const [command, ...args] = [...(options.launcher ?? []), process.execPath, MAIN, "serve", "--config", join(dir, "petrel.toml")];
    const child = spawn(command!, args, {
      stdio: ["ignore", "pipe", "inherit"],
      detached: options.detached ?? false,
    });
    const petrel = new Petrel(dir, port, child, options);
    const started = petrel.waitForMessage("petrel started");
    const failed = petrel.exited.then(({ code }) => {
      throw new Error(`petrel exited with ${code} before it started`);
    });
    await Promise.race([started, failed]);
    return petrel;
  }

  /** SIGTERM and wait for the exit; returns the exit code. */
  async stop(): Promise<number | null> {
    if (this.process.exitCode === null && this.process.signalCode === null) this.process.kill("SIGTERM");
    return (await this.exited).code;
  }

  async remove(): Promise<void> {
    await this.stop();
    await rm(this.dir, { recursive: true, force: true });
  }
}
