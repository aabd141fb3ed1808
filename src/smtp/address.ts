// Parses the reverse-path of MAIL FROM and the forward-path of RCPT TO (RFC 5321 §4.1.2, §4.1.3, with the
// UTF-8 additions of RFC 6531 §3.3). It turns the text of one path into a Mailbox, null for `<>`, or the
// reply that refuses it. It never looks anything up and never rewrites a local part: an address is kept as
// received, except that the domain is lower-cased so that comparisons work.
//
// Strict where RFC 5321 is strict, lenient where real clients differ harmlessly:
// - accepted: spaces between "FROM:"/"TO:" and the path (command.ts skips them); a path without angle
//   brackets when it is a single word (`MAIL FROM:user@example.com`), as Postfix does by default;
//   source routes `<@a,@b:user@d>`, whose route is checked and dropped (§4.1.2 "MUST BE accepted");
//   `<Postmaster>` without a domain, for a recipient only (§4.1.1.3), any case.
// - refused: comments, a local part mixing quoted and unquoted words, backslashes outside quotes, empty
//   labels or a trailing dot in a domain, `<@>`, a route that is not `@domain` items (`<x:user@d>`),
//   address literals other than IPv4 and `IPv6:` ones, and the length limits of §4.5.3.1
//   (local part 64 octets, label 63, whole path 256 octets including its brackets).

import { isIP } from "node:net";
import { replies } from "./replies.ts";
import { type Reply, withText } from "./reply.ts";

export type Mailbox = {
  /** Local part as received, quotes and escapes included. */
  local: string;
  /** Domain lower-cased; an address literal keeps its brackets (`[192.0.2.1]`); "" for `<Postmaster>`. */
  domain: string;
  /** `local@domain` with the lower-cased domain, or the bare local part for `<Postmaster>`. */
  address: string;
  /** True when any part of the path holds non-ASCII characters (needs SMTPUTF8, RFC 6531). */
  utf8: boolean;
};

export type PathRole = "sender" | "recipient";

/** RFC 5321 §4.5.3.1. The domain's 255 octets need no check of their own: the 256-octet path is shorter. */
export const ADDRESS_LIMITS = { localPart: 64, path: 256, label: 63 } as const;

/** `!#$%&'*+-/=?^_\`{|}~`, letters and digits: RFC 5322 atext, the characters of an unquoted atom. */
const ATEXT = asciiTable((c) => isAlphaNumeric(c) || "!#$%&'*+-/=?^_`{|}~".includes(String.fromCharCode(c)));

/**
 * Parses one path. `text` is the path alone (`<user@example.com>`), without the FROM:/TO: prefix or the
 * parameters after it. Returns null for the null path `<>` whatever the role: refusing it for a
 * recipient is the caller's business.
 */
export function parsePath(text: string, role: PathRole = "recipient"): Mailbox | null | Reply {
  const bracketed = text.startsWith("<");
  if (bracketed && !text.endsWith(">")) return refuse(role, "missing closing angle bracket");
  if (!bracketed && text.includes(">")) return refuse(role, "missing opening angle bracket");
  let inner = bracketed ? text.slice(1, -1) : text;
  if (inner === "") return bracketed ? null : refuse(role, "empty path");
  const utf8 = hasNonAscii(inner);
  const pathOctets = Buffer.byteLength(inner, "utf8") + 2;
  if (pathOctets > ADDRESS_LIMITS.path) return tooLong(role, `path longer than ${ADDRESS_LIMITS.path} octets`);

  if (inner.startsWith("@")) {
    const colon = inner.indexOf(":");
    if (colon === -1) return refuse(role, "empty local part");
    for (const hop of inner.slice(0, colon).split(",")) {
      if (!hop.startsWith("@") || domainProblem(hop.slice(1)) !== null) return refuse(role, "bad source route");
    }
    inner = inner.slice(colon + 1);
  }

  if (role === "recipient" && inner.toLowerCase() === "postmaster") {
    return { local: inner, domain: "", address: inner, utf8 };
  }

  const localEnd = inner.startsWith('"') ? quotedStringEnd(inner) : dotStringEnd(inner);
  if (localEnd === -1) return refuse(role, "bad local part");
  if (localEnd === 0) return refuse(role, "empty local part");
  if (inner[localEnd] !== "@") return refuse(role, localEnd === inner.length ? "no domain" : "bad local part");
  const local = inner.slice(0, localEnd);
  const domain = inner.slice(localEnd + 1);
  if (domain === "") return refuse(role, "empty domain");
  const problem = domainProblem(domain);
  if (problem !== null) return refuse(role, problem);
  if (Buffer.byteLength(local, "utf8") > ADDRESS_LIMITS.localPart) {
    return tooLong(role, `local part longer than ${ADDRESS_LIMITS.localPart} octets`);
  }
  const lowered = domain.toLowerCase();
  return { local, domain: lowered, address: `${local}@${lowered}`, utf8 };
}

