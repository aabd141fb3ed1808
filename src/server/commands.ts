// The command table: what the server does for each SMTP verb once smtp/ has parsed the line and the
// sequence rules allow it. One typed entry per verb (STYLE §3); a handler replies through the session and
// returns a promise only when the session must wait (the spool) before reading the next command.

import type { Command } from "../smtp/command.ts";
import { checkSequence } from "../smtp/sequence.ts";
import { replies } from "../smtp/replies.ts";
import type { Reply } from "../smtp/reply.ts";
import { saslMechanisms } from "../accounts/sasl.ts";
import { ownsSender } from "../accounts/sender-logins.ts";
import type { Session } from "./session.ts";
import { type Recipient, Transaction } from "./transaction.ts";
import { refused, withRules } from "./rule-stages.ts";
import type { Decision } from "./rule-verdicts.ts";
import { MailStageContext, RcptStageContext, StageContext, mailboxOf } from "../rules/contexts.ts";
import { expandAliases, isKnownLocal } from "../rules/local-recipients.ts";
import { BdatBody, DataBody, RefusedChunk } from "./body-reader.ts";

type Verb = Command["verb"];

const NO_EXTENSIONS: ReadonlySet<string> = new Set();
type Handler<V extends Verb> = (session: Session, command: Extract<Command, { verb: V }>) => Promise<void> | undefined;

/** A verb whose whole handling is one fixed reply. */
function answer(fixed: Reply): (session: Session) => undefined {
  return (session) => {
    session.reply(fixed);
    return undefined;
  };
}

/** HELO and EHLO reset any transaction (RFC 5321 §4.1.4) and record the client's name for itself. */
function greet(session: Session, kind: "helo" | "ehlo", domain: string, answer: Reply, keywords: ReadonlySet<string>): Promise<void> | undefined {
  void session.transaction?.abort();
  session.transaction = null;
  session.greeting = kind;
  session.helo = domain;
  session.note("info", { event: kind, helo: domain }, kind);
  return withRules(
    session,
    "helo",
    (setup) => Object.assign(new StageContext("helo", setup), { helo: domain }),
    (decision) => {
      if (refused(session, decision)) {
        session.greeting = "none"; // the client must greet again
        session.helo = "";
        return;
      }
      session.extensions = keywords;
      session.reply(answer);
    },
  );
}

/**
 * The built-in recipient policy, after the rules (unless one accepted): no relay without AUTH or a trusted
 * network; at a local domain, only aliases and mailboxes that exist; at most so many recipients per domain.
 */
function recipientPolicy(session: Session, transaction: Transaction, pending: Recipient): Reply | null {
  const settings = session.context.settings;
  const { domain, address } = pending.mailbox;
  if (domain === "") return null; // <Postmaster> (RFC 5321 §4.5.1)
  if (!settings.localDomains.has(domain)) {
    const mayRelay = session.user !== null || settings.relayNetworks.has(session.clientAddress);
    if (!mayRelay) return replies.relayDenied;
  } else if (!isKnownLocal(session.context.localRecipients, address, settings.localDomains)) {
    return replies.unknownRecipient;
  }
  const perDomain = settings.maxRecipientsPerDomain;
  if (perDomain > 0 && transaction.recipients.filter((recipient) => recipient.mailbox.domain === domain).length >= perDomain) {
    return replies.tooManyForDomain;
  }
  return null;
}

/** The recipients an accepted RCPT adds: itself, or what its alias expands to (each remembering it as ORCPT). */
function expanded(session: Session, pending: Recipient): Recipient[] {
  const { aliases } = session.context.localRecipients;
  if (aliases.size === 0) return [pending];
  const targets = expandAliases(aliases, pending.mailbox.address, session.context.settings.localDomains);
  if (targets.length === 1 && targets[0] === pending.mailbox.address) return [pending];
  const orcpt = pending.parameters.orcpt ?? { type: "rfc822", address: pending.mailbox.address };
  const recipients: Recipient[] = [];
  for (const target of targets) {
    try {
      recipients.push({ mailbox: mailboxOf(target, "recipient"), parameters: { ...pending.parameters, orcpt }, route: pending.route });
    } catch (error) {
      session.note("error", { event: "alias-target-unusable", alias: pending.mailbox.address, target, error: String(error) }, "alias target skipped");
    }
  }
  return recipients.length > 0 ? recipients : [pending];
}

