// For tests only: a scripted SMTP/LMTP server on loopback that the outbound client's tests steer exactly where
// smtp-sink and Petrel cannot: replies chosen per command, a disconnect at any command or inside a body, replies
// that never come, malformed or unsolicited ones, PIPELINING checks, per-recipient LMTP replies, AUTH LOGIN.
// It records every command line and body it received.

import { after } from "node:test";
import { createServer, type Server, type Socket } from "node:net";

/** What a hook may answer to a command: reply text (CRLF added per line), CUT (close at once), SILENT (no reply). */
export const CUT = Symbol("cut");
export const SILENT = Symbol("silent");
export type Answer = string | typeof CUT | typeof SILENT | undefined;

export type ScriptOptions = {
  readonly greeting?: Answer;
  /** EHLO keywords after the name. */
  readonly extensions?: readonly string[];
  /** An answer to a command line (or "." for the end of data) instead of the default one; undefined: the default. */
  readonly answer?: (line: string, session: ScriptedSession) => Answer;
  /** LMTP: after the data, one reply per accepted recipient, made by this (default "250 2.0.0 ok <address>"). */
  readonly lmtpReply?: (recipient: string) => string;
  /** Close the connection once this many body octets have arrived. */
  readonly cutInBody?: number;
};

export class ScriptedSession {
  readonly socket: Socket;
  /** Every command line received, in order. */
  readonly commands: string[] = [];
  /** Every message body received (DATA still stuffed, BDAT chunks joined). */
  readonly bodies: Buffer[] = [];
  /** Command lines (BDAT: with their chunk) read while more was already waiting: the client did not wait for replies. */
  readonly pipelined: string[] = [];
  readonly recipients: string[] = [];
  /** Received octets not read yet: #store[#start, #end). The store grows by doubling (no copy per chunk). */
  #store = Buffer.alloc(64 * 1024);
  #start = 0;
  #end = 0;
  #wake: (() => void) | undefined;
  #closed = false;

  constructor(socket: Socket) {
    this.socket = socket;
    socket.on("data", (chunk: Buffer) => {
      this.#append(chunk);
      this.#wake?.();
    });
    socket.on("close", () => {
      this.#closed = true;
      this.#wake?.();
    });
    socket.on("error", () => {});
  }

  /** Octets received and not read yet. */
  get buffered(): number {
    return this.#end - this.#start;
  }

