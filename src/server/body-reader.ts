// The two ways a message body reaches the session: DATA (dot-stuffed, ended by <CRLF>.<CRLF>) and BDAT
// chunks (counted octets, RFC 3030). Each reader feeds the transaction's spool writer as bytes arrive, and
// when its part of the body is complete decides the reply: the chunk's 250, or the message's final answer
// (queued, too big, or refused for bare line endings). Decoding itself is done by smtp/.

import { DataDecoder } from "../smtp/data-decoder.ts";
import { ChunkReader } from "../smtp/bdat.ts";
import type { Reply } from "../smtp/reply.ts";
import { SpoolError } from "../queue/spool.ts";
import { replies } from "../smtp/replies.ts";
import { withText } from "../smtp/reply.ts";
import type { Session } from "./session.ts";
import type { Transaction } from "./transaction.ts";
import { preqStage } from "./preq-stage.ts";

export type BodyStep = {
  readonly done: boolean;
  readonly rest: Buffer | null;
  /** Set when the spool writer asks the session to stop reading until it has written what it holds. */
  readonly backpressure: Promise<void> | null;
};

export interface BodyReader {
  push(chunk: Buffer): BodyStep;
  /** Called once after `done`: replies, and for the last part commits or refuses the message. */
  finish(): Promise<void>;
}

/** Writes body slices while the message stays under the size limit; returns the writer's backpressure. */
function store(transaction: Transaction, slices: readonly Buffer[]): Promise<void> | null {
  let full = false;
  for (const slice of slices) full = !transaction.write(slice) || full;
  return full ? transaction.drained() : null;
}

type Refusal = "too-big" | "bare-line-ending" | "nul" | "mail-loop";

const refusals: { readonly [R in Refusal]: Reply } = {
  "too-big": replies.messageTooBig,
  "bare-line-ending": replies.bareLineEnding,
  nul: replies.nulInData,
  "mail-loop": replies.mailLoop,
};

/**
 * Ends the message: refuses it (removing every trace), or runs the preq rules and then refuses, drops,
 * quarantines or queues it, answering 250 with the queue id once it is durable.
 */
/** `received`: the octets of body that came (DATA) or were announced (BDAT), the limit's ones included. */
export async function finishMessage(session: Session, refusal: Refusal | null, received: number): Promise<void> {
  const transaction = session.transaction!;
  session.transaction = null;
  const fields = { queueId: transaction.queueId, size: transaction.size };
  // RFC 5321 §6.3: a message that has passed through smtp.max_hops servers is going round in circles.
  const refused = refusal ?? (transaction.hops >= session.context.settings.maxHops ? "mail-loop" : null);
  if (refused !== null) {
    await transaction.abort();
    const why =
      refused === "mail-loop"
        ? { hops: transaction.hops }
        : refused === "too-big" // what was kept stops at the limit: the log gives what came, and the limit
          ? { size: received, limit: session.context.settings.maxMessageSize }
          : {};
    session.note("info", { event: "refused", reason: refused, ...fields, ...why }, "message refused");
    session.reply(refusals[refused]);
    return;
  }
  const decision = await preqStage(session, transaction);
  if (decision.action === "refuse") {
    await transaction.abort();
    session.note("info", { event: "refused", reason: "rule", ...fields }, "message refused");
    if (decision.close) session.close(decision.reply);
    else session.refuse(decision.reply);
    return;
  }
  if (decision.action === "quarantine" || decision.action === "discard") transaction.disposition = decision;
  if (transaction.disposition?.action === "discard" || transaction.recipients.length === 0) {
    // Answered like a queued message: the sender learns nothing (a rule chose to drop it, or removed every recipient).
    await transaction.abort();
    session.messages += 1;
    session.note("info", { event: "discarded", ...fields, reason: transaction.recipients.length === 0 ? "no recipients left" : "rule" }, "message discarded");
    session.reply(withText(replies.queued, `queued as ${transaction.queueId}`));
    return;
  }
  const size = transaction.size; // as queued: after the rules' header edits (the writer is gone after commit)
  try {
    await transaction.commit(session);
  } catch (error) {
    await transaction.abort();
    const full = error instanceof SpoolError && error.code === "SPOOL_FULL";
    session.context.logs.module("spool").error({ err: error, queueId: transaction.queueId }, "spool commit failed");
    // The mail log says it too, where the message's other lines are: the system log has the error itself.
    session.note("error", { event: "refused", reason: full ? "spool-full" : "spool-error", ...fields }, "message not queued");
    session.reply(full ? replies.insufficientStorage : replies.localError);
    return;
  }
  session.messages += 1;
  session.note(
    "info",
    {
      event: transaction.disposition?.action === "quarantine" ? "quarantined" : "queued",
      quarantine: transaction.disposition?.action === "quarantine" ? transaction.disposition.name : undefined,
      queueId: transaction.queueId,
      size,
      client: session.clientAddress,
      sender: transaction.sender?.address ?? "",
      recipients: transaction.recipients.map((recipient) => recipient.mailbox.address),
      ms: Date.now() - transaction.startedAt,
    },
    "message queued",
  );
  session.reply(withText(replies.queued, `queued as ${transaction.queueId}`));
}