/** What a message-wide verdict at MAIL or RCPT means for the transaction: applied when the message ends. */
function dispose(transaction: Transaction, decision: Decision): void {
  if (decision.action === "quarantine" || decision.action === "discard") transaction.disposition = decision;
}

/** Whether the decision leaves the stage's built-in policy to apply. */
function policyApplies(decision: Decision): boolean {
  return decision.action === "continue" && decision.policy;
}

const table: { readonly [V in Verb]: Handler<V> } = {
  HELO(session, command) {
    return greet(session, "helo", command.domain, session.context.settings.helo, NO_EXTENSIONS);
  },

  EHLO(session, command) {
    const answer = session.tls === null ? session.context.settings.ehlo.plain : session.context.settings.ehlo.secure;
    return greet(session, "ehlo", command.domain, answer.reply, answer.keywords);
  },

  MAIL(session, command) {
    const settings = session.context.settings;
    if (settings.submission && session.user === null) {
      session.note("info", { event: "sender-refused", sender: command.sender?.address ?? "", reason: replies.authRequired.lines[0] }, "sender refused");
      session.refuse(replies.authRequired); // RFC 6409 §4.3 on submission listeners
      return undefined;
    }
    if (!session.context.limits.admitMessage(session.clientAddress)) {
      session.note("info", { event: "message-rate" }, "too many messages from this client");
      session.reply(replies.tooManyMessages);
      return undefined;
    }
    const declared = command.params.size;
    if (declared !== undefined && declared > settings.maxMessageSize) {
      const fields = { sender: command.sender?.address ?? "", size: declared, limit: settings.maxMessageSize };
      session.note("info", { event: "sender-refused", ...fields, reason: replies.messageTooBig.lines[0] }, "sender refused");
      session.reply(replies.messageTooBig);
      return undefined;
    }
    const transaction = new Transaction(command.sender, command.params, settings.maxMessageSize);
    session.transaction = transaction; // rules see it (and a faccept marks it)
    return withRules(
      session,
      "mail",
      (setup) => new MailStageContext("mail", { ...setup, envelope: transaction, mail: transaction.mailInfo }),
      (decision) => {
        if (refused(session, decision)) {
          session.transaction = null;
          return;
        }
        dispose(transaction, decision);
        const sender = transaction.sender;
        const { user } = session;
        if (policyApplies(decision) && user !== null && sender !== null && !ownsSender(session.context.accounts.senderLogins, user, sender, settings.localDomains)) {
          session.note("info", { event: "sender-refused", sender: sender.address, user, reason: replies.senderNotOwned.lines[0] }, "sender not owned");
          session.transaction = null;
          session.refuse(replies.senderNotOwned);
          return;
        }
        session.reply(replies.senderOk);
      },
    );
  },

  RCPT(session, command) {
    const transaction = session.transaction!;
    const settings = session.context.settings;
    if (transaction.recipients.length >= settings.maxRecipients) {
      const reason = replies.tooManyRecipients.lines[0];
      session.note("info", { event: "rcpt-refused", recipient: command.recipient.address, reason, limit: settings.maxRecipients }, "recipient refused");
      session.reply(replies.tooManyRecipients);
      return undefined;
    }
    const pending: Recipient = { mailbox: command.recipient, parameters: command.params, route: null };
    return withRules(
      session,
      "rcpt",
      (setup) => new RcptStageContext({ ...setup, envelope: transaction, mail: transaction.mailInfo }, pending),
      (decision) => {
        if (refused(session, decision)) return;
        dispose(transaction, decision);
        if (policyApplies(decision)) {
          const refusal = recipientPolicy(session, transaction, pending);
          if (refusal !== null) {
            session.note("info", { event: "rcpt-refused", recipient: pending.mailbox.address, reason: refusal.lines[0] }, "recipient refused");
            if (refusal.code >= 500) session.refuse(refusal);
            else session.reply(refusal);
            return;
          }
        }
        transaction.recipients.push(...expanded(session, pending));
        session.reply(replies.recipientOk);
      },
    );
  },

  async DATA(session) {
    const transaction = session.transaction!;
    await transaction.startBody(session);
    session.reply(replies.startData);
    session.beginBody(new DataBody(session, transaction));
  },

  async BDAT(session, command) {
    const transaction = session.transaction!;
    if (!transaction.bodyStarted) await transaction.startBody(session);
    session.beginBody(new BdatBody(session, transaction, command.size, command.last));
  },

  RSET(session) {
    void session.transaction?.abort();
    session.transaction = null;
    session.reply(replies.ok);
    return undefined;
  },

  NOOP: answer(replies.ok),

  QUIT(session) {
    session.quit();
    return undefined;
  },

  VRFY: answer(replies.cannotVerify),

  EXPN: answer(replies.notImplemented),

  HELP: answer(replies.help),

  STARTTLS(session) {
    if (!session.context.settings.startTls) {
      refuseCommand(session, "STARTTLS", replies.notImplemented);
      return undefined;
    }
    return session.startTls();
  },

  AUTH(session, command) {
    const settings = session.context.settings;
    const verb = `AUTH ${command.mechanism.slice(0, 32)}`; // never the initial response: credentials
    if (!settings.submission) {
      refuseCommand(session, verb, replies.notImplemented); // not offered on mta listeners
      return undefined;
    }
    if (session.tls === null && !settings.plaintextAuth) {
      refuseCommand(session, verb, replies.tlsRequired);
      return undefined;
    }
    const mechanism = saslMechanisms.find((known) => known === command.mechanism.toUpperCase());
    if (mechanism === undefined) {
      refuseCommand(session, verb, replies.authMechanismUnknown);
      return undefined;
    }
    return session.authenticate(mechanism, command.initialResponse);
  },

  UNKNOWN(session, command) {
    session.note("info", { event: "unknown-command", command: command.text.slice(0, 64) }, "unknown command");
    session.refuse(replies.unknownCommand);
    return undefined;
  },
};

