// One SMTP session on one connection: reads command lines and message bodies off the socket, hands each
// command to the command table (commands.ts), writes replies, and enforces the per-session limits
// (command/data timeouts, line length, error count). It owns the socket and the session's state; it never
// parses SMTP syntax itself (smtp/ does) and never touches the spool directly (transaction.ts does).

import type { Socket } from "node:net";
import { TLSSocket } from "node:tls";
import { setTimeout as sleep } from "node:timers/promises";
import { type SaslExchange, type SaslMechanism, startSasl } from "../accounts/sasl.ts";
import { answerSasl } from "./auth-dialogue.ts";
import { withRules } from "./rule-stages.ts";
import { StageContext, type StageSetup } from "../rules/contexts.ts";
import type { Logger } from "pino";
import { CommandLineReader, LINE_TOO_LONG } from "../smtp/command-line.ts";
import { formatReply, type Reply } from "../smtp/reply.ts";
import { replies } from "../smtp/replies.ts";
import { parseCommand } from "../smtp/command.ts";
import { isLoopback, reverseName } from "../dns/reverse-name.ts";
import { noteRefusedCommand, runCommand } from "./commands.ts";
import type { ListenerContext } from "./listener-context.ts";
import type { Transaction } from "./transaction.ts";
import type { BodyReader } from "./body-reader.ts";

type Mode = "greeting" | "command" | "body" | "closed";

function describeTls(socket: TLSSocket): { version: string; cipher: string } {
  return { version: socket.getProtocol() ?? "unknown", cipher: socket.getCipher()?.name ?? "unknown" };
}

export class Session {
  readonly id: string;
  readonly context: ListenerContext;
  private readonly mailLog: Logger;
  readonly clientAddress: string;
  readonly clientPort: number;
  /** The address and port the client connected to. */
  readonly serverAddress: string;
  readonly serverPort: number;
  readonly startedAt = Date.now();
  clientName: Promise<string | null>;
  /** The client's name once the lookup has ended (undefined before): rules then run without waiting for it. */
  knownClientName: string | null | undefined = undefined;
  greeting: "none" | "helo" | "ehlo" = "none";
  helo = "";
  /** The EHLO keywords offered to this client: MAIL/RCPT parameters of others are refused (RFC 5321 §4.1.1.1). */
  extensions: ReadonlySet<string> = new Set();
  transaction: Transaction | null = null;
  messages = 0;
  errors = 0;
  /** Set by a drain: the session ends at the next point where no transaction is open. */
  closing = false;
  /** The TLS protocol and cipher once the connection is encrypted (STARTTLS or a submissions listener). */
  tls: { readonly version: string; readonly cipher: string } | null = null;
  /** The authenticated user (AUTH), if any. */
  user: string | null = null;
  /** What rules see of this session, kept while it does not change (rule-stages.ts). */
  rulesSetup: StageSetup | null = null;
  /** Set by a faccept before MAIL: no rule runs again in this session. */
  private rulesOff = false;
  /** An AUTH exchange in progress: the next lines are SASL responses, not commands. */
  private sasl: SaslExchange | null = null;
  private saslMechanism: SaslMechanism = "PLAIN";

  private socket: Socket;
  private reader: CommandLineReader;
  private mode: Mode = "greeting";
  private body: BodyReader | null = null;
  /**
   * When the command line being received, or the message body, started: a client that trickles bytes (a
   * slowloris) resets the idle timeout with each one, so each command must be complete within the command
   * timeout and each body within smtp.timeouts.message.
   */
  private trickleSince = 0;
  /** Work the session waits for (spool writes, commits) before it reads on. */
  private pending = 0;

