// The rule stages after the queue, run by the delivery process: postq (once per message, at its first delivery
// run) and delivery (before each attempt of each recipient). Their ctx is the one preq has (rules/message-context.ts)
// built from the spooled message instead of a session: the connection as the envelope recorded it (no TLS or
// user: the spool does not keep them), the message read from its body file, which is immutable once queued:
// header edits fail the stage closed (edit headers at preq). What the verdicts mean (the table in docs/rules.md):
//   postq:    next/accept → deliver; faccept → deliver, no delivery rule runs for the message; deny/reject → every
//             pending recipient fails (DSN); tempfail → they wait, postq runs again next time; quarantine; discard.
//   delivery: next/accept/faccept → deliver this recipient; deny/reject → it fails; tempfail → it waits;
//             discard → counted as delivered, no copy; quarantine → the whole message.
// A rule that fails (throws, times out, delegates) makes the mail wait (4.3.0), never passes it.

import type { Logger } from "pino";
import type { Config } from "../config/schema.ts";
import type { PostqDecision, QueueRules, RecipientDecision } from "../delivery/queue-rules.ts";
import { HeaderFields } from "../message/header-fields.ts";
import { headerSectionEnd } from "../message/submission-headers.ts";
import type { Envelope, SpoolRecipient } from "../queue/envelope.ts";
import type { Spool } from "../queue/spool.ts";
import type { Connection } from "../rules/api.ts";
import { type EnvelopeRecipient, type EnvelopeState, mailboxOf } from "../rules/contexts.ts";
import { type HeaderSection, type MessageSource, MessageStageContext } from "../rules/message-context.ts";
import { networks } from "../rules/objects/networks.ts";
import type { RuleBook } from "../rules/rule-files.ts";
import { runStage, type StageOutcome } from "../rules/run-stage.ts";
import { replyText } from "../smtp/reply-reader.ts";
import { verdictReply } from "./rule-verdicts.ts";

/** Header sections longer than this are read as far as this (as at preq). */
const HEADER_LIMIT = 256 * 1024;

type Refusal = { readonly action: "fail" | "defer"; readonly status: string; readonly diagnostic: string };

export class QueueRuleStages implements QueueRules {
  readonly #book: RuleBook;
  readonly #spool: Spool;
  readonly #config: Config;
  readonly #log: Logger;
  readonly #localDomains: ReadonlySet<string>;
  readonly #relayNetworks: ReturnType<typeof networks>;

  constructor(book: RuleBook, spool: Spool, config: Config, log: Logger) {
    this.#book = book;
    this.#spool = spool;
    this.#config = config;
    this.#log = log;
    this.#localDomains = new Set(config.smtp.local_domains);
    this.#relayNetworks = networks(config.smtp.relay_networks);
  }

  get hasPostq(): boolean {
    return this.#book.postq.length > 0;
  }

  get hasDelivery(): boolean {
    return this.#book.delivery.length > 0;
  }

  async postq(envelope: Envelope): Promise<PostqDecision> {
    const state = envelopeState(envelope);
    const { ctx, section } = await this.#context("postq", envelope, state);
    const decided = this.#decide("postq", envelope, await runStage(this.#book.postq, ctx, this.#config.rules.timeout), section);
    if (decided.action === "deliver" || decided.action === "discard" || decided.action === "quarantine") applyEnvelope(envelope, state);
    if (decided.action === "deliver") return { action: "deliver", skipDeliveryRules: decided.faccept };
    return decided;
  }

  async beforeDelivery(envelope: Envelope, recipient: SpoolRecipient): Promise<RecipientDecision> {
    const state = envelopeState(envelope);
    const current = state.recipients.find((entry) => entry.source === recipient);
    if (current === undefined) return { action: "deliver" };
    // The envelope is fixed by now: a rule may change this recipient's route, nothing else of the envelope (a
    // change throws in the rule, which fails closed).
    Object.freeze(state.recipients);
    Object.freeze(state);
    const { ctx, section } = await this.#context("delivery", envelope, state, current);
    const decided = this.#decide("delivery", envelope, await runStage(this.#book.delivery, ctx, this.#config.rules.timeout), section, recipient.address);
    if (decided.action === "deliver") {
      if (current.route === null) delete recipient.route;
      else recipient.route = current.route;
      return { action: "deliver" };
    }
    return decided;
  }

  async #context(stage: "postq" | "delivery", envelope: Envelope, state: QueuedEnvelope, current?: QueuedRecipient) {
    const source = spooledMessage(this.#spool, envelope);
    const section = await headerSection(source);
    const listener = this.#config.listener.find((entry) => entry.name === envelope.listener);
    const connection: Connection = {
      id: envelope.id,
      client: { address: envelope.client.address, port: envelope.client.port, name: envelope.client.name ?? null },
      server: { address: listener?.address ?? "", port: listener?.port ?? 0 },
      listener: { name: envelope.listener, role: listener?.role ?? "mta" },
      tls: null,
      helo: envelope.client.helo,
      user: null,
    };
    const setup = {
      connection,
      log: this.#log,
      config: this.#config,
      timeout: this.#config.rules.timeout,
      localDomains: this.#localDomains,
      inRelayNetworks: (address: string) => this.#relayNetworks.has(address),
      envelope: state,
      mail: { size: envelope.size, body: envelope.senderParameters.body, smtputf8: envelope.senderParameters.smtputf8 === true },
    };
    const ctx = new MessageStageContext(stage, setup, source, section, current);
    return { ctx, section };
  }