/**
 * Splits the text after "FROM:" or "TO:" into the path and what follows it (the parameters, with their
 * leading space). Leading spaces are skipped. A bracketed path ends at the first `>` outside a quoted
 * string; an unbracketed one at the first space. Returns null when there is no path at all.
 */
export function splitPath(argument: string): { path: string; rest: string } | null {
  let start = 0;
  while (argument[start] === " ") start++;
  if (start === argument.length) return null;
  let end: number;
  if (argument[start] === "<") {
    end = closingBracket(argument, start + 1);
    if (end === -1) return null;
    end++;
  } else {
    end = argument.indexOf(" ", start);
    if (end === -1) end = argument.length;
  }
  return { path: argument.slice(start, end), rest: argument.slice(end) };
}

/** Index of the `>` closing a path whose content starts at `from`, skipping quoted strings; -1 if none. */
function closingBracket(text: string, from: number): number {
  let quoted = false;
  for (let i = from; i < text.length; i++) {
    const ch = text[i];
    if (quoted && ch === "\\") i++;
    else if (ch === '"') quoted = !quoted;
    else if (!quoted && ch === ">") return i;
  }
  return -1;
}

/** End (exclusive) of the quoted string opening `text` (qtextSMTP and quoted-pairSMTP), or -1. */
function quotedStringEnd(text: string): number {
  for (let i = 1; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) return i + 1;
    if (c === 0x5c) {
      const escaped = text.charCodeAt(i + 1);
      if (!(escaped >= 0x20 && escaped <= 0x7e)) return -1;
      i++;
    } else if (!(c === 0x20 || c === 0x21 || (c >= 0x23 && c <= 0x7e) || c >= 0x80)) {
      return -1;
    }
  }
  return -1;
}

/** End (exclusive) of the dot-string opening `text` (atoms of atext or UTF-8 joined by dots), or -1. */
function dotStringEnd(text: string): number {
  let atomLength = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x2e) {
      if (atomLength === 0) return -1;
      atomLength = 0;
    } else if (c >= 0x80 || ATEXT[c] === true) {
      atomLength++;
    } else {
      return atomLength === 0 && i > 0 ? -1 : i;
    }
  }
  return atomLength === 0 && text.length > 0 ? -1 : text.length;
}

/** Why `domain` is not a domain name or address literal (RFC 5321 §4.1.2, §4.1.3), or null if it is. */
function domainProblem(domain: string): string | null {
  if (domain.startsWith("[")) {
    if (!domain.endsWith("]")) return "bad address literal";
    const literal = domain.slice(1, -1);
    if (literal.includes("%")) return "bad address literal";
    if (/^ipv6:/i.test(literal)) return isIP(literal.slice(5)) === 6 ? null : "bad IPv6 address literal";
    return isIP(literal) === 4 ? null : "bad address literal";
  }
  if (domain === "") return "empty domain";
  for (const label of domain.split(".")) {
    if (!isLabel(label)) return "bad domain";
  }
  return null;
}

/** A sub-domain: letters, digits, hyphens (not first or last), or a U-label holding non-ASCII. */
function isLabel(label: string): boolean {
  if (label === "" || label.startsWith("-") || label.endsWith("-")) return false;
  let ascii = true;
  for (let i = 0; i < label.length; i++) {
    const c = label.charCodeAt(i);
    if (c >= 0x80) ascii = false;
    else if (!(isAlphaNumeric(c) || c === 0x2d)) return false;
  }
  return !ascii || label.length <= ADDRESS_LIMITS.label;
}

function refuse(role: PathRole, why: string): Reply {
  const base = role === "sender" ? replies.badSenderSyntax : replies.badRecipientSyntax;
  return withText(base, `${base.lines[0]}: ${why}`);
}

function tooLong(role: PathRole, why: string): Reply {
  const base = role === "sender" ? replies.senderPathTooLong : replies.recipientPathTooLong;
  return withText(base, `${base.lines[0]}: ${why}`);
}

function hasNonAscii(text: string): boolean {
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) >= 0x80) return true;
  return false;
}

function isAlphaNumeric(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
}

function asciiTable(test: (c: number) => boolean): readonly boolean[] {
  return Array.from({ length: 128 }, (_, c) => test(c));
}
