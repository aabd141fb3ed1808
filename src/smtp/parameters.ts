// Parses the ESMTP parameters that follow the path of MAIL FROM and RCPT TO (RFC 5321 §4.1.2
// esmtp-param, keywords case-insensitive) into typed values, driven by one table per command. It knows
// SIZE (RFC 1870), BODY (RFC 6152, RFC 3030), SMTPUTF8 (RFC 6531), RET/ENVID/NOTIFY/ORCPT (RFC 3461, with
// the utf-8 address type of RFC 6533), AUTH (RFC 4954) and REQUIRETLS (RFC 8689). It checks syntax only:
// whether a declared SIZE fits, or an AUTH= value is trusted, is for the server to decide.
//
// Unknown keyword, or a keyword of an extension the session did not advertise: 555 5.5.4. Malformed value,
// or a keyword given twice: 501 5.5.4. Decoded ENVID, ORCPT and AUTH values may hold no control character,
// so they can later be written into DSN header fields without opening a header-injection hole.

import { replies } from "./replies.ts";
import { type Reply, withText } from "./reply.ts";
import { decodeUtf8AddressText, decodeXtext } from "./xtext.ts";

export type MailParameters = {
  size?: number;
  body?: "7BIT" | "8BITMIME" | "BINARYMIME";
  smtputf8?: true;
  ret?: "FULL" | "HDRS";
  envid?: string;
  auth?: string;
  requiretls?: true;
};

export type NotifyCondition = "SUCCESS" | "FAILURE" | "DELAY";

export type RcptParameters = {
  notify?: "NEVER" | NotifyCondition[];
  /** `type` lower-cased (`rfc822`, `utf-8`, ...), `address` decoded. */
  orcpt?: { type: string; address: string };
};

/** EHLO keywords that bring MAIL/RCPT parameters with them. */
export type ParameterExtension = "SIZE" | "8BITMIME" | "BINARYMIME" | "SMTPUTF8" | "DSN" | "AUTH" | "REQUIRETLS";

export const PARAMETER_LIMITS = { envid: 100, orcpt: 500, sizeDigits: 20 } as const;

/** Parses a value, or says in a few words why it is malformed. */
type ParameterSpec<T> = {
  readonly extension: (value: string | undefined) => ParameterExtension;
  readonly parse: (value: string | undefined) => Partial<T> | string;
};

const KEYWORD = /^[A-Za-z0-9][A-Za-z0-9-]*$/;
const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;
const NO_CONTROLS = /^[^\x00-\x1f\x7f]*$/;

const MAIL_PARAMETERS: Readonly<Record<string, ParameterSpec<MailParameters>>> = {
  SIZE: {
    extension: () => "SIZE",
    parse: (value) =>
      value !== undefined && /^\d+$/.test(value) && value.length <= PARAMETER_LIMITS.sizeDigits
        ? { size: Number(value) }
        : "SIZE takes a number of octets",
  },
  BODY: {
    extension: (value) => (value?.toUpperCase() === "BINARYMIME" ? "BINARYMIME" : "8BITMIME"),
    parse: (value) => {
      const body = value?.toUpperCase();
      return body === "7BIT" || body === "8BITMIME" || body === "BINARYMIME"
        ? { body }
        : "BODY takes 7BIT, 8BITMIME or BINARYMIME";
    },
  },
  SMTPUTF8: {
    extension: () => "SMTPUTF8",
    parse: (value) => (value === undefined ? { smtputf8: true } : "SMTPUTF8 takes no value"),
  },
  RET: {
    extension: () => "DSN",
    parse: (value) => {
      const ret = value?.toUpperCase();
      return ret === "FULL" || ret === "HDRS" ? { ret } : "RET takes FULL or HDRS";
    },
  },
  ENVID: {
    extension: () => "DSN",
    parse: (value) => {
      if (value === undefined || value.length > PARAMETER_LIMITS.envid) {
        return `ENVID takes xtext of at most ${PARAMETER_LIMITS.envid} characters`;
      }
      const envid = decodeXtext(value);
      return envid !== null && envid !== "" && PRINTABLE_ASCII.test(envid) ? { envid } : "ENVID is not valid xtext";
    },
  },
  AUTH: {
    extension: () => "AUTH",
    parse: (value) => {
      const auth = value === undefined ? null : decodeXtext(value);
      return auth !== null && auth !== "" && NO_CONTROLS.test(auth) ? { auth } : "AUTH takes an xtext mailbox or <>";
    },
  },
  REQUIRETLS: {
    extension: () => "REQUIRETLS",
    parse: (value) => (value === undefined ? { requiretls: true } : "REQUIRETLS takes no value"),
  },
};