  /** What the outcome means at this stage, logged like the session logs its stages. */
  #decide(
    stage: "postq" | "delivery",
    envelope: Envelope,
    outcome: StageOutcome,
    section: HeaderSection,
    recipient?: string,
  ): { action: "deliver"; faccept: boolean } | Refusal | { action: "discard" } | { action: "quarantine"; name: string } {
    const where = { queueId: envelope.id, stage, ...(recipient === undefined ? {} : { recipient }) };
    const failedClosed = (rule: string, file: string, error: string): Refusal => {
      this.#log.error({ event: "rule-failed", ...where, rule, file, error }, "rule failed: failing closed");
      return { action: "defer", status: "4.3.0", diagnostic: `rule ${rule} failed: ${error}` };
    };
    if (outcome.kind === "failed") return failedClosed(outcome.rule.name, outcome.rule.file, outcome.error);
    if (section.fields.changed) {
      const rule = outcome.kind === "verdict" ? outcome.rule : { name: "(header edits)", file: "" };
      return failedClosed(rule.name, rule.file, `the message's headers cannot be edited after it was queued (edit them at preq)`);
    }
    if (outcome.kind === "next") return { action: "deliver", faccept: false };
    const { verdict, rule } = outcome;
    this.#log.info({ event: "rule-verdict", ...where, rule: rule.name, file: rule.file, verdict: verdict.kind, name: verdict.name }, "rule verdict");
    switch (verdict.kind) {
      case "accept":
        return { action: "deliver", faccept: false };
      case "faccept":
        return { action: "deliver", faccept: true };
      case "deny":
      case "reject":
      case "tempfail": {
        const reply = verdictReply(verdict, stage);
        return { action: verdict.kind === "tempfail" ? "defer" : "fail", status: reply.enhanced ?? `${String(reply.code)[0]}.7.1`, diagnostic: replyText(reply) };
      }
      case "quarantine":
        return { action: "quarantine", name: verdict.name! };
      case "discard":
        return { action: "discard" };
      case "delegate":
        return failedClosed(rule.name, rule.file, `delegate(${verdict.name}): no such service (services are not available yet)`);
    }
  }
}

/** A rules-side recipient that remembers the spool recipient it came from (none: a rule added it). */
type QueuedRecipient = EnvelopeRecipient & { readonly source?: SpoolRecipient };

/** The envelope as the rules change it: the sender and the pending recipients. */
type QueuedEnvelope = { sender: EnvelopeState["sender"]; readonly recipients: QueuedRecipient[] };

function envelopeState(envelope: Envelope): QueuedEnvelope {
  return {
    sender: envelope.sender === "" ? null : mailboxOf(envelope.sender, "sender"),
    recipients: envelope.recipients
      .filter((recipient) => recipient.status === "pending")
      .map((recipient) => ({
        mailbox: mailboxOf(recipient.address, "recipient"),
        parameters: { ...(recipient.notify === undefined ? {} : { notify: recipient.notify }), ...(recipient.orcpt === undefined ? {} : { orcpt: recipient.orcpt }) },
        route: recipient.route ?? null,
        source: recipient,
      })),
  };
}

/** Writes what the postq rules changed back into the envelope: the sender, the pending recipients, their routes. */
function applyEnvelope(envelope: Envelope, state: QueuedEnvelope): void {
  envelope.sender = state.sender?.address ?? "";
  const settled = envelope.recipients.filter((recipient) => recipient.status !== "pending");
  const pending = state.recipients.map((entry): SpoolRecipient => {
    const { notify, orcpt } = entry.parameters;
    const kept = entry.source !== undefined && entry.source.address === entry.mailbox.address ? entry.source : undefined;
    return {
      ...(kept ?? {}),
      address: entry.mailbox.address,
      ...(notify === undefined ? {} : { notify }),
      ...(orcpt === undefined ? {} : { orcpt }),
      ...(entry.route === null ? {} : { route: entry.route }),
      status: "pending",
    };
  });
  envelope.recipients = [...settled, ...pending];
}

/** The spooled message as a MessageSource: its first bytes read from the body file on demand. */
function spooledMessage(spool: Spool, envelope: Envelope): MessageSource {
  let cached: Buffer = Buffer.alloc(0);
  return {
    queueId: envelope.id,
    size: envelope.size,
    async readHead(limit: number): Promise<Buffer> {
      if (cached.length < Math.min(limit, envelope.size)) cached = await spool.readBody(envelope.id, limit);
      return cached.subarray(0, limit);
    },
  };
}

/** The client's header section: after Petrel's own Received field (the body file's first), up to the empty line. */
async function headerSection(source: MessageSource): Promise<HeaderSection> {
  const head = await source.readHead(HEADER_LIMIT);
  let start = head.indexOf("\r\n");
  while (start >= 0 && (head[start + 2] === 0x20 || head[start + 2] === 0x09)) start = head.indexOf("\r\n", start + 2);
  start = start < 0 ? 0 : start + 2;
  const end = headerSectionEnd(head.subarray(start));
  const length = end >= 2 ? end - 2 : head.length - start;
  return { fields: new HeaderFields(head.subarray(start, start + length)), start, length };
}
