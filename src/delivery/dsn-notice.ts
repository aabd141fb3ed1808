// The human-readable first part of a delivery status notification (RFC 3464 §2.1, RFC 6522 §3): a few
// sentences in plain words saying what happened to the message, then each recipient grouped by outcome
// with the reply that explains it. The words are Petrel's own. Text from outside (replies, addresses) is
// put on one line with oneLine() and wrapped, so every line stays well within 998 octets.

import { formatDate } from "../message/received.ts";
import type { DsnAction, DsnRecipient, DsnRequest } from "./dsn.ts";
import { foldLine, isSmtpReply, oneLine } from "./dsn-fields.ts";

export type DsnKind = "failure" | "delay" | "success";

/** What went into the third part: the whole original, its header section, or nothing. */
export type ReturnedContent = "message" | "headers" | "none";

const width = 76;

const headings: Record<DsnAction, string> = {
  failed: "Not delivered, and no further attempts will be made:",
  delayed: "Not delivered yet, still being tried:",
  delivered: "Delivered:",
  relayed: "Passed on to a mail system that sends no delivery notices of its own:",
  expanded: "Delivered to an alias or mailing list, which passed it on to its members:",
};

const order: readonly DsnAction[] = ["failed", "delayed", "delivered", "relayed", "expanded"];

/** The text of the first part, CRLF line endings. */
export function noticeText(request: DsnRequest, kind: DsnKind, returned: ReturnedContent): string {
  const host = oneLine(request.reportingMta);
  const paragraphs = [
    `This is the mail system at ${host}, writing about a message that arrived on ` +
      `${formatDate(request.arrivalDate)} (queue id ${oneLine(request.queueId)}).`,
    lead(kind, request.recipients),
  ];
  const lines = paragraphs.flatMap((paragraph) => [...wrap(paragraph, ""), ""]);
  for (const action of order) {
    const group = request.recipients.filter((recipient) => recipient.action === action);
    if (group.length === 0) continue;
    lines.push(headings[action], "");
    for (const recipient of group) lines.push(...recipientLines(recipient), "");
  }
  lines.push(...wrap(closing(returned), ""));
  return `${lines.join("\r\n")}\r\n`;
}

function lead(kind: DsnKind, recipients: readonly DsnRecipient[]): string {
  const count = (action: DsnAction): number => recipients.filter((recipient) => recipient.action === action).length;
  if (kind === "failure") {
    const failed = count("failed");
    const some = failed === recipients.length ? "" : " The other recipients are listed as well, with what became of the message for them.";
    return `Your message could not be delivered to ${failed === 1 ? "one recipient" : `${failed} recipients`}.${some}`;
  }
  if (kind === "delay") {
    return (
      "Your message has not been delivered yet. This is only a warning: nothing needs to be done now, " +
      "delivery is being tried again, and if it finally fails you will be told (unless you asked not to be)."
    );
  }
  return "Your message was delivered as listed below. You asked to be told when this happened.";
}

function recipientLines(recipient: DsnRecipient): string[] {
  const address = oneLine(recipient.address);
  const original = recipient.orcpt === undefined ? "" : oneLine(recipient.orcpt.address);
  const addressed = original === "" || original === address ? "" : ` (sent to <${original}>)`;
  const lines = wrap(`  <${address}>${addressed}`, "      ");
  lines.push(...wrap(`    ${reason(recipient)}`, "      "));
  if (recipient.action === "delayed" && recipient.willRetryUntil !== undefined) {
    lines.push(`    Attempts go on until ${formatDate(recipient.willRetryUntil)} at the latest.`);
  }
  return lines;
}

/** The remote's reply ("mx.example.net said: 550 ..."), Petrel's own words (with the host they concern), or the status. */
function reason(recipient: DsnRecipient): string {
  if (recipient.diagnostic === undefined) return `status ${recipient.status}`;
  const diagnostic = oneLine(recipient.diagnostic);
  if (recipient.remote === undefined) return diagnostic;
  const remote = oneLine(recipient.remote);
  return isSmtpReply(diagnostic) ? `${remote} said: ${diagnostic}` : `${diagnostic} (${remote})`;
}

function closing(returned: ReturnedContent): string {
  const report = "The report for mail software follows this text";
  if (returned === "message") return `${report}, then your message as it was received.`;
  if (returned === "headers") return `${report}, then the header of your message as it was received.`;
  return `${report}. Your message is not attached: it could not be included exactly as it was received.`;
}

/** `text` wrapped at `width`; each line after the first starts with `indent`. */
function wrap(text: string, indent: string): string[] {
  return foldLine(text, width - indent.length).map((line, index) => (index === 0 ? line : indent + line.trimStart()));
}
