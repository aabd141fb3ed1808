// Turns one command line (bytes, line ending already removed) into a typed Command, or the reply that
// refuses it. Dispatch goes through one typed table of verbs (STYLE §3); each entry parses its own
// argument. It checks syntax only: whether a command is allowed now is sequence.ts's job, and whether it is
// welcome (policy) is the rules' job. It never sees sockets, session state beyond `context`, or DATA bytes.
//
// Leniency: verbs in any case; trailing spaces ignored; spaces after "FROM:"/"TO:" allowed (see
// address.ts for the path itself); NOOP and HELP take an optional argument as RFC 5321 allows. Strict:
// invalid UTF-8 or a control character (including TAB and a stray CR) anywhere in the line is refused.

import { type Mailbox, parsePath, splitPath } from "./address.ts";
import { type MailParameters, parseMailParameters, parseRcptParameters, type RcptParameters } from "./parameters.ts";
import { replies } from "./replies.ts";
import type { Reply } from "./reply.ts";

export type Command =
  | { verb: "HELO"; domain: string }
  | { verb: "EHLO"; domain: string }
  | { verb: "MAIL"; sender: Mailbox | null; params: MailParameters }
  | { verb: "RCPT"; recipient: Mailbox; params: RcptParameters }
  | { verb: "DATA" }
  | { verb: "BDAT"; size: number; last: boolean }
  | { verb: "RSET" }
  | { verb: "NOOP" }
  | { verb: "QUIT" }
  | { verb: "VRFY"; argument: string }
  | { verb: "EXPN"; argument: string }
  | { verb: "HELP"; topic?: string }
  | { verb: "STARTTLS" }
  | { verb: "AUTH"; mechanism: string; initialResponse?: string }
  | { verb: "UNKNOWN"; text: string };

export type Verb = Command["verb"];

export type CommandContext = {
  /** The current transaction's MAIL FROM carried SMTPUTF8: RCPT may then name a UTF-8 recipient. */
  smtputf8: boolean;
  /**
   * EHLO keywords advertised to this client, upper case (e.g. SIZE, 8BITMIME, DSN). When given, MAIL/RCPT
   * parameters of other extensions are refused with 555; pass an empty set after a plain HELO.
   * Leave it out to accept every parameter the parser knows.
   */
  extensions?: ReadonlySet<string>;
};

type Refusal = { error: Reply };
type KnownVerb = Exclude<Verb, "UNKNOWN">;
type VerbParser<V extends KnownVerb> = (argument: string, context: CommandContext) => Extract<Command, { verb: V }> | Refusal;

const UTF8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }); // keep a BOM: it spoils the verb instead of vanishing
const CONTROL = /[\x00-\x1f\x7f]/;
const BASE64 = /^(?:[A-Za-z0-9+/]+={0,2}|=)$/;
/** BDAT sizes past this many digits could not be counted exactly (Number.MAX_SAFE_INTEGER has 16). */
const MAX_BDAT_DIGITS = 15;

