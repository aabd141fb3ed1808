// One mail transaction on an open session: MAIL, RCPT per recipient, then the message by DATA or BDAT, and the
// reply each recipient ends with. With PIPELINING (RFC 2920) MAIL, every RCPT and DATA go in one write and
// their replies are read in order; without it, one command at a time, and nothing after a refused MAIL or
// when no recipient was accepted. LMTP (RFC 2033 §4.2) answers the message once per accepted recipient.
//
// The message is sent only to accepted recipients. When a pipelined DATA got its 354 although no recipient
// was accepted, an empty message (".") ends the data, whose reply is ignored. A transaction that ended before
// its message, or whose BDAT chunk was refused, asks for a RSET before the next one (`reset`); one whose
// message got its final reply, even a refusal, needs none (RFC 5321 §4.1.1.4, §3.3). After a 421 the remote
// is going away: every reply still owed is that 421 (the recipients are deferred) and nothing more is sent.

import { open } from "node:fs/promises";
import type { Reply } from "../smtp/reply.ts";
import { replyText } from "../smtp/reply-reader.ts";
import { type BodySource, sendChunks, sendData } from "./smtp-client-body.ts";
import type { ReplyChannel } from "./smtp-client-channel.ts";
import { type EnvelopePlan, type OutboundTransaction, planEnvelope } from "./smtp-client-envelope.ts";
import { type ClientStage, SmtpClientError } from "./smtp-client-error.ts";

export type TransactionResult = {
  /** The reply to MAIL (a local refusal when the message was not sent: see smtp-client-envelope.ts). */
  mail: Reply;
  /**
   * One per recipient, in order: its RCPT reply if refused, else the reply to the message (SMTP: the one reply
   * after DATA or the last BDAT; LMTP: its own). When MAIL was refused, every recipient has MAIL's reply.
   */
  recipients: Reply[];
};

export type TransactionSettings = {
  readonly protocol: "smtp" | "lmtp";
  readonly extensions: ReadonlyMap<string, string>;
  /** Send RSET first: the previous transaction ended before its message. */
  readonly resetFirst: boolean;
  readonly commandTimeout: number;
  readonly dataTimeout: number;
};

export type TransactionEnd = { readonly result: TransactionResult; readonly reset: boolean };

type Sending = Exclude<EnvelopePlan, { refused: Reply }>;

export async function runTransaction(channel: ReplyChannel, transaction: OutboundTransaction, settings: TransactionSettings): Promise<TransactionEnd> {
  const plan = planEnvelope(transaction, settings.extensions);
  if ("refused" in plan) {
    return { result: { mail: plan.refused, recipients: transaction.recipients.map(() => plan.refused) }, reset: settings.resetFirst };
  }
  const { bytes } = transaction.message;
  if (bytes !== undefined) return exchange(channel, plan, bytes, settings);
  // Opened before the first command: a missing body file fails here and leaves the session as it was.
  const file = await open(transaction.message.path, "r");
  try {
    return await exchange(channel, plan, file, settings);
  } catch (error) {
    if (error instanceof SmtpClientError) throw error;
    // The body file failed while the message was being sent: the remote waits for the rest, which never comes.
    channel.close();
    throw new SmtpClientError("data", `the message could not be sent: ${(error as Error).message}`, { temporary: true });
  } finally {
    await file.close();
  }
}

