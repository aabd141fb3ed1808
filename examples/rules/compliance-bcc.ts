// Journals the mail of some domains: every message from or to one of them gets one more envelope recipient,
// the compliance mailbox. It is a blind copy: no header field changes, so neither sender nor recipients see it.
//
// At preq rather than rcpt: the whole envelope is known by then, so the copy is added once per message
// however many recipients it has, and a message refused before the end of DATA gets none.
//
// Settings ([rules.settings]):
//   compliance_domains = ["finance.example.org"]        whose mail is copied (".example.org": and subdomains)
//   compliance_mailbox = "journal@archive.example.org"  where the copies go (required)

import { defineRules, domainList, perSettings, stringListSetting, stringSetting } from "petrel/rules";

const journalOf = perSettings((settings) => ({
  domains: domainList(stringListSetting(settings, "compliance_domains")),
  mailbox: stringSetting(settings, "compliance_mailbox"), // required
}));

export default defineRules({
  preq: [
    function complianceCopy(ctx) {
      const journal = journalOf(ctx.settings);
      const sender = ctx.envelope.sender;
      const fromDomain = sender.slice(sender.lastIndexOf("@") + 1); // "" for the null sender: in no list
      const involved = journal.domains.has(fromDomain) || ctx.envelope.recipients.some((recipient) => journal.domains.has(recipient.domain));
      if (!involved) return;
      ctx.envelope.addRecipient(journal.mailbox); // a bad address throws: the message fails closed (451)
      ctx.log.info("compliance copy", { mailbox: journal.mailbox });
    },
  ],
});
