// A deliberately small SMTP client for the benchmark's own sessions (readiness, the 50 MB message, idle
// sessions): connect, read the greeting, send one command at a time and read its reply, stream a body.
// smtp-source does the throughput loads; this file must never grow into a general client (no pipelining,
// no TLS, no AUTH) and must never talk to anything but loopback.

import { connect, type Socket } from "node:net";
import { once } from "node:events";
import { setTimeout as delay } from "node:timers/promises";

const QUIT_REPLY_TIMEOUT_MS = 5000;
const RETRY_INTERVAL_MS = 25;

export type SmtpReply = { code: number; lines: string[] };

/** Splits the bytes a server sends into complete replies; keeps a partial line for the next chunk. */
export class ReplyReader {
  #partial = "";
  #lines: string[] = [];

  /** Adds received text and returns every reply it completes, in order. */
  push(text: string): SmtpReply[] {
    const replies: SmtpReply[] = [];
    const parts = (this.#partial + text).split("\r\n");
    this.#partial = parts.pop() ?? "";
    for (const line of parts) {
      if (!/^\d{3}([ -]|$)/.test(line)) throw new Error(`not an SMTP reply line: ${JSON.stringify(line)}`);
      this.#lines.push(line.slice(4));
      if (line[3] === "-") continue;
      replies.push({ code: Number(line.slice(0, 3)), lines: this.#lines });
      this.#lines = [];
    }
    return replies;
  }
}

export function describeReply(reply: SmtpReply): string {
  return `${reply.code} ${reply.lines.join(" / ")}`;
}

export class SmtpConversation {
  readonly socket: Socket;
  readonly #reader = new ReplyReader();
  readonly #replies: SmtpReply[] = [];
  readonly #waiting: { resolve: (reply: SmtpReply) => void; reject: (error: Error) => void }[] = [];
  #ended: Error | null = null;

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.setEncoding("latin1");
    socket.on("data", (text: string) => {
      try {
        for (const reply of this.#reader.push(text)) this.#deliver(reply);
      } catch (error) {
        socket.destroy(error as Error);
      }
    });
    socket.on("error", (error) => this.#end(error));
    socket.on("close", () => this.#end(new Error("the server closed the connection")));
  }

  /** Connects to 127.0.0.1:port and returns once the greeting has arrived (whatever its code). */
  static async open(port: number, signal?: AbortSignal): Promise<{ conversation: SmtpConversation; greeting: SmtpReply }> {
    const socket = connect({ host: "127.0.0.1", port, signal });
    await once(socket, "connect");
    const conversation = new SmtpConversation(socket);
    return { conversation, greeting: await conversation.reply() };
  }

  /** A conversation over a socket that is already open and greeted (say a TLS socket after STARTTLS). */
  static over(socket: Socket): SmtpConversation {
    return new SmtpConversation(socket);
  }

  /** True once the connection is gone, for whatever reason. */
  get ended(): boolean {
    return this.#ended !== null;
  }

  /** The next reply the server sends. */
  reply(): Promise<SmtpReply> {
    const ready = this.#replies.shift();
    if (ready) return Promise.resolve(ready);
    if (this.#ended) return Promise.reject(this.#ended);
    return new Promise((resolve, reject) => this.#waiting.push({ resolve, reject }));
  }

  /** Sends one command line and returns its reply; throws unless the reply code is `expected`. */
  async command(line: string, expected: number): Promise<SmtpReply> {
    this.socket.write(`${line}\r\n`, "latin1");
    const reply = await this.reply();
    if (reply.code !== expected) throw new Error(`"${line}" was answered ${describeReply(reply)} (expected ${expected})`);
    return reply;
  }

  /** Writes raw bytes (a message body), waiting whenever the socket's buffer is full. */
  async write(chunk: Buffer): Promise<void> {
    if (!this.socket.write(chunk)) await once(this.socket, "drain");
  }

  /** Sends QUIT when still connected, waits a little for its reply, and closes the connection. */
  async quit(): Promise<void> {
    if (!this.ended) {
      this.socket.write("QUIT\r\n");
      const replied = this.reply().catch(() => undefined);
      await Promise.race([replied, delay(QUIT_REPLY_TIMEOUT_MS, undefined, { ref: false })]);
    }
    this.socket.destroy();
  }

  #deliver(reply: SmtpReply): void {
    const waiter = this.#waiting.shift();
    if (waiter) waiter.resolve(reply);
    else this.#replies.push(reply);
  }

  #end(error: Error): void {
    this.#ended ??= error;
    for (const waiter of this.#waiting.splice(0)) waiter.reject(this.#ended);
  }
}


/**
 * Resolves once a server on 127.0.0.1:port greets with 220. A refused connection (nothing listens yet) is
 * retried every 25 ms: there is no event to wait for in another process's start-up. Rejects as soon as
 * `signal` aborts (the server process died) or after `timeoutMs`.
 */
export async function waitForGreeting(port: number, signal: AbortSignal, timeoutMs: number): Promise<void> {
  const deadline = AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)]);
  for (;;) {
    deadline.throwIfAborted();
    try {
      const { conversation, greeting } = await SmtpConversation.open(port, deadline);
      await conversation.quit();
      if (greeting.code !== 220) throw new Error(`port ${port} greeted with ${describeReply(greeting)}`);
      return;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ECONNREFUSED") throw error;
    }
    await delay(RETRY_INTERVAL_MS, undefined, { signal: deadline }).catch(() => deadline.throwIfAborted());
  }
}