  /** `client`: the real client named by a PROXY protocol header, when the listener takes one. */
  constructor(socket: Socket, context: ListenerContext, client?: { readonly address: string; readonly port: number }) {
    this.socket = socket;
    this.context = context;
    this.id = context.nextSessionId();
    this.clientAddress = client?.address ?? socket.remoteAddress ?? "unknown";
    this.clientPort = client?.port ?? socket.remotePort ?? 0;
    this.serverAddress = socket.localAddress ?? "unknown";
    this.serverPort = socket.localPort ?? 0;
    this.mailLog = context.logs.module("smtp", "mail");
    this.reader = new CommandLineReader(context.settings.maxCommandLength);
    this.clientName = reverseName(this.clientAddress, context.settings.dnsServers);
    if (isLoopback(this.clientAddress)) this.knownClientName = "localhost"; // no lookup: known at once
    else {
      void this.clientName.then((name) => {
        this.knownClientName = name;
      });
    }

    if (socket instanceof TLSSocket) this.tls = describeTls(socket);
    this.listen(socket);

    this.note(
      "info",
      { event: "connect", client: this.clientAddress, port: this.clientPort, listener: context.listener.name },
      "connect",
    );
    const delay = context.settings.greetingDelay;
    if (delay > 0) setTimeout(() => this.greet(), delay).unref();
    else this.greet();
  }

  /** One line of the mail log about this session (a field, not a pino child: sessions are many and short). */
  note(level: "debug" | "info" | "error", fields: object, message: string): void {
    this.mailLog[level]({ session: this.id, ...fields }, message);
  }

  /** Whether note() at this level writes anything: a caller can then skip building the fields. */
  noting(level: "debug" | "info" | "error"): boolean {
    return this.mailLog.isLevelEnabled(level);
  }

  /** Reads commands from `socket`: at the start, and again on the encrypted socket after STARTTLS. */
  private listen(socket: Socket): void {
    socket.setTimeout(this.context.settings.commandTimeout);
    socket.on("data", (chunk: Buffer) => this.receive(chunk));
    socket.on("timeout", () => this.timeout());
    socket.on("error", (error: NodeJS.ErrnoException) => this.note("debug", { err: error.code ?? error.message }, "socket error"));
    socket.on("close", () => this.closed());
    socket.resume(); // a socket paused while its PROXY header was read
  }

  /**
   * STARTTLS (RFC 3207). Bytes the client sent after the command, before the handshake, are refused: they
   * would run as if they came over TLS (the STARTTLS command injection). On success the session starts over:
   * no greeting, no transaction, only what the client says over TLS counts.
   */
  startTls(): Promise<void> | undefined {
    if (this.reader.takeRest().length > 0) {
      this.note("info", { event: "starttls-injection" }, "commands pipelined after STARTTLS refused");
      this.refuse(replies.pipelinedAfterStartTls);
      return undefined;
    }
    const plain = this.socket;
    plain.pause();
    plain.removeAllListeners("data");
    plain.removeAllListeners("timeout");
    plain.removeAllListeners("close");
    plain.setTimeout(0);
    return new Promise((resolve) => {
      plain.write(formatReply(replies.readyToStartTls), () => {
        const { context: secureContext, sni: SNICallback } = this.context.tls;
        const secure = new TLSSocket(plain, { isServer: true, secureContext, SNICallback });
        secure.once("secure", () => {
          this.tls = describeTls(secure);
          this.greeting = "none";
          this.helo = "";
          this.user = null;
          this.extensions = new Set();
          this.reader = new CommandLineReader(this.context.settings.maxCommandLength);
          this.note("info", { event: "starttls", ...this.tls }, "TLS started");
          resolve();
        });
        secure.once("error", (error: Error) => {
          this.note("info", { event: "tls-failed", error: error.message }, "TLS handshake failed");
          this.mode = "closed";
          secure.destroy();
          resolve();
        });
        this.socket = secure;
        this.listen(secure);
      });
    });
  }

  /** AUTH (RFC 4954): starts the SASL exchange; the client's further responses arrive as lines. */
  authenticate(mechanism: SaslMechanism, initialResponse: string | undefined): Promise<void> | undefined {
    const { accounts } = this.context;
    if (accounts.failures.isLockedOut(this.clientAddress)) {
      this.note("info", { event: "auth-locked-out" }, "AUTH from a locked-out address");
      this.close(replies.authLockedOut);
      return undefined;
    }
    this.sasl = startSasl(mechanism, accounts.store, accounts.secret);
    this.saslMechanism = mechanism;
    return this.saslStep(initialResponse ?? null);
  }

  /** One SASL response (see auth-dialogue.ts); the exchange stays open only while it sends challenges. */
  private async saslStep(encoded: string | null): Promise<void> {
    const exchange = this.sasl!;
    this.sasl = null;
    if (await answerSasl(this, exchange, this.saslMechanism, encoded)) this.sasl = exchange;
  }

