// Petrel's outbound SMTP and LMTP client: one connection to one server (an address already resolved, or a Unix
// socket for LMTP), carrying one transaction after another for the delivery scheduler's MX, relay and LMTP
// transports. This file is its public face and its life cycle: connect (greeting, EHLO/LHLO, STARTTLS, AUTH),
// send, reuse, quit. The parts: smtp-client-channel.ts (socket, replies, deadlines), -handshake.ts, -auth.ts,
// -envelope.ts (commands and local refusals), -transaction.ts (MAIL…message), -body.ts (DATA/BDAT streaming).
//
// A transaction's refusals (sender, recipients, message) come back as replies; everything that breaks the
// connection (timeouts, a lost connection, a protocol error) rejects with SmtpClientError and makes the
// client unusable. Timeouts default to Postfix's: 30 s to connect, 300 s for the greeting and each command's
// reply (and for the socket to take more of the message), 600 s for the final reply to the message.

import { isIP } from "node:net";
import type { ConnectionOptions } from "node:tls";
import type { Reply } from "../smtp/reply.ts";
import { authenticate, type Credentials } from "./smtp-client-auth.ts";
import { ReplyChannel, type TlsState } from "./smtp-client-channel.ts";
import type { OutboundTransaction } from "./smtp-client-envelope.ts";
import { SmtpClientError } from "./smtp-client-error.ts";
import { handshake } from "./smtp-client-handshake.ts";
import { runTransaction, type TransactionResult } from "./smtp-client-transaction.ts";

export type { ClientStage } from "./smtp-client-error.ts";
export type { OutboundRecipient, OutboundTransaction } from "./smtp-client-envelope.ts";
export type { TransactionResult } from "./smtp-client-transaction.ts";
export { SmtpClientError };

/**
 * none: never TLS. opportunistic: STARTTLS when offered, any certificate (RFC 7435). required: STARTTLS or
 * fail at stage "starttls". implicit: TLS from the first octet (port 465, RFC 8314).
 */
export type ClientTls = "none" | "opportunistic" | "required" | "implicit";

export type SmtpClientOptions = {
  protocol: "smtp" | "lmtp";
  /** IP address to connect to (already resolved). */
  host?: string;
  /** Default 25 (SMTP), 465 (implicit TLS), 24 (LMTP). */
  port?: number;
  /** Unix socket (LMTP); host and port are then not used. */
  path?: string;
  localAddress?: string;
  /** Our name for EHLO / LHLO / HELO. */
  heloName: string;
  tls: ClientTls;
  /** SNI, and the name a verified certificate must match; also names the remote in `remote`. */
  servername?: string;
  /** required/implicit: reject a certificate that does not verify (default true). Opportunistic never verifies. */
  verifyCertificate?: boolean;
  /** The trust anchors, instead of Node's own list (Mozilla's). */
  ca?: string | Buffer | (string | Buffer)[];
  /** AUTH PLAIN, or LOGIN when only LOGIN is offered; only over TLS or to a loopback address / Unix socket. */
  credentials?: Credentials;
  /** Milliseconds. */
  timeouts?: { connect?: number; greeting?: number; command?: number; data?: number };
};

type Timeouts = { readonly connect: number; readonly greeting: number; readonly command: number; readonly data: number };

const DEFAULT_TIMEOUTS: Timeouts = { connect: 30_000, greeting: 300_000, command: 300_000, data: 600_000 };

/** How long QUIT waits for its reply before closing anyway. */
const QUIT_WAIT = 10_000;

export class SmtpClient {
  /** "mx.example.com[192.0.2.1]:25", "[192.0.2.1]:25" without a server name, or "unix:/path". */
  readonly remote: string;
  readonly greeting: Reply;
  /** EHLO keywords, upper case → their parameters ("SIZE" → "10240000"); empty after HELO. */
  readonly extensions: ReadonlyMap<string, string>;
  readonly tls: TlsState | undefined;
  readonly #channel: ReplyChannel;
  readonly #protocol: "smtp" | "lmtp";
  readonly #timeouts: Timeouts;
  /** The last transaction ended before its message: RSET goes first in the next. */
  #resetFirst = false;
  #busy = false;
  #ended = false;

  private constructor(remote: string, channel: ReplyChannel, protocol: "smtp" | "lmtp", timeouts: Timeouts, opened: { greeting: Reply; extensions: ReadonlyMap<string, string> }) {
    this.remote = remote;
    this.#channel = channel;
    this.#protocol = protocol;
    this.#timeouts = timeouts;
    this.greeting = opened.greeting;
    this.extensions = opened.extensions;
    this.tls = channel.tls;
  }

