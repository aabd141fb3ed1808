// The SMTP and LMTP transports: a message's recipients for one next hop in one transaction. For an MX next hop
// the hosts come from mx-destination.ts (MX records in order, every address of each); for a relay or an LMTP
// server from its host name. Hosts are tried in order until one takes the transaction: a connection that fails
// or a greeting, EHLO or STARTTLS that is refused moves on to the next (at most MAX_ADDRESSES per attempt, as
// Postfix limits its own). Once a server has answered the transaction, its replies are the recipients' outcomes;
// no other host is tried for them. Connections are reused through the connection cache.

import { createHash } from "node:crypto";
import { isIP } from "node:net";
import type { DnsResolver } from "../dns/resolver.ts";
import { resolveDestination } from "./mx-destination.ts";
import type { Envelope } from "../queue/envelope.ts";
import type { ConnectionCache } from "./connection-cache.ts";
import { type NextHop, hopLabel } from "./next-hop.ts";
import { deferred, failed, type Outcome, outcomeOfReply } from "./outcome.ts";
import { replyText } from "../smtp/reply-reader.ts";
import { SmtpClient, SmtpClientError, type OutboundTransaction, type SmtpClientOptions } from "./smtp-client.ts";
import type { HopDelivery, HopResult, Transport } from "./transport.ts";

/** Addresses tried per attempt before the recipients are deferred. */
const MAX_ADDRESSES = 5;

/**
 * A body up to this size is read whole in one go before the transaction (HopDelivery.readBody: one trip to a
 * spool file thread) and sent from memory; a larger one is streamed from its file. Streaming a 4 KiB body took
 * four trips through libuv's pool (open, read, read to the end, close), each a wake-up of the event loop.
 */
const SMALL_BODY = 64 * 1024;

export type SmtpTransportSettings = {
  readonly heloName: string;
  readonly mxTls: "opportunistic" | "required" | "none";
  readonly mxPort: number;
  readonly families: readonly ("ipv4" | "ipv6")[];
  readonly timeouts: { readonly connect: number; readonly command: number; readonly data: number };
  /** The login a credentials name stands for, or undefined if there is no such name. */
  readonly credentials: (name: string) => { user: string; password: string } | undefined;
  /** The certificate authorities (PEM) a relay's certificate may chain to; undefined: Node's own list. */
  readonly ca?: string[];
};

/** One server to try: an address, and the name it was found under (for SNI and the log). */
type Candidate = { readonly address: string; readonly port: number; readonly name?: string };

type Plan = { readonly candidates: readonly Candidate[] } | { readonly outcome: Outcome; readonly reached: boolean };

export class SmtpTransport implements Transport {
  readonly #resolver: DnsResolver;
  readonly #cache: ConnectionCache;
  readonly #settings: SmtpTransportSettings;

  constructor(resolver: DnsResolver, cache: ConnectionCache, settings: SmtpTransportSettings) {
    this.#resolver = resolver;
    this.#cache = cache;
    this.#settings = settings;
  }

  async deliver(hop: NextHop, delivery: HopDelivery): Promise<HopResult> {
    const every = (outcome: Outcome, reached: boolean): HopResult => ({ outcomes: delivery.recipients.map(() => outcome), reached });
    let options: Omit<SmtpClientOptions, "host" | "port">;
    try {
      options = this.#clientOptions(hop);
    } catch (error) {
      return every(deferred("4.3.5", `${hopLabel(hop)}: ${(error as Error).message}`), true);
    }
    const plan = await this.#plan(hop);
    if ("outcome" in plan) return every(plan.outcome, plan.reached);
    const transaction = outboundTransaction(delivery, await smallBody(delivery));
    let lastFailure: Outcome = deferred("4.4.1", `${hopLabel(hop)}: no host could be tried`);
    for (const candidate of plan.candidates.slice(0, MAX_ADDRESSES)) {
      const attempt = await this.#tryCandidate(candidate, options, transaction);
      if ("outcomes" in attempt) return { outcomes: attempt.outcomes, reached: true };
      lastFailure = attempt.failure;
    }
    // A host that refused us for good (5xx greeting or EHLO) makes the failure permanent, as its words say.
    return every(lastFailure, lastFailure.kind === "failed");
  }