/**
 * DATA carries 7BIT or 8BITMIME text, where NUL has no place (RFC 5321 §4.1.1.4, RFC 6152); a NUL next to the
 * dot (`<CRLF>NUL.<CRLF>`, `<CRLF>.NUL<CRLF>`) is also a known smuggling trick against a next hop that drops
 * NULs, so a message with one is refused. Binary content goes by BDAT with BODY=BINARYMIME.
 */
export class DataBody implements BodyReader {
  private readonly session: Session;
  private readonly transaction: Transaction;
  private readonly decoder: DataDecoder;
  private nul = false;

  constructor(session: Session, transaction: Transaction) {
    this.session = session;
    this.transaction = transaction;
    this.decoder = new DataDecoder({
      maxSize: session.context.settings.maxMessageSize,
      bareLineEndings: session.context.settings.bareLineEndings,
    });
  }

  push(chunk: Buffer): BodyStep {
    const step = this.decoder.push(chunk);
    for (const slice of step.body) if (!this.nul && slice.indexOf(0) >= 0) this.nul = true;
    return { done: step.done, rest: step.rest, backpressure: store(this.transaction, step.body) };
  }

  finish(): Promise<void> {
    const rejectBare = this.decoder.bareLineEnding && this.session.context.settings.bareLineEndings === "reject";
    const refusal = this.decoder.overflow ? "too-big" : rejectBare ? "bare-line-ending" : this.nul ? "nul" : null;
    return finishMessage(this.session, refusal, this.decoder.size);
  }
}

export class BdatBody implements BodyReader {
  private readonly session: Session;
  private readonly transaction: Transaction;
  private readonly reader: ChunkReader;
  private readonly size: number;
  private readonly last: boolean;

  constructor(session: Session, transaction: Transaction, size: number, last: boolean) {
    this.session = session;
    this.transaction = transaction;
    this.reader = transaction.chunks.chunk(size, last);
    this.size = size;
    this.last = last;
  }

  push(chunk: Buffer): BodyStep {
    const step = this.reader.push(chunk);
    return { done: step.done, rest: step.rest, backpressure: step.body ? store(this.transaction, [step.body]) : null };
  }

  /** A chunk that takes the message over the limit fails the transaction at once (RFC 3030 §4.2). */
  async finish(): Promise<void> {
    const overflow = this.transaction.chunks.overflow;
    if (this.last || overflow) return finishMessage(this.session, overflow ? "too-big" : null, this.transaction.chunks.size);
    this.session.reply(withText(replies.chunkReceived, `${this.size} octets received`));
  }
}

/** The octets of a refused BDAT: read to their end so the session stays in step (RFC 3030 §2), then refused. */
export class RefusedChunk implements BodyReader {
  private readonly session: Session;
  private readonly reader: ChunkReader;
  private readonly refusal: Reply;

  constructor(session: Session, size: number, refusal: Reply) {
    this.session = session;
    this.reader = new ChunkReader(size, { discard: true });
    this.refusal = refusal;
  }

  push(chunk: Buffer): BodyStep {
    const step = this.reader.push(chunk);
    return { done: step.done, rest: step.rest, backpressure: null };
  }

  async finish(): Promise<void> {
    this.session.refuse(this.refusal);
  }
}
