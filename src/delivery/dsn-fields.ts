// The small pieces a delivery status notification is written with: making text that came from outside
// (a remote's reply, an address, an ENVID) safe to put on one line, folding header-style fields (the
// message header and the RFC 3464 fields, which follow RFC 5322 §2.2.3) so that no line passes 998
// octets, and typing an address for Final-Recipient / Original-Recipient (RFC 3464 §2.3.1-2, RFC 6533 §3).
// Nothing here may let a value add a line: every value goes through oneLine() first.

/** Preferred line length (RFC 5322 §2.1.1 SHOULD), in octets. */
export const foldWidth = 78;

/**
 * The longest piece of a word without white space, in octets. A fold can only go before white space, so
 * a longer word is cut into pieces, each starting a line after a space: the space is added to the value,
 * but the line limit of 998 octets holds whatever a remote sent.
 */
const longestPiece = 900;

const nonAscii = /[^\x00-\x7f]/;

export function hasNonAscii(text: string): boolean {
  return nonAscii.test(text);
}

/**
 * Text from outside as one line: line breaks (CR, LF, and what some parsers also take for one: VT, FF,
 * NEL, U+2028, U+2029) and tabs become a space, other control characters a "?", runs of spaces one space.
 */
export function oneLine(text: string): string {
  return text
    .replace(/[\r\n\t\v\f\u0085\u2028\u2029]+/g, " ")
    .replace(/\p{Cc}/gu, "?")
    .replace(/ {2,}/g, " ")
    .trim();
}

/** True if a diagnostic reads as an SMTP (or LMTP) reply, "550 5.1.1 ..." or "421-...", not Petrel's own words. */
export function isSmtpReply(diagnostic: string): boolean {
  return /^[245]\d\d(?:[ -]|$)/.test(diagnostic);
}

/** For the ASCII-only parts: each non-ASCII character becomes "?". */
export function asciiOnly(text: string): string {
  return text.replace(/[^\x00-\x7f]/gu, "?");
}

/**
 * Splits one line into lines of at most `width` octets where white space allows (each line after the
 * first starts with the white space it was broken before), and in any case of at most ~900 octets.
 */
export function foldLine(line: string, width: number = foldWidth): string[] {
  const lines: string[] = [];
  let current = "";
  let currentBytes = 0;
  for (const segment of line.match(/[ \t]*[^ \t]+/g) ?? []) {
    for (const piece of wordPieces(segment)) {
      const pieceBytes = Buffer.byteLength(piece, "utf8");
      if (current !== "" && currentBytes + pieceBytes > width) {
        lines.push(current);
        current = "";
        currentBytes = 0;
      }
      current += piece;
      currentBytes += pieceBytes;
    }
  }
  lines.push(current);
  return lines;
}

/** A segment (white space and a word) as is, or cut into pieces of at most `longestPiece` octets. */
function wordPieces(segment: string): string[] {
  if (Buffer.byteLength(segment, "utf8") <= longestPiece) return [segment];
  const pieces: string[] = [];
  let piece = "";
  let pieceBytes = 0;
  for (const char of segment) {
    const charBytes = Buffer.byteLength(char, "utf8");
    if (pieceBytes + charBytes > longestPiece) {
      pieces.push(piece);
      piece = " ";
      pieceBytes = 1;
    }
    piece += char;
    pieceBytes += charBytes;
  }
  pieces.push(piece);
  return pieces;
}

/** `Name: value` folded, with its CRLF. The value must already be one line (see oneLine). */
export function field(name: string, value: string): string {
  return `${foldLine(`${name}: ${value}`).join("\r\n")}\r\n`;
}

/**
 * An address typed for Final-Recipient or Original-Recipient. ASCII mode (message/delivery-status): a
 * "utf-8" address is written as utf-8-addr-xtext, every character outside QCHAR as `\x{HEX}`. Global mode
 * (message/global-delivery-status): as it is, UTF-8 included. `type` is "rfc822" unless ORCPT gave another.
 */
export function typedAddress(type: string, address: string, global: boolean): string {
  const cleanType = type.toLowerCase().replace(/[^a-z0-9!#$%&'*+\-/=?^_`{|}~]/g, "") || "unknown";
  const clean = oneLine(address);
  if (global) return `${cleanType}; ${clean}`;
  if (cleanType === "utf-8") return `utf-8; ${utf8AddressXtext(clean)}`;
  return `${cleanType}; ${asciiOnly(clean)}`;
}

/** RFC 6533 §3 utf-8-addr-xtext: QCHAR (printable ASCII but "+", "=", "\") as is, the rest `\x{HEX}`. */
function utf8AddressXtext(address: string): string {
  let out = "";
  for (const char of address) {
    const code = char.codePointAt(0) ?? 0;
    const qchar = code >= 0x21 && code <= 0x7e && char !== "+" && char !== "=" && char !== "\\";
    out += qchar ? char : `\\x{${code.toString(16).toUpperCase()}}`;
  }
  return out;
}
