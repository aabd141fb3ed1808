// One mail transaction (MAIL … RCPT … DATA/BDAT): the envelope as the client states it, and the spool writer
// that takes the body once it starts. It prepends the Received header, commits the message to the spool
// (durable before the caller replies 250) or removes every trace of it. It decides no policy.

import type { Mailbox } from "../smtp/address.ts";
import type { MailParameters } from "../smtp/parameters.ts";
import type { EnvelopeRecipient, EnvelopeState } from "../rules/contexts.ts";
import type { MessageWriter, SpoolRecipient } from "../queue/spool.ts";
import { formatReceived } from "../message/received.ts";
import { ReceivedCount } from "../message/received-count.ts";
import { ChunkedBody } from "../smtp/bdat.ts";
import { headerSectionEnd, missingSubmissionHeaders } from "../message/submission-headers.ts";

/** A header section longer than this is passed on as it is, without the submission fields. */
const HEADER_HOLD_LIMIT = 64 * 1024;
import type { Session } from "./session.ts";

export type Recipient = EnvelopeRecipient;

export class Transaction implements EnvelopeState {
  /** The envelope: as MAIL and RCPT gave it, then as rules changed it. */
  sender: Mailbox | null;
  readonly parameters: MailParameters;
  readonly recipients: Recipient[] = [];
  /** A faccept: no rule runs again in this transaction. */
  rulesOff = false;
  /** What rules decided for the message as a whole: keep it in a quarantine, or keep nothing. */
  disposition: { readonly action: "quarantine"; readonly name: string } | { readonly action: "discard" } | null = null;
  readonly startedAt = Date.now();
  /** The BDAT chunks announced so far (CHUNKING), counted against the size limit. */
  readonly chunks: ChunkedBody;
  /** Set when the body starts (first DATA/BDAT): the queue id and the spool writer. */
  queueId: string | null = null;
  /** Bytes of Petrel's own Received header, first in the message (rules' header edits start after it). */
  receivedLength = 0;
  private writer: MessageWriter | null = null;
  /** Submission: the body's first bytes, held until the header section is complete (see release()). */
  private held: Buffer[] | null = null;
  /** The Received fields of the message as it arrives, for the loop check. */
  private readonly received = new ReceivedCount();
  private hostname = "";

  constructor(sender: Mailbox | null, parameters: MailParameters, maxSize: number) {
    this.sender = sender;
    this.parameters = parameters;
    this.chunks = new ChunkedBody({ maxSize });
  }

  /** The MAIL parameters rules see. */
  get mailInfo(): { readonly size?: number; readonly body?: string; readonly smtputf8: boolean } {
    const { size, body } = this.parameters;
    return { size, body, smtputf8: this.smtputf8 };
  }

  get smtputf8(): boolean {
    return this.parameters.smtputf8 === true;
  }

  get bodyStarted(): boolean {
    return this.writer !== null;
  }

  /** The protocol keyword of the Received header (RFC 3848, RFC 6531 §3.7.3): S for TLS, A for AUTH. */
  protocol(session: Session): string {
    const suffix = (session.tls === null ? "" : "S") + (session.user === null ? "" : "A");
    if (this.smtputf8) return `UTF8SMTP${suffix}`;
    return session.greeting === "ehlo" ? `ESMTP${suffix}` : `SMTP${suffix}`;
  }

  /** Opens the spool file and writes the Received header; returns the writer's first backpressure signal. */
  async startBody(session: Session): Promise<void> {
    const queueId = session.context.nextQueueId();
    this.queueId = queueId;
    this.writer = session.context.spool.create(queueId);
    const received = formatReceived({
      helo: session.helo,
      clientAddress: session.clientAddress,
      clientName: await session.clientName,
      hostname: session.hostname,
      protocol: this.protocol(session),
      tls: session.tls,
      queueId,
      recipient: this.recipients.length === 1 ? this.recipients[0]!.mailbox.address : null,
      date: new Date(),
    });
    this.writer.write(received);
    this.receivedLength = received.length;
    if (session.context.settings.submission) {
      this.held = [];
      this.hostname = session.hostname;
    }
  }

  /** Writes the held header section, with the Date and Message-ID it lacks in front of it. */
  private release(): boolean {
    const held = Buffer.concat(this.held!);
    this.held = null;
    const end = headerSectionEnd(held);
    // A header section still unfinished past the limit goes on untouched.
    if (end >= 0 || held.length <= HEADER_HOLD_LIMIT) {
      const headers = held.subarray(0, end < 0 ? held.length : end);
      this.writer!.write(missingSubmissionHeaders(headers, this.hostname, this.queueId!, new Date()));
    }
    return this.writer!.write(held);
  }

  /** How many Received fields the client's header section has (Petrel's own not included). */
  get hops(): number {
    return this.received.count;
  }

  /** Appends body bytes; false means the writer holds too much: wait for drained(). */
  write(chunk: Buffer): boolean {
    this.received.feed(chunk);
    if (this.held === null) return this.writer!.write(chunk);
    this.held.push(chunk);
    const sofar = this.held.length === 1 ? chunk : Buffer.concat(this.held);
    if (headerSectionEnd(sofar) >= 0 || sofar.length > HEADER_HOLD_LIMIT) return this.release();
    return true;
  }

  drained(): Promise<void> {
    return this.writer!.drained();
  }

  get size(): number {
    return this.writer?.size ?? 0;
  }

  /** The first `limit` bytes of the message as it will be queued (Received header first). */
  readHead(limit: number): Promise<Buffer> {
    if (this.held !== null) this.release(); // the whole message is in: the held header section goes in first
    return this.writer!.readHead(limit);
  }

  /** Replaces the first `length` bytes of the message (the header section rules edited). */
  replaceHead(length: number, replacement: Buffer): Promise<void> {
    return this.writer!.replaceHead(length, replacement);
  }

  /** Makes the message durable in the spool; resolves only once it is safe to answer 250. */
  async commit(session: Session): Promise<void> {
    if (this.held !== null) this.release(); // a message that is all header section
    const writer = this.writer!;
    const parameters = this.parameters;
    await writer.commit({
      id: this.queueId!,
      receivedAt: new Date(this.startedAt).toISOString(),
      sender: this.sender?.address ?? "",
      senderParameters: {
        body: parameters.body,
        smtputf8: parameters.smtputf8,
        ret: parameters.ret,
        envid: parameters.envid,
        size: parameters.size,
        auth: parameters.auth,
      },
      recipients: this.recipients.map(spoolRecipient),
      client: {
        address: session.clientAddress,
        port: session.clientPort,
        name: (await session.clientName) ?? undefined,
        helo: session.helo,
        protocol: this.protocol(session),
      },
      listener: session.context.listener.name,
      ...(this.disposition?.action === "quarantine" ? { quarantine: this.disposition.name } : {}),
    });
    this.writer = null;
  }

  /** Forgets the message: nothing of it stays in the spool. */
  async abort(): Promise<void> {
    const writer = this.writer;
    this.writer = null;
    if (writer) await writer.abort();
  }
}

function spoolRecipient(recipient: Recipient): SpoolRecipient {
  const { notify, orcpt } = recipient.parameters;
  const route = recipient.route ?? undefined;
  return { address: recipient.mailbox.address, notify, orcpt, route, status: "pending" };
}