const VERBS: { readonly [V in KnownVerb]: VerbParser<V> } = {
  HELO: (argument) => (argument.trim() === "" ? { error: replies.heloSyntax } : { verb: "HELO", domain: argument.trim() }),
  EHLO: (argument) => (argument.trim() === "" ? { error: replies.ehloSyntax } : { verb: "EHLO", domain: argument.trim() }),
  MAIL: parseMail,
  RCPT: parseRcpt,
  DATA: () => ({ verb: "DATA" }),
  BDAT: (argument) => {
    const match = /^(\d+)(?: +(LAST))?$/i.exec(argument);
    if (match === null || (match[1] ?? "").length > MAX_BDAT_DIGITS) return { error: replies.bdatSyntax };
    return { verb: "BDAT", size: Number(match[1]), last: match[2] !== undefined };
  },
  RSET: () => ({ verb: "RSET" }),
  NOOP: () => ({ verb: "NOOP" }),
  QUIT: () => ({ verb: "QUIT" }),
  VRFY: (argument) => (argument.trim() === "" ? { error: replies.vrfySyntax } : { verb: "VRFY", argument: argument.trim() }),
  EXPN: (argument) => (argument.trim() === "" ? { error: replies.expnSyntax } : { verb: "EXPN", argument: argument.trim() }),
  HELP: (argument) => (argument.trim() === "" ? { verb: "HELP" } : { verb: "HELP", topic: argument.trim() }),
  STARTTLS: () => ({ verb: "STARTTLS" }),
  AUTH: (argument) => {
    const match = /^([A-Za-z0-9_-]{1,20})(?: +(\S+))?$/.exec(argument);
    if (match === null) return { error: replies.authSyntax };
    const mechanism = (match[1] ?? "").toUpperCase();
    const initialResponse = match[2];
    if (initialResponse === undefined) return { verb: "AUTH", mechanism };
    if (!BASE64.test(initialResponse)) return { error: replies.authCannotDecode };
    return { verb: "AUTH", mechanism, initialResponse };
  },
};

/** Verbs that take no argument at all; the table entry is only reached with an empty argument. */
const NO_ARGUMENT: ReadonlySet<Verb> = new Set(["DATA", "RSET", "QUIT", "STARTTLS"]);

export function parseCommand(line: Buffer, context: CommandContext): Command | Refusal {
  let text: string;
  try {
    text = UTF8.decode(line);
  } catch {
    return { error: replies.invalidUtf8 };
  }
  if (CONTROL.test(text)) return { error: replies.controlCharacter };
  text = text.replace(/ +$/, "");
  const space = text.indexOf(" ");
  const word = (space === -1 ? text : text.slice(0, space)).toUpperCase();
  const argument = space === -1 ? "" : text.slice(space + 1);
  if (!Object.hasOwn(VERBS, word)) return { verb: "UNKNOWN", text };
  const verb = word as KnownVerb;
  if (NO_ARGUMENT.has(verb) && argument !== "") return { error: replies.noArgumentAllowed };
  const parse = VERBS[verb] as VerbParser<KnownVerb>;
  return parse(argument, context);
}

function parseMail(argument: string, context: CommandContext): Extract<Command, { verb: "MAIL" }> | Refusal {
  const parts = pathAndRest(argument, "FROM:");
  if (parts === null) return { error: replies.mailSyntax };
  const sender = parsePath(parts.path, "sender");
  if (sender !== null && "code" in sender) return { error: sender };
  const params = parseMailParameters(parts.rest, context.extensions);
  if ("error" in params) return params;
  if (sender?.utf8 === true && params.smtputf8 !== true) return { error: replies.nonAsciiAddress };
  return { verb: "MAIL", sender, params };
}

function parseRcpt(argument: string, context: CommandContext): Extract<Command, { verb: "RCPT" }> | Refusal {
  const parts = pathAndRest(argument, "TO:");
  if (parts === null) return { error: replies.rcptSyntax };
  const recipient = parsePath(parts.path, "recipient");
  if (recipient === null) return { error: replies.nullRecipient };
  if ("code" in recipient) return { error: recipient };
  if (recipient.utf8 && !context.smtputf8) return { error: replies.nonAsciiAddress };
  const params = parseRcptParameters(parts.rest, context.extensions);
  if ("error" in params) return params;
  return { verb: "RCPT", recipient, params };
}

/** `FROM:<path> params` → path and params; null when the prefix, the path or the space after it is missing. */
function pathAndRest(argument: string, prefix: string): { path: string; rest: string } | null {
  if (argument.slice(0, prefix.length).toUpperCase() !== prefix) return null;
  const parts = splitPath(argument.slice(prefix.length));
  if (parts === null || (parts.rest !== "" && !parts.rest.startsWith(" "))) return null;
  return parts;
}
