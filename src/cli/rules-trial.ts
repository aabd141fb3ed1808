// `petrel rules test FILE --from A --to B [--to C] [--client IP] [--helo NAME] [--user NAME] [--message FILE.eml]`:
// runs one transaction through the rules without sending anything anywhere. It starts a private server in
// this process (the real listener, session and rules code, on a loopback port, with the configuration's
// policy but a throw-away spool, certificate and logs), talks SMTP to it as the client would (a PROXY header
// gives it the --client address; --user authenticates on a submission listener), and prints the dialogue with
// each rule verdict under the reply it led to, then what was queued: envelope, routes, header section; then the
// postq and delivery rules' decisions and where each copy would go (rules-trial-queue.ts).

import { randomBytes } from "node:crypto";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { connect, createServer, isIP, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import type { Config } from "../config/schema.ts";
import { makeCredentials } from "../accounts/credentials.ts";
import { ensureSecret } from "../accounts/secret.ts";
import { writeUsers } from "../accounts/user-file.ts";
import { createLogs } from "../log/logs.ts";
import { createQueueIdSource } from "../queue/queue-id.ts";
import { Spool } from "../queue/spool.ts";
import { Listeners } from "../server/listeners.ts";
import { ReadBuffers } from "../server/read-buffers.ts";
import { servedParts } from "../server/served-parts.ts";
import { ensureCertificate } from "../server/tls-certificate.ts";
import { afterQueue } from "./rules-trial-queue.ts";

type Writable<T> = { -readonly [K in keyof T]: Writable<T[K]> };

type Trial = {
  readonly file: string;
  readonly from: string;
  readonly to: readonly string[];
  readonly client: string;
  readonly helo: string;
  readonly user: string | undefined;
  readonly message: string | undefined;
};

const USAGE = "usage: petrel rules test FILE --from ADDRESS --to ADDRESS [--to ...] [--client IP] [--helo NAME] [--user NAME] [--message FILE.eml]\n";

const options = {
  from: { type: "string" },
  to: { type: "string", multiple: true },
  client: { type: "string", default: "192.0.2.1" },
  helo: { type: "string", default: "client.example" },
  user: { type: "string" },
  message: { type: "string" },
} as const;

function parseTrial(argv: string[]): Trial | string {
  let parsed: ReturnType<typeof parseArgs<{ args: string[]; allowPositionals: true; options: typeof options }>>;
  try {
    parsed = parseArgs({ args: argv, allowPositionals: true, options });
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
  const { positionals, values } = parsed;
  if (positionals.length !== 1) return "name one rule file";
  if (values.from === undefined || values.to === undefined) return "--from and --to are required";
  if (isIP(values.client) === 0) return `--client ${values.client}: not an IP address`;
  return {
    file: resolve(positionals[0]!),
    from: values.from,
    to: values.to,
    client: values.client,
    helo: values.helo,
    user: values.user,
    message: values.message,
  };
}

/** The configuration of the private server: the real policy, with this rule file, in a throw-away folder. */
function trialConfig(config: Config, trial: Trial, dir: string, port: number): Config {
  const trialOnly = structuredClone(config) as Writable<Config>;
  trialOnly.server.workers = 1;
  trialOnly.spool.dir = join(dir, "spool");
  trialOnly.tls = { ...trialOnly.tls, certificate: undefined, key: undefined, server_names: [], directory: join(dir, "tls") };
  trialOnly.auth = { ...trialOnly.auth, users: join(dir, "users"), secret: join(dir, "secret") };
  trialOnly.limits.error_delay = 0;
  trialOnly.rules.files = [trial.file];
  trialOnly.dns.servers = ["127.0.0.1:9"]; // nothing is sent anywhere: --client has no reverse name
  const toFile = (name: string) => ({ ...trialOnly.log.mail, destination: "file" as const, path: join(dir, name) });
  trialOnly.log = { ...trialOnly.log, level: "debug", format: "json", system: toFile("system.log"), mail: toFile("mail.log") };
  trialOnly.listener = [
    {
      name: "rules-test",
      address: "127.0.0.1",
      port,
      role: trial.user === undefined ? "mta" : "submission",
      max_message_size: config.smtp.max_message_size,
      greeting_delay: 0,
      plaintext_auth: true,
      proxy_protocol: true,
      proxy_from: ["127.0.0.1"],
    },
  ];
  return trialOnly as Config;
}

function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const server = createServer();
    server.once("error", fail);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => done(typeof address === "object" && address !== null ? address.port : 0));
    });
  });
}

