// The outbound client's connection: one socket (TCP, Unix or TLS, upgraded in place by STARTTLS), the replies
// read from it in order, and every wait on it (connect, handshake, reply, drain) under its own deadline.
//
// It counts the replies the commands written so far are owed (a 354 owes the one to its data); a reply beyond them (say a 421 sent to an idle
// connection) or a malformed one, a timeout, an error or a close from the remote makes the channel "lost": the
// socket is destroyed at once and every wait, now or later, rejects with a temporary SmtpClientError naming
// the stage that waited. Only one wait runs at a time and each one is awaited by its caller, so a remote that
// disconnects at any point can never leave a promise rejected unseen. Listeners come off a socket when it
// closes (and the reading ones off the clear socket when TLS takes it over).

import { connect as netConnect, type Socket } from "node:net";
import { connect as tlsConnect, type ConnectionOptions, TLSSocket } from "node:tls";
import type { Reply } from "../smtp/reply.ts";
import { ReplyReader, replyText } from "../smtp/reply-reader.ts";
import { type ClientStage, SmtpClientError } from "./smtp-client-error.ts";

/** Where to connect: a Unix socket, or a host and port, with TLS from the start when `tls` is given. */
export type ChannelTarget = {
  readonly host?: string;
  readonly port: number;
  readonly path?: string;
  readonly localAddress?: string;
  readonly tls?: ConnectionOptions;
};

export type TlsState = { readonly protocol: string; readonly cipher: string; readonly authorized: boolean };

type WaitKind = "connect" | "secure" | "reply" | "drain";

type Waiter = {
  readonly kind: WaitKind;
  readonly stage: ClientStage;
  readonly resolve: () => void;
  readonly reject: (error: SmtpClientError) => void;
  readonly timer: NodeJS.Timeout;
};

const WAITING_FOR: Record<WaitKind, string> = {
  connect: "the connection",
  secure: "the TLS handshake",
  reply: "a reply",
  drain: "the remote to take more data",
};

export class ReplyChannel {
  #socket: Socket;
  #reader = new ReplyReader();
  readonly #ready: Reply[] = [];
  /** Replies still owed to the commands written (the greeting counts as one). */
  #owed = 1;
  #waiter: Waiter | undefined;
  /** Why the connection is gone; undefined while it works. */
  #lost: string | undefined;
  /** A 421 the remote answered: it is closing the connection (RFC 5321 §3.8). */
  #closing: Reply | undefined;

  private constructor(socket: Socket) {
    this.#socket = socket;
    this.#listen(socket);
  }

  /** Connects (and with `target.tls`, completes the handshake) within `timeout` ms. Rejects at stage "connect". */
  static async open(target: ChannelTarget, timeout: number): Promise<ReplyChannel> {
    let socket: Socket;
    if (target.path !== undefined) socket = netConnect({ path: target.path });
    else {
      const address = { host: target.host ?? "", port: target.port, ...(target.localAddress === undefined ? {} : { localAddress: target.localAddress }) };
      socket = target.tls === undefined ? netConnect(address) : tlsConnect({ ...target.tls, ...address });
      socket.setNoDelay(true); // commands and the end of data go out at once, not after the previous ACK
    }
    const channel = new ReplyChannel(socket);
    await channel.#wait(target.tls === undefined ? "connect" : "secure", "connect", timeout);
    return channel;
  }

  /** True once the connection is gone: nothing more can be sent or read on it. */
  get lost(): boolean {
    return this.#lost !== undefined;
  }

  /** True once a 421 was read: the remote is going away, and read() answers every reply still owed with it. */
  get closing(): boolean {
    return this.#closing !== undefined;
  }

  get tls(): TlsState | undefined {
    const socket = this.#socket;
    if (!(socket instanceof TLSSocket)) return undefined;
    return { protocol: socket.getProtocol() ?? "", cipher: socket.getCipher()?.name ?? "", authorized: socket.authorized };
  }