  /** Connects and opens the session, ready for send(); rejects with SmtpClientError (the socket closed). */
  static async connect(options: SmtpClientOptions): Promise<SmtpClient> {
    if (options.path === undefined && options.host === undefined) throw new TypeError("SmtpClient.connect: give a host or a path");
    const timeouts = { ...DEFAULT_TIMEOUTS, ...options.timeouts };
    const port = options.port ?? (options.tls === "implicit" ? 465 : options.protocol === "lmtp" ? 24 : 25);
    const tlsOptions = tlsOptionsOf(options);
    const channel = await ReplyChannel.open(
      {
        port,
        ...(options.host === undefined ? {} : { host: options.host }),
        ...(options.path === undefined ? {} : { path: options.path }),
        ...(options.localAddress === undefined ? {} : { localAddress: options.localAddress }),
        ...(options.tls === "implicit" ? { tls: tlsOptions } : {}),
      },
      timeouts.connect,
    );
    try {
      const opened = await handshake(channel, {
        protocol: options.protocol,
        heloName: options.heloName,
        startTls: options.tls === "implicit" ? "none" : options.tls,
        tlsOptions,
        greetingTimeout: timeouts.greeting,
        commandTimeout: timeouts.command,
      });
      if (options.credentials !== undefined) {
        const peer = { ...(options.host === undefined ? {} : { host: options.host }), ...(options.path === undefined ? {} : { path: options.path }) };
        await authenticate(channel, options.credentials, opened.extensions, peer, timeouts.command);
      }
      const remote = options.path !== undefined ? `unix:${options.path}` : `${options.servername ?? ""}[${options.host}]:${port}`;
      return new SmtpClient(remote, channel, options.protocol, timeouts, opened);
    } catch (error) {
      channel.close();
      throw error;
    }
  }

  /**
   * Runs one transaction. Rejects with SmtpClientError when the connection breaks or the body file fails in
   * the middle of the message (then the client is unusable), or with the file system's error when the body
   * file cannot be opened (nothing was sent; the connection stays usable).
   */
  async send(transaction: OutboundTransaction): Promise<TransactionResult> {
    if (this.#busy) throw new Error("SmtpClient.send: one transaction at a time");
    if (!this.reusable) throw this.#channel.failure("mail");
    this.#busy = true;
    try {
      const end = await runTransaction(this.#channel, transaction, {
        protocol: this.#protocol,
        extensions: this.extensions,
        resetFirst: this.#resetFirst,
        commandTimeout: this.#timeouts.command,
        dataTimeout: this.#timeouts.data,
      });
      this.#resetFirst = end.reset;
      if (this.#channel.closing) this.#channel.close("the remote closed the connection (421)");
      return end.result;
    } catch (error) {
      if (error instanceof SmtpClientError) this.#channel.close(error.message);
      throw error;
    } finally {
      this.#busy = false;
    }
  }

  /** True when another transaction may be sent on this connection. */
  get reusable(): boolean {
    return !this.#busy && !this.#ended && !this.#channel.lost && !this.#channel.closing;
  }

  /** Says QUIT, waits briefly for the reply and closes. Never rejects. */
  async quit(): Promise<void> {
    if (this.#ended) return;
    const polite = this.reusable;
    this.#ended = true;
    if (polite) {
      this.#channel.write("QUIT\r\n", 1);
      await this.#channel.read("quit", Math.min(this.#timeouts.command, QUIT_WAIT)).catch(() => undefined);
    }
    this.#channel.close("the session ended with QUIT");
  }

  /** Destroys the connection at once. */
  close(): void {
    this.#ended = true;
    this.#channel.close("the connection was closed by Petrel");
  }
}

/** TLS settings for STARTTLS or implicit TLS: SNI only for a name (RFC 6066 forbids addresses). */
function tlsOptionsOf(options: SmtpClientOptions): ConnectionOptions {
  const verify = options.tls === "opportunistic" ? false : (options.verifyCertificate ?? true);
  const name = options.servername ?? options.host;
  return {
    rejectUnauthorized: verify,
    ...(name === undefined ? {} : { host: name }),
    ...(options.servername === undefined || isIP(options.servername) !== 0 ? {} : { servername: options.servername }),
    ...(options.ca === undefined ? {} : { ca: options.ca }),
  };
}