  get #buffer(): Buffer {
    return this.#store.subarray(this.#start, this.#end);
  }

  /** Views handed out stay valid: bytes are only ever written past #end, or into a new store. */
  #append(chunk: Buffer): void {
    if (this.#end + chunk.length > this.#store.length) {
      const store = Buffer.alloc(Math.max(this.#store.length * 2, this.buffered + chunk.length));
      this.#store.copy(store, 0, this.#start, this.#end);
      [this.#store, this.#end, this.#start] = [store, this.buffered, 0];
    }
    chunk.copy(this.#store, this.#end);
    this.#end += chunk.length;
  }

  #consume(size: number): Buffer {
    const bytes = this.#store.subarray(this.#start, this.#start + size);
    this.#start += size;
    return bytes;
  }

  /** Waits until `ready(unread octets)` holds (true), or the connection closed (false). */
  async until(ready: (buffer: Buffer) => boolean): Promise<boolean> {
    while (!ready(this.#buffer)) {
      if (this.#closed) return false;
      await new Promise<void>((resolve) => (this.#wake = resolve));
    }
    return true;
  }

  async line(): Promise<string | undefined> {
    if (!(await this.until((b) => b.includes("\r\n")))) return undefined;
    const line = this.#consume(this.#buffer.indexOf("\r\n")).toString("utf8");
    this.#consume(2);
    return line;
  }

  /** `size` octets, or undefined when the connection closed or `cutAt` octets arrived first. */
  async take(size: number, cutAt = Number.POSITIVE_INFINITY): Promise<Buffer | undefined> {
    if (!(await this.until((b) => b.length >= Math.min(size, cutAt))) || cutAt <= size) return undefined;
    return this.#consume(size);
  }

  /** The data after 354 up to its end, still dot-stuffed; undefined when closed or `cutAt` octets came first. */
  async data(cutAt = Number.POSITIVE_INFINITY): Promise<Buffer | undefined> {
    let end = -1;
    let searched = 0;
    const found = (b: Buffer): boolean => {
      if (b.subarray(0, 3).equals(Buffer.from(".\r\n"))) end = 0;
      else {
        const at = b.indexOf("\r\n.\r\n", searched);
        end = at < 0 ? -1 : at + 2;
        searched = Math.max(0, b.length - 4);
      }
      return end >= 0 || b.length >= cutAt;
    };
    if (!(await this.until(found)) || end < 0) return undefined;
    const body = this.#consume(end);
    this.#consume(3);
    return body;
  }

  send(text: string): void {
    if (!this.#closed) this.socket.write(text);
  }
}

export class ScriptedServer {
  readonly sessions: ScriptedSession[] = [];
  /** One promise per session, settled when its script ends. */
  readonly ended: Promise<void>[] = [];
  readonly #server: Server;
  port = 0;

  private constructor(server: Server) {
    this.#server = server;
  }

  static async start(options: ScriptOptions = {}): Promise<ScriptedServer> {
    const scripted: ScriptedServer = new ScriptedServer(
      createServer((socket) => {
        const session = new ScriptedSession(socket);
        scripted.sessions.push(session);
        scripted.ended.push(converse(session, options).finally(() => socket.destroy()));
      }),
    );
    await new Promise<void>((resolve) => scripted.#server.listen(0, "127.0.0.1", resolve));
    scripted.port = (scripted.#server.address() as { port: number }).port;
    return scripted;
  }

  async close(): Promise<void> {
    for (const session of this.sessions) session.socket.destroy();
    await new Promise((resolve) => this.#server.close(resolve));
  }
}

/** Sends an answer; false when the conversation ends here (CUT). */
function say(session: ScriptedSession, answer: Answer, fallback: string): boolean {
  if (answer === CUT) {
    session.socket.destroy();
    return false;
  }
  if (answer !== SILENT) session.send(`${(answer ?? fallback).split("\n").join("\r\n")}\r\n`);
  return true;
}

async function converse(session: ScriptedSession, options: ScriptOptions): Promise<void> {
  const lmtp = options.lmtpReply !== undefined;
  if (!say(session, options.greeting, "220 fake.test ESMTP")) return;
  let accepted: string[] = [];
  const chunks: Buffer[] = [];
  for (let line = await session.line(); line !== undefined; line = await session.line()) {
    session.commands.push(line);
    if (session.buffered > 0 && !/^BDAT /i.test(line)) session.pipelined.push(line);
    const verb = line.split(" ")[0]!.toUpperCase();
    const custom = options.answer?.(line, session);
    const ehlo = ["250-fake.test", ...(options.extensions ?? ["PIPELINING", "8BITMIME"]).map((k) => `250-${k}`)];
    ehlo[ehlo.length - 1] = ehlo.at(-1)!.replace("250-", "250 ");
    const defaults: Record<string, string> = { EHLO: ehlo.join("\n"), LHLO: ehlo.join("\n"), HELO: "250 fake.test", MAIL: "250 2.1.0 ok", RSET: "250 2.0.0 ok", NOOP: "250 2.0.0 ok", QUIT: "221 2.0.0 bye", DATA: "354 go on" };
    if (verb === "MAIL" || verb === "RSET") accepted = [];
    if (verb === "RCPT") {
      const address = /<(.*)>/.exec(line)?.[1] ?? "";
      session.recipients.push(address);
      if (custom === undefined || (typeof custom === "string" && custom.startsWith("2"))) accepted.push(address);
    }
    const bdat = /^BDAT (\d+)( LAST)?$/i.exec(line);
    if (bdat !== null) {
      const chunk = await session.take(Number(bdat[1]), options.cutInBody);
      if (chunk === undefined) return;
      if (session.buffered > 0) session.pipelined.push(line);
      chunks.push(chunk);
      const last = bdat[2] !== undefined;
      if (last) session.bodies.push(Buffer.concat(chunks.splice(0)));
      if (!say(session, custom, last ? finalReplies(lmtp, accepted, options) : `250 2.0.0 ${chunk.length} octets`)) return;
      continue;
    }
    if (!say(session, custom, defaults[verb] ?? "250 2.1.5 ok")) return;
    if (verb === "QUIT") return;
    if (verb === "DATA" && (custom === undefined || (typeof custom === "string" && custom.startsWith("354")))) {
      const body = await session.data(options.cutInBody);
      if (body === undefined) return;
      session.bodies.push(body);
      if (!say(session, options.answer?.(".", session), finalReplies(lmtp, accepted, options))) return;
    }
  }
}

function finalReplies(lmtp: boolean, accepted: readonly string[], options: ScriptOptions): string {
  if (!lmtp) return "250 2.0.0 queued";
  return accepted.map((address) => options.lmtpReply!(address)).join("\n");
}

/** A start function for a test file's scripted servers, all closed after the file's tests. */
export function scriptedServers(): (options?: ScriptOptions) => Promise<ScriptedServer> {
  const servers: ScriptedServer[] = [];
  after(() => Promise.all(servers.map((each) => each.close())));
  return async (options = {}) => {
    const started = await ScriptedServer.start(options);
    servers.push(started);
    return started;
  };
}