  /** The error a wait at `stage` gets on a lost channel. */
  failure(stage: ClientStage): SmtpClientError {
    return new SmtpClientError(stage, this.#lost ?? "the connection is closed", { temporary: true });
  }

  /**
   * Writes commands (a string, sent as UTF-8) or message bytes that `replies` replies will answer. False when
   * the socket's buffer is full (await drained() before writing more) or the channel is lost.
   */
  write(bytes: string | readonly Buffer[], replies: number): boolean {
    if (this.#lost !== undefined) return false;
    this.#owed += replies;
    if (typeof bytes === "string") return this.#socket.write(bytes);
    let more = true;
    this.#socket.cork();
    for (const piece of bytes) more = this.#socket.write(piece);
    this.#socket.uncork();
    return more;
  }

  /** Octets the socket takes before write() answers false (asks the writer to wait); 0 once lost. */
  get room(): number {
    if (this.#lost !== undefined) return 0;
    return Math.max(0, this.#socket.writableHighWaterMark - this.#socket.writableLength);
  }

  /** Counts `replies` more replies owed to what was written already. */
  owe(replies: number): void {
    this.#owed += replies;
  }

  /** True when a reply has arrived that nobody read yet. */
  get answered(): boolean {
    return this.#ready.length > 0;
  }

  /**
   * Resolves once the socket has room for more (at once if it has) or a reply arrives (a remote may answer
   * before the end of a message); rejects if neither happens within `timeout` ms.
   */
  drained(stage: ClientStage, timeout: number): Promise<void> {
    if (this.#lost === undefined && !this.#socket.writableNeedDrain) return Promise.resolve();
    return this.#wait("drain", stage, timeout);
  }

  /** The next reply, waiting up to `timeout` ms for it (after a 421, that 421 at once). */
  async read(stage: ClientStage, timeout: number): Promise<Reply> {
    if (this.#ready.length === 0 && this.#closing !== undefined) return this.#closing;
    if (this.#ready.length === 0) await this.#wait("reply", stage, timeout);
    return this.#take();
  }

  /** The next reply if one has arrived already, without waiting. */
  poll(): Reply | undefined {
    return this.#ready.length === 0 ? undefined : this.#take();
  }

  #take(): Reply {
    const reply = this.#ready.shift()!;
    if (reply.code === 421) this.#closing = reply;
    return reply;
  }

  /**
   * After the 220 to STARTTLS: runs the TLS handshake over the same connection within `timeout` ms. Anything the
   * remote sent in clear after the 220 is thrown away (RFC 3207 §4.2). Rejects at stage "starttls".
   */
  async startTls(options: ConnectionOptions, timeout: number): Promise<void> {
    const clear = this.#socket;
    clear.off("data", this.#onData).off("end", this.#onEnd).off("drain", this.#onDrain);
    this.#reader = new ReplyReader();
    this.#ready.length = 0;
    this.#owed = 0;
    this.#socket = tlsConnect({ ...options, socket: clear });
    this.#listen(this.#socket);
    await this.#wait("secure", "starttls", timeout);
  }

  /** Ends the connection at once; later waits reject with `why`. */
  close(why = "the connection was closed"): void {
    this.#fail(why);
  }

  #wait(kind: WaitKind, stage: ClientStage, timeout: number): Promise<void> {
    if (this.#lost !== undefined) return Promise.reject(this.failure(stage));
    if (this.#waiter !== undefined) throw new Error(`bug: waiting for ${WAITING_FOR[kind]} while waiting for ${WAITING_FOR[this.#waiter.kind]}`);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => this.#fail(`timed out after ${timeout / 1000} s waiting for ${WAITING_FOR[kind]} (${stage})`), timeout);
      this.#waiter = { kind, stage, resolve, reject, timer };
    });
  }

  #settle(kind: WaitKind): void {
    const waiter = this.#waiter;
    if (waiter === undefined || waiter.kind !== kind) return;
    this.#waiter = undefined;
    clearTimeout(waiter.timer);
    waiter.resolve();
  }

  #fail(why: string): void {
    if (this.#lost !== undefined) return;
    this.#lost = why;
    this.#socket.destroy();
    const waiter = this.#waiter;
    if (waiter === undefined) return;
    this.#waiter = undefined;
    clearTimeout(waiter.timer);
    waiter.reject(this.failure(waiter.stage));
  }

  #listen(socket: Socket): void {
    socket.on("connect", this.#onConnect).on("secureConnect", this.#onSecure).on("data", this.#onData);
    socket.on("drain", this.#onDrain).on("end", this.#onEnd).on("error", this.#onError);
    socket.once("close", () => {
      this.#fail("the connection was closed");
      socket.off("connect", this.#onConnect).off("secureConnect", this.#onSecure).off("data", this.#onData);
      socket.off("drain", this.#onDrain).off("end", this.#onEnd).off("error", this.#onError);
    });
  }

  readonly #onConnect = (): void => this.#settle("connect");
  readonly #onSecure = (): void => this.#settle("secure");
  readonly #onDrain = (): void => this.#settle("drain");
  readonly #onEnd = (): void => this.#fail("the remote closed the connection");
  readonly #onError = (error: Error): void => this.#fail(error.message);

  readonly #onData = (chunk: Buffer): void => {
    if (this.#lost !== undefined) return;
    let replies: Reply[];
    try {
      replies = this.#reader.push(chunk);
    } catch (error) {
      this.#fail((error as Error).message);
      return;
    }
    for (const reply of replies) {
      if (this.#owed === 0) {
        this.#fail(`the remote sent a reply to no command: "${replyText(reply)}"`);
        return;
      }
      // A 354 is an intermediate reply: the data it asks for is owed a reply of its own (RFC 5321 §4.3.1).
      this.#owed += reply.code === 354 ? 0 : -1;
      this.#ready.push(reply);
      this.#settle("reply");
      this.#settle("drain");
    }
  };
}