/** A minimal SMTP client: one command, one (possibly multi-line) reply. */
class Dialogue {
  readonly #socket: Socket;
  #buffer = "";
  #closed = false;
  #waiting: ((reply: string) => void) | null = null;

  constructor(socket: Socket) {
    this.#socket = socket;
    socket.setEncoding("latin1");
    socket.on("data", (text: string) => {
      this.#buffer += text;
      this.#deliver();
    });
    socket.on("error", () => {}); // a closed connection is reported by close
    socket.on("close", () => {
      this.#closed = true;
      this.#deliver();
    });
  }

  #deliver(): void {
    if (this.#waiting === null) return;
    const match = /(^|\r\n)\d{3} [^\r\n]*\r\n/.exec(this.#buffer);
    if (match === null) {
      if (this.#closed) this.#waiting("(connection closed)");
      return;
    }
    const end = match.index + match[0].length;
    const reply = this.#buffer.slice(0, end).trimEnd();
    this.#buffer = this.#buffer.slice(end);
    const waiting = this.#waiting;
    this.#waiting = null;
    waiting(reply);
  }

  read(): Promise<string> {
    return new Promise((done) => {
      this.#waiting = done;
      this.#deliver();
    });
  }

  send(line: string): Promise<string> {
    if (!this.#closed) this.#socket.write(`${line}\r\n`, "latin1");
    return this.read();
  }

  write(data: Buffer | string): void {
    this.#socket.write(data);
  }
}

function defaultMessage(trial: Trial): Buffer {
  return Buffer.from(
    `From: <${trial.from}>\r\nTo: ${trial.to.map((to) => `<${to}>`).join(", ")}\r\nSubject: petrel rules test\r\n` +
      `Date: ${new Date().toUTCString()}\r\nMessage-ID: <${randomBytes(8).toString("hex")}@rules.test>\r\n\r\nA test message.\r\n`,
  );
}

/** CRLF line endings and dot-stuffing (RFC 5321 §4.5.2), then the end of data. */
function dataOf(message: Buffer): Buffer {
  const text = message.toString("latin1").replace(/\r?\n/g, "\r\n");
  const stuffed = text.replace(/(^|\r\n)\./g, "$1..");
  return Buffer.from(`${stuffed}${stuffed.endsWith("\r\n") ? "" : "\r\n"}.\r\n`, "latin1");
}

export async function runRulesTrial(argv: string[], config: Config, out: NodeJS.WritableStream, err: NodeJS.WritableStream): Promise<number> {
  const trial = parseTrial(argv);
  if (typeof trial === "string") {
    err.write(`petrel rules test: ${trial}\n${USAGE}`);
    return 2;
  }
  const dir = await mkdtemp(join(tmpdir(), "petrel-rules-test-"));
  const listeners = new Listeners();
  const settings = trialConfig(config, trial, dir, await freePort());
  const logs = createLogs(settings.log, {});
  try {
    const password = randomBytes(12).toString("base64");
    if (trial.user !== undefined) await writeUsers(settings.auth.users, new Map([[trial.user, await makeCredentials(password)]]));
    await ensureSecret(settings.auth.secret);
    await ensureCertificate(settings, logs.system);
    const spool = await Spool.open(settings.spool.dir);
    const nextId = createQueueIdSource(0);
    await listeners.apply(settings, await servedParts(settings, { spool, logs, readBuffers: new ReadBuffers(), nextId }));
    const log = new MailLog(join(dir, "mail.log"), logs.flush.bind(logs));
    const socket = connect({ host: "127.0.0.1", port: settings.listener[0]!.port });
    const family = isIP(trial.client) === 6 ? "TCP6" : "TCP4";
    const server = family === "TCP6" ? "::1" : "127.0.0.1";
    socket.write(`PROXY ${family} ${trial.client} ${server} 40000 25\r\n`);
    const dialogue = new Dialogue(socket);
    const show = async (command: string | null, reply: string): Promise<boolean> => {
      if (command !== null) out.write(`C: ${command}\n`);
      out.write(`${reply.replaceAll("\r\n", "\n").replace(/^/gm, "S: ")}\n`);
      for (const line of await log.verdicts()) out.write(`     ${line}\n`);
      return /^[23]/.test(reply);
    };
    const step = async (command: string) => show(command, await dialogue.send(command));
    const outcome = await converse(trial, password, dialogue, show, step);
    out.write(`\n${outcome}\n`);
    await report(settings.spool.dir, out);
    await dialogue.send("QUIT");
    socket.destroy();
    await afterQueue(settings, spool, logs.module("rules", "mail"), async (line) => {
      out.write(`${line}\n`);
      for (const verdict of await log.verdicts()) out.write(`     ${verdict}\n`);
    });
    return 0;
  } catch (error) {
    err.write(`petrel rules test: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  } finally {
    listeners.close();
    await logs.close();
    await rm(dir, { recursive: true, force: true });
  }
}

/** The SMTP dialogue; resolves to the one-line outcome. */
async function converse(
  trial: Trial,
  password: string,
  dialogue: Dialogue,
  show: (command: string | null, reply: string) => Promise<boolean>,
  step: (command: string) => Promise<boolean>,
): Promise<string> {
  if (!(await show(null, await dialogue.read()))) return "outcome: refused at connect";
  if (!(await step(`EHLO ${trial.helo}`))) return "outcome: refused at helo";
  if (trial.user !== undefined) {
    const token = Buffer.from(`\0${trial.user}\0${password}`).toString("base64");
    if (!(await step(`AUTH PLAIN ${token}`))) return "outcome: refused at auth";
  }
  if (!(await step(`MAIL FROM:<${trial.from}>`))) return "outcome: refused at mail";
  let accepted = 0;
  for (const to of trial.to) if (await step(`RCPT TO:<${to}>`)) accepted += 1;
  if (accepted === 0) return "outcome: every recipient refused";
  if (!(await step("DATA"))) return "outcome: DATA refused";
  const message = trial.message === undefined ? defaultMessage(trial) : await readFile(trial.message);
  dialogue.write(dataOf(message));
  const final = await dialogue.read();
  const queued = await show(`(message, ${message.length} bytes)`, final);
  return queued ? `outcome: ${final.slice(4)}` : "outcome: message refused";
}

/** What the spool holds after the trial: each message's state, envelope and header section. */
async function report(spoolDir: string, out: NodeJS.WritableStream): Promise<void> {
  for (const state of ["incoming", "quarantine"]) {
    for (const id of await readdir(join(spoolDir, state))) {
      const envelope = JSON.parse(await readFile(join(spoolDir, state, id), "utf8")) as {
        sender: string;
        recipients: { address: string; route?: unknown }[];
        quarantine?: string;
      };
      out.write(`${state === "quarantine" ? `quarantined (${envelope.quarantine})` : "queued"}: ${id}\n`);
      out.write(`  sender: <${envelope.sender}>\n`);
      for (const recipient of envelope.recipients) {
        out.write(`  recipient: <${recipient.address}>${recipient.route === undefined ? "" : ` route ${JSON.stringify(recipient.route)}`}\n`);
      }
      const body = await readFile(join(spoolDir, "body", id), "latin1");
      const end = body.indexOf("\r\n\r\n");
      out.write(`  headers:\n${(end < 0 ? body : body.slice(0, end)).replaceAll("\r\n", "\n").replace(/^/gm, "    ")}\n`);
    }
  }
}

/** Reads the private server's mail log as it grows, for the rule verdicts. */
class MailLog {
  readonly #path: string;
  readonly #flush: () => Promise<void>;
  #offset = 0;

  constructor(path: string, flush: () => Promise<void>) {
    this.#path = path;
    this.#flush = flush;
  }

  async verdicts(): Promise<string[]> {
    await this.#flush();
    const text = await readFile(this.#path, "utf8").catch(() => "");
    const end = text.lastIndexOf("\n") + 1;
    const fresh = text.slice(this.#offset, end);
    this.#offset = end;
    const lines: string[] = [];
    for (const line of fresh.split("\n").slice(0, -1)) {
      const entry = JSON.parse(line) as Record<string, unknown>;
      if (entry["event"] === "rule-verdict" && entry["verdict"] === "next") {
        lines.push(`rules ${entry["stage"]}: no verdict (next): the built-in policy decides`);
      } else if (entry["event"] === "rule-verdict") {
        lines.push(`rule ${entry["stage"]}/${entry["rule"]}: ${entry["verdict"]}${entry["name"] === undefined ? "" : ` (${entry["name"]})`}`);
      } else if (entry["event"] === "rule-failed") {
        lines.push(`rule ${entry["stage"]}/${entry["rule"] ?? "?"} FAILED: ${entry["error"]}`);
      } else if (entry["module"] === "rules") {
        lines.push(`log from ${entry["rule"]}: ${entry["msg"]}`);
      }
    }
    return lines;
  }
}