/** The mail-log line of a refused command, which `command` names (never an AUTH line's rest: credentials). */
export function noteRefusedCommand(session: Session, command: string, reply: Reply): void {
  session.note("info", { event: "command-refused", command, reason: reply.lines[0] }, "command refused");
}

function refuseCommand(session: Session, command: string, reply: Reply): void {
  noteRefusedCommand(session, command, reply);
  session.refuse(reply);
}

/** Runs one parsed command: the sequence rules first, then the verb's handler. */
export function runCommand(session: Session, command: Command): Promise<void> | undefined {
  const transaction = session.transaction;
  const refusal = checkSequence(
    {
      greeted: session.greeting,
      inMail: transaction !== null,
      recipients: transaction?.recipients.length ?? 0,
      bdatInProgress: transaction?.bodyStarted ?? false,
      body: transaction?.parameters.body,
      tls: session.tls !== null,
      authenticated: session.user !== null,
    },
    command.verb,
  );
  if (refusal) {
    if (command.verb !== "BDAT") refuseCommand(session, command.verb, refusal);
    else {
      noteRefusedCommand(session, "BDAT", refusal);
      session.beginBody(new RefusedChunk(session, command.size, refusal));
    }
    return undefined;
  }
  const handler = table[command.verb] as Handler<Verb>;
  return handler(session, command as never);
}
