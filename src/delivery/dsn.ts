// Delivery status notifications: the bounce, the delay warning and the success notice that go back to a
// message's sender (RFC 3464 in a multipart/report, RFC 6522), under the sender's NOTIFY and RET wishes
// (RFC 3461), marked as automatic (RFC 3834 §5) and in their internationalized form when the original
// needed SMTPUTF8 (RFC 6533). composeDsn() writes the whole message as bytes ready for the spool; the
// scheduler decides when one is due (dsnDue) and whether the original goes in whole (returnsFullMessage).
// The human-readable part is dsn-notice.ts, the report for software dsn-status.ts.
// A DSN never goes to the null sender (RFC 3461 §6.1, RFC 5321 §4.5.5: no bounce loops), and the
// original's bytes are included exactly as they are or not at all: never re-encoded, never cut.

import { isAscii } from "node:buffer";
import { randomBytes } from "node:crypto";
import { formatDate } from "../message/received.ts";
import { field, hasNonAscii, oneLine } from "./dsn-fields.ts";
import { type DsnKind, noticeText, type ReturnedContent } from "./dsn-notice.ts";
import { deliveryStatusBody } from "./dsn-status.ts";

export type DsnAction = "failed" | "delayed" | "delivered" | "relayed" | "expanded";

export type DsnRecipient = {
  /** The envelope recipient (Final-Recipient). */
  address: string;
  /** ORCPT as the envelope holds it, decoded (Original-Recipient); left out when none was given. */
  orcpt?: { type: string; address: string };
  action: DsnAction;
  /** The enhanced status code (RFC 3463), "5.1.1". */
  status: string;
  /** The remote's reply as one line ("550 5.1.1 <x@y>: no such user"), or Petrel's own words. */
  diagnostic?: string;
  /** The remote MTA's host name (Remote-MTA) when the outcome came from one. */
  remote?: string;
  lastAttemptAt?: Date;
  /** For "delayed": when Petrel gives up. */
  willRetryUntil?: Date;
};

export type DsnRequest = {
  /** Our host name (Reporting-MTA, and the domain of From and Message-ID). */
  reportingMta: string;
  /** The original message's queue id. */
  queueId: string;
  /** The original envelope sender, to whom the DSN goes; "" is refused. */
  sender: string;
  /** ENVID, decoded (Original-Envelope-Id). */
  envid?: string;
  ret?: "FULL" | "HDRS";
  arrivalDate: Date;
  /** Who handed the original over (Received-From-MTA). */
  receivedFrom?: { name?: string; helo: string; address: string };
  /** At least one. Failures (maybe with others delivered), or delays, or successes. */
  recipients: DsnRecipient[];
  /** The original's header section; `message`, the whole original, when RET and returnLimit allow it. */
  original: { headers: Buffer; message?: Buffer };
  now: Date;
  /** The original used SMTPUTF8: the report takes its global forms (RFC 6533). */
  smtputf8?: boolean;
};

export type Dsn = {
  sender: "";
  recipient: string;
  /** The whole message, CRLF line endings. */
  message: Buffer;
  /** What the DSN's own envelope must declare: 8-bit content, a UTF-8 header field (RFC 6152, RFC 6531). */
  senderParameters: { body?: "8BITMIME"; smtputf8?: true };
};

/** Whether the whole original goes in: RET=HDRS never; RET=FULL or none: when size ≤ returnLimit. */
export function returnsFullMessage(ret: "FULL" | "HDRS" | undefined, size: number, returnLimit: number): boolean {
  return ret !== "HDRS" && size <= returnLimit;
}

/**
 * Which recipients a DSN is due for under NOTIFY (RFC 3461 §4.1). Without NOTIFY, Petrel reports failures
 * and delays (the RFC allows FAILURE or FAILURE,DELAY as the default; a delay warning is worth having).
 * NEVER: none. "delivered", "relayed" and "expanded" are all SUCCESS notices (§6.2).
 */
export function dsnDue(notify: "NEVER" | ("SUCCESS" | "FAILURE" | "DELAY")[] | undefined, action: DsnAction): boolean {
  if (notify === "NEVER") return false;
  const asked = notify ?? ["FAILURE", "DELAY"];
  if (action === "failed") return asked.includes("FAILURE");
  if (action === "delayed") return asked.includes("DELAY");
  return asked.includes("SUCCESS");
}

const subjects: Record<DsnKind, string> = {
  failure: "Undeliverable: your message could not be delivered",
  delay: "Delayed: your message has not been delivered yet",
  success: "Delivered: your message reached its recipients",
};

const statusCode = /^[245]\.\d{1,3}\.\d{1,3}$/;
const actions: readonly string[] = ["failed", "delayed", "delivered", "relayed", "expanded"];

type Part = { contentType: string; description: string; body: Buffer };