  get hostname(): string {
    return this.context.settings.hostname;
  }

  /** The connect stage's rules, then the greeting (or the refusal, and the end: RFC 5321 §3.1). */
  private greet(): void {
    if (this.mode !== "greeting") return;
    const pending = withRules(
      this,
      "connect",
      (setup) => new StageContext("connect", setup),
      (decision) => {
        if (this.mode !== "greeting") return;
        if (decision.action === "refuse") {
          this.close(decision.reply);
          return;
        }
        this.mode = "command";
        this.reply({ code: 220, lines: [`${this.hostname} ESMTP Petrel`] });
      },
    );
    if (pending) this.wait(pending);
  }

  /** Whether rules are off for what the session does now (a faccept). */
  rulesSkipped(): boolean {
    return this.rulesOff || this.transaction?.rulesOff === true;
  }

  /** A faccept: no rule runs again in this transaction, or before MAIL in this session. */
  skipRules(): void {
    if (this.transaction !== null) this.transaction.rulesOff = true;
    else this.rulesOff = true;
  }

  reply(reply: Reply): void {
    if (this.mode === "closed") return;
    this.socket.write(formatReply(reply));
  }

  /** Sends a last reply and closes the connection once it is written. */
  close(reply: Reply | null): void {
    if (this.mode === "closed") return;
    if (reply) this.reply(reply);
    this.mode = "closed";
    this.socket.end();
  }

  /**
   * QUIT: the closing reply, then the connection closes as soon as it is written, without waiting for the
   * client's end (RFC 5321 §4.1.1.10: the server closes after replying). Nothing the client sends after QUIT is
   * read, so a client that resets the connection on its way out costs nothing more. Other closings (421 and the
   * like) keep reading until the client has closed, so that a client still sending sees the reply.
   */
  quit(): void {
    if (this.mode === "closed") return;
    this.reply(replies.closing);
    this.mode = "closed";
    this.socket.end(() => this.socket.destroy());
  }

  /**
   * A refusal that counts against the client: past `error_delay_after` errors each one is answered later and
   * later (a tarpit: error_delay times the errors past that point, at most 30 s); at max_errors the session ends
   * with 421. A client that pipelines errors waits for each delay in turn.
   */
  refuse(reply: Reply): void {
    this.errors += 1;
    const { errorDelay, errorDelayAfter, maxErrors } = this.context.settings;
    const answer = () => {
      this.reply(reply);
      if (this.errors < maxErrors) return;
      this.note("info", { event: "too-many-errors", errors: this.errors }, "too many errors");
      this.close(replies.tooManyErrors);
    };
    const delay = Math.min(30_000, errorDelay * Math.max(0, this.errors - errorDelayAfter));
    if (delay === 0) answer();
    else this.wait(sleep(delay).then(answer));
  }

  /** Switches the socket to body mode (after 354 or BDAT); bytes already read are fed to the reader at once. */
  beginBody(body: BodyReader): void {
    this.body = body;
    this.mode = "body";
    this.trickleSince = 0;
    this.socket.setTimeout(this.context.settings.dataTimeout);
    // Even with no byte buffered: a zero-octet BDAT chunk is complete at once.
    this.feedBody(this.reader.takeRest());
  }

  private receive(chunk: Buffer): void {
    switch (this.mode) {
      case "greeting":
        this.note("info", { event: "early-talker" }, "client talked before the greeting");
        this.close(replies.earlyTalker);
        return;
      case "body":
        if (this.tooSlow(this.context.settings.messageTimeout)) return;
        this.feedBody(chunk);
        return;
      case "command":
        if (this.tooSlow(this.context.settings.commandTimeout)) return;
        this.reader.push(chunk);
        if (this.pending > 0) this.socket.pause(); // more while a command is under way: read no further for now
        this.pump();
        if (!this.reader.partial && this.mode === "command") this.trickleSince = 0;
        return;
      case "closed":
        return;
    }
  }