const NOTIFY_CONDITIONS: readonly string[] = ["SUCCESS", "FAILURE", "DELAY"] satisfies NotifyCondition[];

const RCPT_PARAMETERS: Readonly<Record<string, ParameterSpec<RcptParameters>>> = {
  NOTIFY: {
    extension: () => "DSN",
    parse: (value) => {
      const words = value?.toUpperCase().split(",") ?? [];
      if (words.length === 1 && words[0] === "NEVER") return { notify: "NEVER" };
      const known = words.every((word) => NOTIFY_CONDITIONS.includes(word));
      if (words.length === 0 || !known || new Set(words).size !== words.length) {
        return "NOTIFY takes NEVER alone, or SUCCESS, FAILURE and DELAY separated by commas";
      }
      return { notify: words as NotifyCondition[] };
    },
  },
  ORCPT: {
    extension: () => "DSN",
    parse: (value) => {
      const why = "ORCPT takes addr-type;address";
      if (value === undefined || value.length > PARAMETER_LIMITS.orcpt) return why;
      const semicolon = value.indexOf(";");
      const type = value.slice(0, semicolon).toLowerCase();
      if (semicolon < 1 || !/^[a-z0-9!#$%&'*+\-/=?^_`{|}~]+$/.test(type)) return why;
      const encoded = value.slice(semicolon + 1);
      const address = type === "utf-8" ? decodeUtf8AddressText(encoded) : decodeXtext(encoded);
      if (address === null || address === "") return why;
      const allowed = type === "utf-8" ? NO_CONTROLS : PRINTABLE_ASCII;
      return allowed.test(address) ? { orcpt: { type, address } } : why;
    },
  },
};

export function parseMailParameters(
  text: string,
  extensions?: ReadonlySet<string>,
): MailParameters | { error: Reply } {
  return parseParameters(text, MAIL_PARAMETERS, extensions);
}

export function parseRcptParameters(
  text: string,
  extensions?: ReadonlySet<string>,
): RcptParameters | { error: Reply } {
  return parseParameters(text, RCPT_PARAMETERS, extensions);
}

/**
 * `text` is what follows the path: empty, or parameters separated by spaces. `extensions` lists the EHLO
 * keywords advertised to this client (upper case); when given, a parameter whose extension is not in it
 * is refused as unknown. Leave it out to accept every parameter this file knows.
 */
function parseParameters<T extends object>(
  text: string,
  table: Readonly<Record<string, ParameterSpec<T>>>,
  extensions: ReadonlySet<string> | undefined,
): T | { error: Reply } {
  const result: Partial<T> = {};
  const seen = new Set<string>();
  for (const word of text.split(" ")) {
    if (word === "") continue;
    const equals = word.indexOf("=");
    const keyword = (equals === -1 ? word : word.slice(0, equals)).toUpperCase();
    const value = equals === -1 ? undefined : word.slice(equals + 1);
    if (!KEYWORD.test(keyword) || (value !== undefined && !isEsmtpValue(value))) {
      return { error: withText(replies.invalidArguments, `malformed parameter "${word}"`) };
    }
    const spec = Object.hasOwn(table, keyword) ? table[keyword] : undefined;
    if (spec === undefined || (extensions !== undefined && !extensions.has(spec.extension(value)))) {
      return { error: withText(replies.unknownParameter, `parameter ${keyword} not recognized or not implemented`) };
    }
    if (seen.has(keyword)) return { error: withText(replies.duplicateParameter, `${keyword} given twice`) };
    seen.add(keyword);
    const parsed = spec.parse(value);
    if (typeof parsed === "string") return { error: withText(replies.badParameterValue, parsed) };
    Object.assign(result, parsed);
  }
  return result as T;
}

/** esmtp-value: one or more characters other than "=", space and controls (RFC 5321, RFC 6531 §3.3). */
function isEsmtpValue(value: string): boolean {
  return /^[^\x00-\x20=\x7f]+$/.test(value);
}
