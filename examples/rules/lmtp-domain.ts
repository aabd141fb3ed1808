// Hands the mail of some domains to a mailbox server over LMTP (Dovecot, Cyrus), instead of Petrel's own
// delivery: each recipient of those domains gets an LMTP route at RCPT, stored with it in the queue. Other
// recipients keep the default route. The mailbox server then says per recipient whether it took the message.
//
// The domains must also be in smtp.local_domains, or Petrel's relay control refuses them as any other domain.
//
// Settings ([rules.settings]):
//   lmtp_domains = ["example.org", ".example.org"]   domains (".example.org": and every domain under it)
//   lmtp_url     = "lmtp://127.0.0.1:24"             lmtp://host:port or unix:/path (default: lmtp://127.0.0.1:24)

import { type BaseContext, defineRules, type DomainList, domainList } from "petrel/rules";

type Settings = BaseContext["settings"];
type Target = { readonly domains: DomainList; readonly url: string };

const targets = new WeakMap<Settings, Target>();

function targetOf(settings: Settings): Target {
  let target = targets.get(settings);
  if (target === undefined) {
    const value = settings["lmtp_domains"] ?? [];
    const items: readonly unknown[] = Array.isArray(value) ? value : [value];
    const domains = items.filter((item): item is string => typeof item === "string");
    if (domains.length !== items.length) throw new TypeError("rules.settings.lmtp_domains: expected a list of domains");
    const url = settings["lmtp_url"] ?? "lmtp://127.0.0.1:24";
    if (typeof url !== "string") throw new TypeError("rules.settings.lmtp_url: expected lmtp://host:port or unix:/path");
    target = { domains: domainList(domains), url };
    targets.set(settings, target);
  }
  return target;
}

export default defineRules({
  rcpt: [
    function lmtpForDomain(ctx) {
      const target = targetOf(ctx.settings);
      if (!target.domains.has(ctx.rcpt.domain)) return;
      ctx.route.lmtp(target.url); // a malformed URL throws here: the RCPT fails closed and the log says why
    },
  ],
});