  /** Ends the session when the command or body under way has taken longer than `limit` (see trickleSince). */
  private tooSlow(limit: number): boolean {
    const now = Date.now();
    if (this.trickleSince === 0) this.trickleSince = now;
    else if (now - this.trickleSince > limit) {
      this.note("info", { event: "too-slow", mode: this.mode }, "client too slow");
      this.close(replies.timeout);
      return true;
    }
    return false;
  }

  private feedBody(chunk: Buffer): void {
    const body = this.body!;
    this.context.readBuffers.received(chunk.length);
    const step = body.push(chunk);
    if (!step.done) {
      if (step.backpressure) this.wait(step.backpressure);
      return;
    }
    this.body = null;
    this.mode = "command";
    this.trickleSince = 0;
    this.socket.setTimeout(this.context.settings.commandTimeout);
    if (step.rest) this.reader.push(step.rest);
    this.wait(step.backpressure ? step.backpressure.then(() => body.finish()) : body.finish());
  }

  /**
   * Runs no further command until `work` is done, then carries on with whatever the client pipelined meanwhile.
   * Reading stops at once in body mode (a body is not fed while its last part is being written); in command mode
   * only if the client sends more meanwhile (receive()): most clients wait for the reply, and a pause and resume
   * for every asynchronous rule stage cost more than the stage. While the connect rules run, reading goes on: a
   * client that talks before the greeting is an early talker, as with smtp.greeting_delay.
   */
  private wait(work: Promise<void>): void {
    this.pending += 1;
    if (this.mode === "body") this.socket.pause();
    work.then(
      () => {
        this.pending -= 1;
        if (this.pending > 0 || this.mode === "closed") return;
        this.socket.resume();
        if (this.mode === "command") this.pump();
      },
      (error: unknown) => {
        this.pending -= 1;
        this.note("error", { err: error }, "session failed");
        this.close(replies.localError);
      },
    );
  }

  /** Runs every complete command line that has arrived, in order, replying to each. */
  private pump(): void {
    if (this.pending > 0) return;
    this.socket.cork();
    try {
      while (this.mode === "command" && this.pending === 0) {
        if (this.closing && this.transaction === null) {
          this.close(replies.shuttingDown);
          break;
        }
        const line = this.reader.next();
        if (line === null) break;
        if (line === LINE_TOO_LONG) {
          this.refuse(this.sasl === null ? replies.lineTooLong : replies.authLineTooLong);
          this.sasl = null;
          continue;
        }
        if (this.sasl !== null) {
          this.wait(this.saslStep(line.toString("latin1").trim()));
          continue;
        }
        const command = parseCommand(line, {
          smtputf8: this.transaction?.smtputf8 ?? false,
          extensions: this.extensions,
        });
        if ("error" in command) {
          // The line as it came (its start), but never the credentials an AUTH line carries.
          const text = line.toString("latin1", 0, Math.min(line.length, 64)).trimEnd();
          const shown = /^auth[ \t]/i.test(text) ? text.split(/[ \t]+/).slice(0, 2).join(" ") : text;
          noteRefusedCommand(this, shown, command.error);
          this.refuse(command.error);
          continue;
        }
        const pending = runCommand(this, command);
        if (pending) this.wait(pending);
      }
    } finally {
      this.socket.uncork();
    }
  }

  /** A drain asks the session to end: at once when idle, else after its transaction. */
  shutdown(): void {
    this.closing = true;
    if (this.mode === "command" && this.pending === 0 && this.transaction === null) {
      this.close(replies.shuttingDown);
    }
  }

  /** The drain deadline passed: whatever is not committed is abandoned (its client never got a 250). */
  destroy(): void {
    if (this.mode !== "closed") this.close(replies.shuttingDown);
    this.socket.destroy();
  }

  private timeout(): void {
    if (this.mode === "closed") {
      this.socket.destroy();
      return;
    }
    this.note("info", { event: "timeout", mode: this.mode }, "timeout");
    this.close(replies.timeout);
  }

  private closed(): void {
    this.mode = "closed";
    const transaction = this.transaction;
    this.transaction = null;
    if (transaction) void transaction.abort();
    this.note(
      "info",
      { event: "disconnect", messages: this.messages, errors: this.errors, ms: Date.now() - this.startedAt },
      "disconnect",
    );
    this.context.sessionClosed(this);
  }
}
