// Quarantines likely phishing for a person to look at, rather than refusing it outright: the signs below are
// strong but not proof, and a quarantined message can still be released. The client is answered "250" as if
// the message were queued; the message waits in the spool's quarantine/ folder under the quarantine's name.
//
// Two signs, each enough on its own:
//   - the From field names another domain than the envelope sender's, and the Subject reads like the usual
//     bait ("verify your account", "password expires"...). Newsletters and mailing lists also send with a
//     different envelope domain, but rarely with such subjects.
//   - the From field claims one of our own domains, the client did not authenticate, and Reply-To leads to
//     another domain: the "CEO fraud" that asks accounting to answer somewhere else.
// Domains count as the same when one is the other or under it (bounces.bank.example and bank.example); a
// finer test would use DMARC alignment with the Public Suffix List.
//
// Settings ([rules.settings]):
//   own_domains       = ["example.org"]          domains only our own users write From (default: none)
//   phishing_subjects = ["verify your account"]  patterns (regular expressions, any case) (default: below)
//   quarantine_name   = "suspicious"             the quarantine's name (default: "suspicious")

import { type BaseContext, defineRules, type DomainList, domainList } from "petrel/rules";

type Settings = BaseContext["settings"];
type Policy = { readonly subjects: readonly RegExp[]; readonly own: DomainList; readonly quarantine: string };

const SUBJECTS = [
  "verify your (account|identity|mailbox)",
  "password (has )?expire",
  "unusual sign[- ]?in",
  "account (is )?(suspended|locked|on hold)",
  "invoice .*overdue",
  "urgent.*(payment|wire transfer)",
];

const policies = new WeakMap<Settings, Policy>();

function policyOf(settings: Settings): Policy {
  let policy = policies.get(settings);
  if (policy === undefined) {
    const name = settings["quarantine_name"] ?? "suspicious";
    if (typeof name !== "string" || name === "") throw new TypeError("rules.settings.quarantine_name: expected a name");
    policy = {
      subjects: strings(settings, "phishing_subjects", SUBJECTS).map((pattern) => new RegExp(pattern, "i")),
      own: domainList(strings(settings, "own_domains", [])),
      quarantine: name,
    };
    policies.set(settings, policy);
  }
  return policy;
}

function strings(settings: Settings, name: string, fallback: readonly string[]): readonly string[] {
  const value = settings[name] ?? fallback;
  const items: readonly unknown[] = Array.isArray(value) ? value : [value];
  const texts = items.filter((item): item is string => typeof item === "string");
  if (texts.length !== items.length) throw new TypeError(`rules.settings.${name}: expected a list of strings`);
  return texts;
}

/** The domain of the (first) address in a From or Reply-To value ("Name" <a@b.example>, or a@b.example). */
function domainOf(field: string | undefined): string | null {
  if (field === undefined) return null;
  const address = /<([^<>]*)>/.exec(field)?.[1] ?? field;
  const domain = /@([^\s<>()@,;]+)/.exec(address)?.[1];
  return domain === undefined ? null : domain.toLowerCase().replace(/\.$/, "");
}

function sameDomain(a: string, b: string): boolean {
  return a === b || a.endsWith(`.${b}`) || b.endsWith(`.${a}`);
}

export default defineRules({
  preq: [
    function phishingSubjectFromElsewhere(ctx) {
      const policy = policyOf(ctx.settings);
      const from = domainOf(ctx.message.headers.get("From"));
      const sender = domainOf(ctx.envelope.sender); // null for bounces (the null sender): nothing to compare
      if (from === null || sender === null || sameDomain(from, sender)) return;
      const subject = ctx.message.headers.getDecoded("Subject") ?? "";
      if (!policy.subjects.some((pattern) => pattern.test(subject))) return;
      ctx.log.info("suspicious message", { queueId: ctx.queueId, reason: "phishing subject, From domain not the sender's", from, sender });
      return ctx.quarantine(policy.quarantine);
    },
    function replyToElsewhere(ctx) {
      const policy = policyOf(ctx.settings);
      if (ctx.connection.user !== null) return; // our users may set Reply-To as they like
      const from = domainOf(ctx.message.headers.get("From"));
      const replyTo = domainOf(ctx.message.headers.get("Reply-To"));
      if (from === null || replyTo === null || !policy.own.has(from) || sameDomain(from, replyTo)) return;
      ctx.log.info("suspicious message", { queueId: ctx.queueId, reason: "our domain in From, Reply-To elsewhere", from, replyTo });
      return ctx.quarantine(policy.quarantine);
    },
  ],
});