  /** The transaction on one server: its outcomes, or why it could not be used (try the next). */
  async #tryCandidate(
    candidate: Candidate,
    options: Omit<SmtpClientOptions, "host" | "port">,
    transaction: OutboundTransaction,
  ): Promise<{ outcomes: Outcome[] } | { failure: Outcome }> {
    const verified = options.verifyCertificate === false ? "unverified" : "";
    const key = `${candidate.address}|${candidate.port}|${options.protocol}|${options.tls}|${verified}|${loginKey(options.credentials)}|${candidate.name ?? ""}`;
    // A cached connection may have been closed by the server meanwhile: then once more on a new one.
    for (const cached of [true, false]) {
      let client: SmtpClient | undefined = cached ? this.#cache.take(key) : undefined;
      if (cached && client === undefined) continue;
      try {
        client ??= await SmtpClient.connect({ ...options, host: candidate.address, port: candidate.port, ...(candidate.name === undefined ? {} : { servername: candidate.name }) });
      } catch (error) {
        return { failure: connectionFailure(error, describe(candidate)) };
      }
      try {
        const result = await client.send(transaction);
        this.#cache.put(key, client);
        const dsnPassedOn = client.extensions.has("DSN");
        if (result.mail.code >= 400) return { outcomes: transaction.recipients.map(() => outcomeOfReply(result.mail, client.remote)) };
        return { outcomes: result.recipients.map((reply) => outcomeOfReply(reply, client.remote, dsnPassedOn)) };
      } catch (error) {
        client.close();
        if (!(error instanceof SmtpClientError)) throw error;
        if (cached && error.stage === "mail" && error.reply === undefined) continue;
        // The server answered, then the transaction broke: the recipients wait; no other host for them now.
        const outcome = error.reply !== undefined && !error.temporary ? outcomeOfReply(error.reply, client.remote) : deferred("4.4.2", `${client.remote}: ${error.message}`, client.remote);
        return { outcomes: transaction.recipients.map(() => outcome) };
      }
    }
    return { failure: deferred("4.4.1", `${describe(candidate)}: no connection`) };
  }

  async #plan(hop: NextHop): Promise<Plan> {
    const { families, mxPort } = this.#settings;
    if (hop.kind === "mx") {
      const destination = await resolveDestination(this.#resolver, hop.domain, { port: mxPort, families });
      if (destination.kind === "failed") {
        const outcome = destination.temporary ? deferred(destination.status, destination.diagnostic) : failed(destination.status, destination.diagnostic);
        return { outcome, reached: true };
      }
      // An address literal ([192.0.2.1]) has no name to ask for (SNI) or to log.
      const named = (name: string) => (name.startsWith("[") ? {} : { name });
      return { candidates: destination.hosts.flatMap((host) => host.addresses.map((a) => ({ address: a.address, port: mxPort, ...named(host.name) }))) };
    }
    if (hop.kind === "lmtp-socket") return { candidates: [{ address: hop.path, port: 0 }] };
    if (hop.kind !== "smtp" && hop.kind !== "lmtp") throw new TypeError(`the SMTP transport cannot take ${hopLabel(hop)}`);
    if (isIP(hop.host) !== 0) return { candidates: [{ address: hop.host, port: hop.port }] };
    try {
      const addresses = await this.#resolver.addresses(hop.host, families);
      return { candidates: addresses.map((a) => ({ address: a.address, port: hop.port, name: hop.host })) };
    } catch (error) {
      const temporary = (error as { temporary?: boolean }).temporary !== false;
      const diagnostic = `${hopLabel(hop)}: ${(error as Error).message}`;
      return { outcome: temporary ? deferred("4.4.3", diagnostic) : failed("5.4.4", diagnostic), reached: true };
    }
  }

  #clientOptions(hop: NextHop): Omit<SmtpClientOptions, "host" | "port"> {
    const { heloName, timeouts } = this.#settings;
    const common = { heloName, timeouts };
    switch (hop.kind) {
      case "mx":
        return { ...common, protocol: "smtp", tls: this.#settings.mxTls, verifyCertificate: false };
      case "smtp": {
        const login = hop.credentials === undefined ? undefined : this.#settings.credentials(hop.credentials);
        if (hop.credentials !== undefined && login === undefined) throw new Error(`no credentials named "${hop.credentials}" in delivery.credentials`);
        return {
          ...common,
          protocol: "smtp",
          tls: hop.tls,
          verifyCertificate: hop.verify !== false,
          ...(this.#settings.ca === undefined ? {} : { ca: this.#settings.ca }),
          ...(login === undefined ? {} : { credentials: login }),
        };
      }
      case "lmtp":
        return { ...common, protocol: "lmtp", tls: "none" };
      case "lmtp-socket":
        return { ...common, protocol: "lmtp", tls: "none", path: hop.path };
      default:
        throw new TypeError(`the SMTP transport cannot take ${hopLabel(hop)}`);
    }
  }
}

