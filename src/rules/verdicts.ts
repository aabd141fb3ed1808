// The verdicts a rule can return, made by the ctx methods (accept, deny, ...), and the check that what a rule
// returned is one of them. A malformed reply (a 2xx deny, an enhanced code of the wrong class, a line break in
// the text) throws inside the rule, so it fails closed and the log names that rule. What each verdict does at
// each stage is decided by the server (server/rule-verdicts.ts), not here.

import type { ReplyArguments, Verdict, VerdictKind } from "./api.ts";

const made = new WeakSet<Verdict>();

function verdict(kind: VerdictKind, extra: Partial<Verdict> = {}): Verdict {
  const value = Object.freeze({ kind, ...extra });
  made.add(value);
  return value;
}

const ACCEPT = verdict("accept");
const FACCEPT = verdict("faccept");
const DISCARD = verdict("discard");

/** True for a value made by the functions below; anything else a rule returns is an error. */
export function isVerdict(value: unknown): value is Verdict {
  return typeof value === "object" && value !== null && made.has(value as Verdict);
}

const ENHANCED = /^([245])\.(\d{1,3})\.(\d{1,3})$/;

function replyOf(kind: "deny" | "reject" | "tempfail", args: ReplyArguments): Verdict["reply"] {
  if (args.length <= 1) {
    const text = args[0] as string | undefined;
    if (text === undefined) return undefined;
    return { text: checkedText(kind, text) };
  }
  const [code, enhanced, text] = args as [number, string, string];
  const wanted = kind === "tempfail" ? 4 : 5;
  if (!Number.isInteger(code) || Math.floor(code / 100) !== wanted || code % 100 > 59) {
    throw new RangeError(`ctx.${kind}(): code ${code} is not a ${wanted}xx reply`);
  }
  const match = ENHANCED.exec(enhanced);
  if (match === null || match[1] !== String(wanted)) {
    throw new RangeError(`ctx.${kind}(): enhanced status code "${enhanced}" is not ${wanted}.x.y (RFC 3463)`);
  }
  return { code, enhanced, text: checkedText(kind, text) };
}

function checkedText(kind: string, text: string): string {
  if (typeof text !== "string" || /[\r\n\0]/.test(text) || text.length > 400) {
    throw new RangeError(`ctx.${kind}(): the reply text must be one line of at most 400 characters`);
  }
  return text;
}

function name(kind: "quarantine" | "delegate", value: string): string {
  if (typeof value !== "string" || !/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(value)) {
    throw new RangeError(`ctx.${kind}(): "${String(value)}" is not a name (letters, digits, . _ -, at most 64)`);
  }
  return value;
}

/** The verdict methods every context carries (Verdicts and MessageVerdicts in api.ts). */
export const verdictMethods = {
  accept: (): Verdict => ACCEPT,
  faccept: (): Verdict => FACCEPT,
  deny: (...args: ReplyArguments): Verdict => verdict("deny", { reply: replyOf("deny", args) }),
  reject: (...args: ReplyArguments): Verdict => verdict("reject", { reply: replyOf("reject", args) }),
  tempfail: (...args: ReplyArguments): Verdict => verdict("tempfail", { reply: replyOf("tempfail", args) }),
  delegate: (service: string): Verdict => verdict("delegate", { name: name("delegate", service) }),
  quarantine: (quarantine: string): Verdict => verdict("quarantine", { name: name("quarantine", quarantine) }),
  discard: (): Verdict => DISCARD,
};
