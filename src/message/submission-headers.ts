// The header fields a submission server adds when a user's mail program left them out (RFC 6409 §8.2, §8.3):
// Date and Message-ID. It reads only the header section, as bytes, for field names at line starts; it never
// changes a field that is there.

import { formatDate } from "./received.ts";

const HEADER_END = Buffer.from("\r\n\r\n");

/** Where the header section ends (the index after its blank line), -1 if not seen yet. */
export function headerSectionEnd(bytes: Buffer): number {
  if (bytes.length >= 2 && bytes[0] === 0x0d && bytes[1] === 0x0a) return 2; // no header fields at all
  const at = bytes.indexOf(HEADER_END);
  return at < 0 ? -1 : at + 4;
}

/** True if the header section has a field of this (lower-case) name. */
function hasField(headers: string, name: string): boolean {
  return headers.startsWith(`${name}:`) || headers.includes(`\n${name}:`);
}

/** The Date and Message-ID fields to add in front of `headerSection` (latin1 is enough to find names). */
export function missingSubmissionHeaders(headerSection: Buffer, hostname: string, queueId: string, now: Date): Buffer {
  const headers = headerSection.toString("latin1").toLowerCase().replaceAll(/[ \t]+:/g, ":");
  let added = "";
  if (!hasField(headers, "date")) added += `Date: ${formatDate(now)}\r\n`;
  if (!hasField(headers, "message-id")) added += `Message-ID: <${queueId}@${hostname}>\r\n`;
  return Buffer.from(added, "latin1");
}
