// The DSNs a delivery run owes (RFC 3461/3464): a failure report for recipients that failed, with success
// notices for those delivered under NOTIFY=SUCCESS (or "relayed" to a server that took no DSN duty); a delay
// warning for recipients still waiting after delivery.delay_warning. Each report is queued as a new message from
// the null sender to the original sender (incoming/, delivered like any other mail). Mail from the null sender
// gets no report: that is how bounce loops are avoided.

import { isIPv6 } from "node:net";
import type { Envelope, SpoolRecipient } from "../queue/envelope.ts";
import type { Spool } from "../queue/spool.ts";
import { composeDsn, type DsnAction, type DsnRecipient, dsnDue, returnsFullMessage } from "./dsn.ts";

export type ReportSettings = {
  readonly reportingMta: string;
  readonly returnLimit: number;
  readonly nextId: () => string;
};

/** What a recipient's final outcome reports as: delivered locally or to a DSN-less server ("relayed"), or failed. */
export type FinalAction = "failed" | "delivered" | "relayed";

/**
 * Queues the report for recipients that reached a final outcome (each with the action to report) and returns
 * the queue id of the report, or null when none was due (null sender, NOTIFY). The caller marks them reported.
 */
export async function reportFinal(spool: Spool, settings: ReportSettings, envelope: Envelope, finals: ReadonlyMap<SpoolRecipient, FinalAction>, now: Date): Promise<string | null> {
  // Success notices ride along with the failures of the same run in one report.
  const due = [...finals].filter(([recipient, action]) => dsnDue(recipient.notify, action));
  if (due.length === 0) return null;
  return queueReport(spool, settings, envelope, due.map(([recipient, action]) => dsnRecipient(recipient, action)), now);
}

/** Queues a delay warning for the recipients still pending that asked for one (or did not say); null if none. */
export async function reportDelay(spool: Spool, settings: ReportSettings, envelope: Envelope, retryUntil: Date, now: Date): Promise<string | null> {
  const waiting = envelope.recipients.filter((recipient) => recipient.status === "pending" && dsnDue(recipient.notify, "delayed"));
  if (waiting.length === 0) return null;
  return queueReport(spool, settings, envelope, waiting.map((recipient) => ({ ...dsnRecipient(recipient, "delayed"), willRetryUntil: retryUntil })), now);
}

function dsnRecipient(recipient: SpoolRecipient, action: DsnAction): DsnRecipient {
  const last = recipient.last;
  return {
    address: recipient.address,
    ...(recipient.orcpt === undefined ? {} : { orcpt: recipient.orcpt }),
    action,
    status: last?.status ?? (action === "failed" ? "5.0.0" : action === "delayed" ? "4.0.0" : "2.0.0"),
    ...(last === undefined ? {} : { diagnostic: last.diagnostic, lastAttemptAt: new Date(last.at) }),
    ...(remoteHost(last?.remote) === undefined ? {} : { remote: remoteHost(last?.remote) }),
  };
}

/**
 * What Remote-MTA names for an SMTP or LMTP remote: its host name ("mx.example.com[192.0.2.1]:25" →
 * "mx.example.com"), or, for a remote reached by its address, that address as an RFC 5321 address literal
 * ("[192.0.2.1]:25" → "[192.0.2.1]", "[2001:db8::1]:25" → "[IPv6:2001:db8::1]"); none for mailboxes and sockets.
 */
function remoteHost(remote: string | undefined): string | undefined {
  const bracket = remote?.indexOf("[") ?? -1;
  if (remote === undefined || bracket < 0) return undefined;
  if (bracket > 0) return remote.slice(0, bracket);
  const address = remote.slice(1, remote.indexOf("]"));
  return isIPv6(address) ? `[IPv6:${address}]` : `[${address}]`;
}

async function queueReport(spool: Spool, settings: ReportSettings, envelope: Envelope, recipients: DsnRecipient[], now: Date): Promise<string | null> {
  if (envelope.sender === "") return null;
  const { ret, envid, smtputf8 } = envelope.senderParameters;
  // Only a failure report returns the whole message (RFC 3461 §4.3); the others carry its header section.
  const whole = recipients.some((recipient) => recipient.action === "failed") && returnsFullMessage(ret, envelope.size, settings.returnLimit);
  const original = await readOriginal(spool, envelope, whole);
  const dsn = composeDsn({
    reportingMta: settings.reportingMta,
    queueId: envelope.id,
    sender: envelope.sender,
    ...(envid === undefined ? {} : { envid }),
    ...(ret === undefined ? {} : { ret }),
    arrivalDate: new Date(envelope.receivedAt),
    receivedFrom: { helo: envelope.client.helo, address: envelope.client.address, ...(envelope.client.name === undefined ? {} : { name: envelope.client.name }) },
    recipients,
    original,
    now,
    ...(smtputf8 === true ? { smtputf8 } : {}),
  });
  const id = settings.nextId();
  const writer = spool.create(id);
  writer.write(dsn.message);
  await writer.commit({
    id,
    receivedAt: now.toISOString(),
    sender: "",
    senderParameters: dsn.senderParameters,
    recipients: [{ address: dsn.recipient, status: "pending" }],
    client: { address: "127.0.0.1", port: 0, helo: settings.reportingMta, protocol: "DSN" },
    listener: "delivery",
  });
  return id;
}

/** The original's header section, and the whole message when it is to be returned. */
async function readOriginal(spool: Spool, envelope: Envelope, whole: boolean): Promise<{ headers: Buffer; message?: Buffer }> {
  const content = await spool.readBody(envelope.id, whole ? envelope.size : 256 * 1024);
  const end = content.indexOf("\r\n\r\n");
  // No end of the header section in reach (a message that is all headers, or absurd ones): what there is of them.
  const headers = end >= 0 ? content.subarray(0, end + 2) : whole ? content : content.subarray(0, content.lastIndexOf("\r\n") + 2);
  return whole ? { headers, message: content } : { headers };
}
