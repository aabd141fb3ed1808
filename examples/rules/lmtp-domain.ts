// Hands the mail of some domains to a mailbox server over LMTP (Dovecot, Cyrus), instead of Petrel's own
// delivery: each recipient of those domains gets an LMTP route at RCPT, stored with it in the queue. Other
// recipients keep the default route. The mailbox server then says per recipient whether it took the message.
//
// The domains must also be in smtp.local_domains, or Petrel's relay control refuses them as any other domain.
//
// Settings ([rules.settings]):
//   lmtp_domains = ["example.org", ".example.org"]   domains (".example.org": and every domain under it)
//   lmtp_url     = "lmtp://127.0.0.1:24"             lmtp://host:port or unix:/path (default: lmtp://127.0.0.1:24)

import { defineRules, domainList, perSettings, stringListSetting, stringSetting } from "petrel/rules";

const targetOf = perSettings((settings) => ({
  domains: domainList(stringListSetting(settings, "lmtp_domains")),
  url: stringSetting(settings, "lmtp_url", "lmtp://127.0.0.1:24"),
}));

export default defineRules({
  rcpt: [
    function lmtpForDomain(ctx) {
      const target = targetOf(ctx.settings);
      if (!target.domains.has(ctx.rcpt.domain)) return;
      ctx.route.lmtp(target.url); // a malformed URL throws here: the RCPT fails closed and the log says why
    },
  ],
});
