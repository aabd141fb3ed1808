// Quarantines likely phishing for a person to look at, rather than refusing it outright: the signs below are
// strong but not proof, and a quarantined message can still be released. The client is answered "250" as if
// the message were queued; the message waits in the spool's quarantine/ folder under the quarantine's name.
//
// Two signs, each enough on its own:
//   - the From field names another domain than the envelope sender's, and the Subject reads like the usual
//     bait ("verify your account", "password expires"...). Newsletters and mailing lists also send with a
//     different envelope domain, but rarely with such subjects.
//   - the From field claims one of our own domains (smtp.local_domains), the client neither authenticated nor
//     connected from smtp.relay_networks (our own applications), and Reply-To leads to another domain: the "CEO
//     fraud" that asks accounting to answer somewhere else.
// Domains count as the same when one is the other or under it (bounces.bank.example and bank.example); a
// finer test would use DMARC alignment with the Public Suffix List. From and Reply-To are read as postal-mime
// parses them (ctx.message.mime(), parsed once for all rules), so display names, comments, encoded words and
// groups cannot hide the address ("security@bank.example" <x@elsewhere.example> is from elsewhere.example).
//
// Settings ([rules.settings]):
//   phishing_subjects = ["verify your account"]  patterns (regular expressions, any case) (default: below)
//   quarantine_name   = "suspicious"             the quarantine's name (default: "suspicious")

import { defineRules, type ParsedMessage, perSettings, stringListSetting, stringSetting } from "petrel/rules";

const SUBJECTS = [
  "verify your (account|identity|mailbox)",
  "password (has )?expire",
  "unusual sign[- ]?in",
  "account (is )?(suspended|locked|on hold)",
  "invoice .*overdue",
  "urgent.*(payment|wire transfer)",
];

const policyOf = perSettings((settings) => ({
  subjects: stringListSetting(settings, "phishing_subjects", SUBJECTS).map((pattern) => new RegExp(pattern, "i")),
  quarantine: stringSetting(settings, "quarantine_name", "suspicious"),
}));

type Address = NonNullable<ParsedMessage["from"]>;

/** The domain of an address, lower-cased and without a trailing dot; null if it has none. */
function domainOf(address: string): string | null {
  const at = address.lastIndexOf("@");
  const domain = address.slice(at + 1).toLowerCase().replace(/\.$/, "");
  return at === -1 || domain === "" ? null : domain;
}

/** The domains of the addresses of a From or Reply-To field, members of groups included. */
function domainsOf(addresses: readonly Address[]): string[] {
  return addresses.flatMap((address) => address.group ?? [address]).flatMap((mailbox) => domainOf(mailbox.address) ?? []);
}

/** The domain of the (first) From address. */
function fromDomain(mime: ParsedMessage): string | undefined {
  return domainsOf(mime.from === undefined ? [] : [mime.from])[0];
}

function sameDomain(a: string, b: string): boolean {
  return a === b || a.endsWith(`.${b}`) || b.endsWith(`.${a}`);
}

export default defineRules({
  preq: [
    async function phishingSubjectFromElsewhere(ctx) {
      const policy = policyOf(ctx.settings);
      const sender = domainOf(ctx.envelope.sender); // null for bounces (the null sender): nothing to compare
      if (sender === null) return;
      const mime = await ctx.message.mime();
      const from = fromDomain(mime);
      if (from === undefined || sameDomain(from, sender)) return;
      if (!policy.subjects.some((pattern) => pattern.test(mime.subject ?? ""))) return;
      ctx.log.info("suspicious message", { reason: "phishing subject, From domain not the sender's", from, sender });
      return ctx.quarantine(policy.quarantine);
    },
    async function replyToElsewhere(ctx) {
      // Our users and our own applications may set Reply-To as they like.
      if (ctx.connection.user !== null || ctx.inRelayNetworks(ctx.connection.client.address)) return;
      const mime = await ctx.message.mime();
      const from = fromDomain(mime);
      if (from === undefined || !ctx.isLocalDomain(from)) return;
      const replyTo = domainsOf(mime.replyTo ?? []).find((domain) => !sameDomain(domain, from));
      if (replyTo === undefined) return;
      ctx.log.info("suspicious message", { reason: "our domain in From, Reply-To elsewhere", from, replyTo });
      return ctx.quarantine(policyOf(ctx.settings).quarantine);
    },
  ],
});