export function composeDsn(request: DsnRequest): Dsn {
  checkRequest(request);
  const kind = reportKind(request.recipients);
  const global = request.smtputf8 === true || usesUtf8Address(request);
  const returned = returnedContent(request, kind);
  const notice = Buffer.from(noticeText(request, kind, returned.content), "utf8");
  const parts: Part[] = [
    { contentType: `text/plain; charset=${isAscii(notice) ? "us-ascii" : "utf-8"}`, description: "Notification", body: notice },
    {
      contentType: global ? "message/global-delivery-status" : "message/delivery-status",
      description: "Delivery report",
      body: Buffer.from(deliveryStatusBody(request, global), "utf8"),
    },
  ];
  if (returned.content !== "none") {
    const whole = returned.content === "message";
    parts.push({
      contentType: whole ? (global ? "message/global" : "message/rfc822") : global ? "message/global-headers" : "text/rfc822-headers",
      description: whole ? "The message as received" : "The header of the message as received",
      body: returned.bytes,
    });
  }
  const eightBit = parts.some((part) => !isAscii(part.body));
  const boundary = uniqueBoundary(parts);
  const host = oneLine(request.reportingMta);
  const head =
    `From: "Mail Delivery System" <MAILER-DAEMON@${host}>\r\n` +
    field("To", `<${request.sender}>`) +
    field("Subject", subjects[kind]) +
    field("Date", formatDate(request.now)) +
    field("Message-ID", `<${randomBytes(12).toString("hex")}.${request.now.getTime().toString(36)}@${host}>`) +
    "Auto-Submitted: auto-replied\r\n" +
    "MIME-Version: 1.0\r\n" +
    `Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary="${boundary}"\r\n` +
    `Content-Transfer-Encoding: ${eightBit ? "8bit" : "7bit"}\r\n` +
    "\r\n" +
    "This is a delivery status notification in MIME format (RFC 3464).\r\n";
  const chunks: Buffer[] = [Buffer.from(head, "utf8")];
  for (const part of parts) {
    const partHead =
      `\r\n--${boundary}\r\n` +
      `Content-Type: ${part.contentType}\r\n` +
      `Content-Description: ${part.description}\r\n` +
      `Content-Transfer-Encoding: ${isAscii(part.body) ? "7bit" : "8bit"}\r\n` +
      "\r\n";
    chunks.push(Buffer.from(partHead, "utf8"), part.body);
  }
  chunks.push(Buffer.from(`\r\n--${boundary}--\r\n`, "utf8"));
  const senderParameters: Dsn["senderParameters"] = {};
  if (eightBit) senderParameters.body = "8BITMIME";
  if (hasNonAscii(request.sender)) senderParameters.smtputf8 = true;
  return { sender: "", recipient: request.sender, message: Buffer.concat(chunks), senderParameters };
}

function checkRequest(request: DsnRequest): void {
  if (request.sender === "") {
    throw new TypeError("a DSN never goes to the null sender: the original had MAIL FROM:<>, report nothing");
  }
  if (/\p{Cc}/u.test(request.sender)) {
    throw new TypeError(`the sender ${JSON.stringify(request.sender)} holds control characters: not an address to write to`);
  }
  if (request.recipients.length === 0) throw new TypeError("a DSN reports on at least one recipient: none given");
  for (const recipient of request.recipients) {
    if (!actions.includes(recipient.action)) {
      throw new TypeError(`DSN action ${JSON.stringify(recipient.action)} for ${recipient.address} is not one of ${actions.join(", ")}`);
    }
    if (!statusCode.test(recipient.status)) {
      throw new TypeError(`DSN status ${JSON.stringify(recipient.status)} for ${recipient.address} is not an enhanced status code (RFC 3463)`);
    }
  }
}

/** A failure report if anything failed; else a delay warning if anything is delayed; else a success notice. */
function reportKind(recipients: readonly DsnRecipient[]): DsnKind {
  if (recipients.some((recipient) => recipient.action === "failed")) return "failure";
  if (recipients.some((recipient) => recipient.action === "delayed")) return "delay";
  return "success";
}

function usesUtf8Address(request: DsnRequest): boolean {
  return (
    hasNonAscii(request.sender) ||
    request.recipients.some((recipient) => hasNonAscii(recipient.address) || hasNonAscii(recipient.orcpt?.address ?? ""))
  );
}

/**
 * The third part. The whole original only in a failure report (RFC 3461 §4.3: RET concerns "failed"
 * DSNs; a delay warning or a success notice has no need of it) and never under RET=HDRS; else the header
 * section. Either only when its bytes can travel as they are (CRLF lines of at most 998 octets, no NUL),
 * falling back from the message to the header section, and from that to nothing.
 */
function returnedContent(request: DsnRequest, kind: DsnKind): { content: ReturnedContent; bytes: Buffer } {
  const { headers, message } = request.original;
  if (message !== undefined && kind === "failure" && request.ret !== "HDRS" && travelsAsIs(message)) {
    return { content: "message", bytes: message };
  }
  if (travelsAsIs(headers)) return { content: "headers", bytes: headers };
  return { content: "none", bytes: Buffer.alloc(0) };
}

/** True if `bytes` fit in an 8bit MIME part unchanged (RFC 2045 §2.8): no NUL, CRLF only, lines ≤ 998. */
function travelsAsIs(bytes: Buffer): boolean {
  if (bytes.includes(0)) return false;
  let start = 0;
  while (start < bytes.length) {
    const lf = bytes.indexOf(0x0a, start);
    const end = lf < 0 ? bytes.length : lf - 1;
    if (lf >= 0 && bytes[end] !== 0x0d) return false;
    const cr = bytes.indexOf(0x0d, start);
    if (cr >= 0 && cr < end) return false;
    if (end - start > 998) return false;
    if (lf < 0) break;
    start = lf + 1;
  }
  return true;
}

/** A boundary that occurs in none of the parts (RFC 2046 §5.1.1). */
function uniqueBoundary(parts: readonly Part[]): string {
  for (;;) {
    const boundary = `=_petrel_report_${randomBytes(16).toString("hex")}`;
    if (!parts.some((part) => part.body.includes(boundary))) return boundary;
  }
}