async function exchange(channel: ReplyChannel, plan: Sending, file: BodySource, settings: TransactionSettings): Promise<TransactionEnd> {
  const { commandTimeout, dataTimeout } = settings;
  const lmtp = settings.protocol === "lmtp";
  const byData = !plan.chunking;
  const pipelined = settings.extensions.has("PIPELINING");
  const ask = (command: string, stage: ClientStage): Promise<Reply> => {
    if (!channel.closing) channel.write(`${command}\r\n`, 1);
    return channel.read(stage, commandTimeout);
  };

  let mail: Reply;
  const rcpt: Reply[] = [];
  let data: Reply | undefined;
  if (pipelined) {
    const commands = [...(settings.resetFirst ? ["RSET"] : []), plan.mail, ...plan.recipients, ...(byData ? ["DATA"] : [])];
    channel.write(commands.map((command) => `${command}\r\n`).join(""), commands.length);
    if (settings.resetFirst) checkReset(await channel.read("mail", commandTimeout));
    mail = await channel.read("mail", commandTimeout);
    while (rcpt.length < plan.recipients.length) rcpt.push(await channel.read("rcpt", commandTimeout));
    if (byData) data = await channel.read("data", commandTimeout);
  } else {
    if (settings.resetFirst) checkReset(await ask("RSET", "mail"));
    mail = await ask(plan.mail, "mail");
    for (const command of plan.recipients) rcpt.push(isPositive(mail) ? await ask(command, "rcpt") : mail);
    if (byData && rcpt.some(isPositive)) data = await ask("DATA", "data");
  }

  if (!isPositive(mail)) {
    if (data?.code === 354) await endEmpty(channel, lmtp, commandTimeout);
    return { result: { mail, recipients: plan.recipients.map(() => mail) }, reset: true };
  }
  const accepted = rcpt.filter(isPositive).length;
  if (accepted === 0) {
    if (data?.code === 354) await endEmpty(channel, lmtp, commandTimeout);
    return { result: { mail, recipients: rcpt }, reset: true };
  }
  if (data !== undefined && data.code !== 354) {
    const refused = data;
    return { result: { mail, recipients: rcpt.map((r) => (isPositive(r) ? refused : r)) }, reset: true };
  }

  const finalReplies = lmtp ? accepted : 1;
  let final: Reply[];
  if (byData) {
    if (!(await sendData(channel, file, finalReplies - 1, commandTimeout))) {
      const early = await channel.read("data", commandTimeout);
      channel.close(`the remote answered before the end of the message: ${replyText(early)}`);
      // A "250" to a message it did not see whole would lose mail: that is a broken remote, not a delivery.
      if (isPositive(early)) throw channel.failure("data");
      return { result: { mail, recipients: rcpt.map((r) => (isPositive(r) ? early : r)) }, reset: false };
    }
    final = [];
    for (let i = 0; i < finalReplies; i++) final.push(await channel.read("data", dataTimeout));
  } else {
    const sent = await sendChunks(channel, file, { finalReplies, pipelined, commandTimeout, dataTimeout });
    if (sent.refused !== undefined) {
      const refused = sent.refused;
      return { result: { mail, recipients: rcpt.map((r) => (isPositive(r) ? refused : r)) }, reset: true };
    }
    final = sent.final;
  }
  let next = 0;
  const recipients = rcpt.map((r) => (isPositive(r) ? (lmtp ? final[next++]! : final[0]!) : r));
  return { result: { mail, recipients }, reset: false };
}

/**
 * Ends the data of a DATA that should not have got its 354 (no recipient accepted) with an empty message.
 * SMTP's one reply is read and ignored; an LMTP server owes one reply per accepted recipient, that is none
 * (or one: servers differ), which nobody can wait for: the connection is closed instead.
 */
async function endEmpty(channel: ReplyChannel, lmtp: boolean, timeout: number): Promise<void> {
  if (lmtp) {
    channel.close("LMTP data ended with no recipient accepted");
    return;
  }
  channel.write(".\r\n", 0); // its reply was counted with the 354
  await channel.read("data", timeout);
}

function checkReset(answer: Reply): void {
  if (!isPositive(answer) && answer.code !== 421) {
    throw new SmtpClientError("mail", `RSET refused: ${replyText(answer)}`, { temporary: true, reply: answer });
  }
}

function isPositive(answer: Reply): boolean {
  return answer.code >= 200 && answer.code < 300;
}