/**
 * Which login a cached connection carries: the user AND the password (hashed: no cache key holds a secret).
 * Keyed by the user alone, a connection logged in with one password was reused for a route whose credentials
 * name the same user with another password (test/delivery-relay.test.ts, the wrong password).
 */
function loginKey(credentials: { readonly user: string; readonly password: string } | undefined): string {
  return credentials === undefined ? "" : createHash("sha256").update(`${credentials.user}\0${credentials.password}`).digest("base64url");
}

/** "mx.example.com[192.0.2.1]:25", "[2001:db8::1]:25", "unix:/path". */
function describe(candidate: Candidate): string {
  if (candidate.port === 0) return `unix:${candidate.address}`;
  return `${candidate.name ?? ""}[${candidate.address}]:${candidate.port}`;
}

/**
 * Why a server could not be used before the transaction: its 5xx refusal (greeting, EHLO, STARTTLS, AUTH) is
 * permanent, anything else waits. A refusal is the server's reply as it gave it, with the server as the remote (a
 * DSN types it "smtp", as a reply in the transaction), like a transaction's replies.
 */
function connectionFailure(error: unknown, where: string): Outcome {
  if (error instanceof SmtpClientError && error.reply !== undefined) {
    const line = replyText(error.reply);
    return error.temporary ? deferred(error.reply.enhanced ?? "4.4.1", line, where) : failed(error.reply.enhanced ?? "5.4.1", line, where);
  }
  const status = error instanceof SmtpClientError && error.stage === "starttls" ? "4.7.5" : "4.4.1";
  return deferred(status, `${where}: ${(error as Error).message}`, where);
}

/**
 * The whole body if it is small, else undefined (then it is streamed from its file). Any failure to read it
 * leaves it to the file too, so that the error is the one the transaction always met (and said).
 */
async function smallBody({ envelope, readBody }: HopDelivery): Promise<Buffer | undefined> {
  if (readBody === undefined || envelope.size > SMALL_BODY) return undefined;
  const bytes = await readBody(SMALL_BODY + 1).catch(() => undefined);
  return bytes !== undefined && bytes.length <= SMALL_BODY ? bytes : undefined;
}

function outboundTransaction({ envelope, recipients, bodyPath }: HopDelivery, bytes: Buffer | undefined): OutboundTransaction {
  return {
    sender: envelope.sender,
    parameters: senderParameters(envelope),
    recipients: recipients.map((r) => ({ address: r.address, ...(r.notify === undefined ? {} : { notify: r.notify }), ...(r.orcpt === undefined ? {} : { orcpt: r.orcpt }) })),
    message: { path: bodyPath, size: envelope.size, ...(bytes === undefined ? {} : { bytes }) },
  };
}

function senderParameters(envelope: Envelope): OutboundTransaction["parameters"] {
  const { body, smtputf8, ret, envid } = envelope.senderParameters;
  const bodyType = body === "8BITMIME" || body === "BINARYMIME" || body === "7BIT" ? body : undefined;
  return {
    size: envelope.size,
    ...(bodyType === undefined ? {} : { body: bodyType }),
    ...(smtputf8 === true ? { smtputf8 } : {}),
    ...(ret === undefined ? {} : { ret }),
    ...(envid === undefined ? {} : { envid }),
  };
}
