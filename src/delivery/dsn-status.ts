// The machine-readable part of a delivery status notification: the body of message/delivery-status
// (RFC 3464 §2.2-2.3), or of message/global-delivery-status (RFC 6533 §6.2) in global mode. One block of
// per-message fields, then one block per recipient, in the order of the RFC's grammar, each field folded.
// In ASCII mode every value is made ASCII; in global mode addresses and diagnostics keep their UTF-8.
// What a value holds is never trusted: each goes through oneLine(), so a remote's reply with CR, LF or
// control characters cannot start a field or a block of its own.

import { formatDate } from "../message/received.ts";
import type { DsnRecipient, DsnRequest } from "./dsn.ts";
import { asciiOnly, field, hasNonAscii, isSmtpReply, oneLine, typedAddress } from "./dsn-fields.ts";

/** The queue id's field among the per-message fields (RFC 3464 §2.4 extension field). */
export const queueIdField = "X-Petrel-Queue-Id";

/** The body of the delivery-status part, CRLF line endings, blocks separated by an empty line. */
export function deliveryStatusBody(request: DsnRequest, global: boolean): string {
  const text = (value: string): string => (global ? oneLine(value) : asciiOnly(oneLine(value)));
  let perMessage = "";
  if (request.envid !== undefined) perMessage += field("Original-Envelope-Id", asciiOnly(oneLine(request.envid)));
  perMessage += field("Reporting-MTA", `dns; ${asciiOnly(oneLine(request.reportingMta))}`);
  if (request.receivedFrom !== undefined) perMessage += field("Received-From-MTA", receivedFromMta(request.receivedFrom));
  perMessage += field("Arrival-Date", formatDate(request.arrivalDate));
  perMessage += field(queueIdField, asciiOnly(oneLine(request.queueId)));
  return [perMessage, ...request.recipients.map((recipient) => recipientBlock(recipient, global, text))].join("\r\n");
}

/** RFC 3464 §2.2.4: the HELO name, then the client's name and address as a comment. */
function receivedFromMta(from: NonNullable<DsnRequest["receivedFrom"]>): string {
  const comment = (value: string): string => asciiOnly(oneLine(value)).replace(/[()\\]/g, "?");
  const name = from.name === undefined ? "" : `${comment(from.name)} `;
  return `dns; ${comment(from.helo)} (${name}[${comment(from.address)}])`;
}

function recipientBlock(recipient: DsnRecipient, global: boolean, text: (value: string) => string): string {
  let block = "";
  if (recipient.orcpt !== undefined) {
    block += field("Original-Recipient", typedAddress(recipient.orcpt.type, recipient.orcpt.address, global));
  }
  const finalType = hasNonAscii(recipient.address) ? "utf-8" : "rfc822";
  block += field("Final-Recipient", typedAddress(finalType, recipient.address, global));
  block += field("Action", recipient.action);
  block += field("Status", recipient.status);
  if (recipient.remote !== undefined) block += field("Remote-MTA", `dns; ${asciiOnly(oneLine(recipient.remote))}`);
  if (recipient.diagnostic !== undefined) block += field("Diagnostic-Code", diagnosticCode(text(recipient.diagnostic)));
  if (recipient.lastAttemptAt !== undefined) block += field("Last-Attempt-Date", formatDate(recipient.lastAttemptAt));
  if (recipient.action === "delayed" && recipient.willRetryUntil !== undefined) {
    block += field("Will-Retry-Until", formatDate(recipient.willRetryUntil));
  }
  return block;
}

/**
 * RFC 3464 §2.3.6: a reply that starts like an SMTP (or LMTP) reply is typed "smtp"; Petrel's own words
 * (a refused connection, an expired lifetime) are typed "X-Petrel", so no reader takes them for a reply.
 */
function diagnosticCode(diagnostic: string): string {
  const type = isSmtpReply(diagnostic) ? "smtp" : "X-Petrel";
  return `${type}; ${diagnostic}`;
}
