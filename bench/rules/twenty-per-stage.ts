// The rule set of the benchmark's rules comparison (issue 4): 20 simple rules at each of connect, helo, mail,
// rcpt and preq, of the kind an administrator writes (address, name and domain lists, a few regular
// expressions, header look-ups), each with a realistic lookup cost. Against the benchmark's load (smtp-source
// from 127.0.0.1, HELO client.bench.test, sender@bench.test to recipient@bench.test, headers From, To, Date
// and Message-Id) none of them decides: every rule returns nothing, so all 100 run for every message.
// One rule per stage is asynchronous (a look-up in a store that answers on a later turn, standing in for a
// greylist or reputation cache), so the asynchronous path is measured as well; it sits in the middle of its
// stage, so rules run both before and after it.
// The rule set must never give a verdict to the benchmark's messages: bench/rules/rule-sets.test.ts
// runs one of them through `petrel rules test` and checks that.

import { addressList, type ConnectContext, defineRules, domainList, isIp, type Networks, networks, type Verdict } from "petrel/rules";

/** `count` entries made from their index: lists of a realistic length without a page of literals. */
function entries(count: number, entry: (index: number) => string): string[] {
  return Array.from({ length: count }, (_, index) => entry(index));
}

/** Stands in for a shared store (greylist, reputation, quota): every look-up answers on a later turn. */
const store = new Map<string, number>();
async function lookUp(key: string): Promise<number | undefined> {
  await null;
  return store.get(key);
}

// connect: client networks refused outright, each list as an administrator would keep it.
const dropNetworks = networks(entries(60, (i) => `${100 + (i % 20)}.${i * 4}.0.0/14`));
const torExits = networks(entries(80, (i) => `185.220.${100 + (i % 4)}.${i}`));
const reservedNetworks = networks(["0.0.0.0/8", "192.0.2.0/24", "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24", "240.0.0.0/4", "2001:db8::/32"]);
const scanners = networks(entries(40, (i) => `45.${i}.${(i * 7) % 256}.0/24`));
const formerCustomers = networks(entries(30, (i) => `2a00:${(i + 1).toString(16)}::/32`));
const abusiveHosts = networks(entries(50, (i) => `91.${200 + (i % 50)}.${i}.${i + 1}`));
const countryBlocks = networks(entries(40, (i) => `${1 + i}.${64 + i}.0.0/16`));
const cloudRanges = networks(entries(30, (i) => `34.${i * 8}.0.0/13`));
const officeHoursOnly = networks(["10.20.0.0/16", "10.21.0.0/16"]);
const ourNetworks = networks(["127.0.0.0/8", "::1", "10.0.0.0/8"]);

/** A connect rule named `name` (the name logs show) that refuses the clients in `list`. */
function refusing(name: string, list: Networks): (ctx: ConnectContext) => Verdict | undefined {
  return { [name]: (ctx: ConnectContext) => (list.has(ctx.connection.client.address) ? ctx.reject() : undefined) }[name]!;
}

// helo and mail: names and domains refused.
const ourNames = domainList(["mx.petrel.example", ".petrel.example"]);
const spamHeloNames = domainList(entries(100, (i) => `.spam${i}.example`));
const bulkHeloNames = domainList(entries(50, (i) => `bulk${i}.example.net`));
const dynamicName = /(^|[.-])(dyn|dynamic|dsl|adsl|pool|dhcp|ppp|cable|broadband)[.-]/i;
const dottedQuadName = /\d{1,3}[-.]\d{1,3}[-.]\d{1,3}[-.]\d{1,3}/;
const blockedSenderDomains = domainList(entries(200, (i) => `.junk${i}.example`));
const freemailLookalikes = domainList(entries(40, (i) => `gmai${i}.example`));
const newlyRegistered = domainList(entries(300, (i) => `fresh${i}.example.org`));
const ourDomains = domainList(["petrel.example", ".petrel.example"]);
const blockedSenders = addressList(entries(100, (i) => `spammer${i}@example.com`));
const roleSenders = addressList(["noreply@", "no-reply@", "donotreply@"]);
const spamtraps = addressList(entries(50, (i) => `trap${i}@bench.test`));
const disabledMailboxes = addressList(entries(100, (i) => `former${i}@bench.test`));
const internalOnly = addressList(["all@bench.test", "staff@bench.test", "@lists.bench.test"]);
const suspiciousSubject = /\b(viagra|lottery|winner|bitcoin|wire transfer)\b/i;
const bulkMailer = /^(PHPMailer|MassMailer|Sendblaster)/i;
const MAX_MESSAGE_BYTES = 50 * 2 ** 20;
const MAX_RECIPIENTS = 100;

export default defineRules({
  connect: [
    refusing("notOnDropList", dropNetworks),
    refusing("notTorExit", torExits),
    refusing("notReserved", reservedNetworks),
    refusing("notScanner", scanners),
    refusing("notFormerCustomer", formerCustomers),
    refusing("notAbusive", abusiveHosts),
    refusing("notBlockedCountry", countryBlocks),
    refusing("notCloudRange", cloudRanges),
    function reverseNameKnown(ctx) {
      if (ctx.connection.client.name === null && !ourNetworks.has(ctx.connection.client.address)) return ctx.tempfail("no reverse name");
    },
    function notDynamicName(ctx) {
      const name = ctx.connection.client.name;
      if (name !== null && dynamicName.test(name)) return ctx.reject("dynamic address, use your provider's relay");
    },
    async function notGreylisted(ctx) {
      const since = await lookUp(`connect:${ctx.connection.client.address}`);
      if (since !== undefined && ctx.now.getTime() - since < 300_000) return ctx.tempfail("greylisted, try later");
    },
    function notDottedQuadName(ctx) {
      const name = ctx.connection.client.name;
      if (name !== null && dottedQuadName.test(name)) return ctx.reject("generic reverse name");
    },
    function plainMtaListener(ctx) {
      if (ctx.connection.listener.role !== "mta" && ctx.connection.tls === null && ctx.connection.listener.name === "legacy") return ctx.reject();
    },
    function officeHours(ctx) {
      const hour = ctx.now.getUTCHours();
      if (officeHoursOnly.has(ctx.connection.client.address) && (hour < 7 || hour > 19)) return ctx.tempfail("office hours only");
    },
    function clientPortKnown(ctx) {
      if (ctx.connection.client.port === 0) return ctx.reject("no client port");
    },
    function knownServerAddress(ctx) {
      if (!isIp(ctx.connection.server.address)) return ctx.tempfail();
    },
    function notBlockedIpv6(ctx) {
      const address = ctx.connection.client.address;
      if (address.includes(":") && !address.startsWith("::ffff:") && formerCustomers.has(address)) return ctx.reject();
    },
    function settingsLimit(ctx) {
      const limit = ctx.settings.connect_limit;
      if (typeof limit === "number" && limit <= 0) return ctx.tempfail();
    },
    function notLocalhostFromOutside(ctx) {
      if (ctx.connection.client.name === "localhost" && !ourNetworks.has(ctx.connection.client.address)) return ctx.reject("forged localhost");
    },
    function sessionIdPresent(ctx) {
      if (ctx.connection.id.length === 0) return ctx.tempfail();
    },
  ],

  helo: [
    function notClaimingOurName(ctx) {
      if (ourNames.has(ctx.helo) && !ourNetworks.has(ctx.connection.client.address)) return ctx.reject("that is my name");
    },
    function notSpamHelo(ctx) {
      if (spamHeloNames.has(ctx.helo)) return ctx.reject();
    },
    function notBulkHelo(ctx) {
      if (bulkHeloNames.has(ctx.helo)) return ctx.reject();
    },
    function notBareIp(ctx) {
      if (isIp(ctx.helo)) return ctx.reject(550, "5.7.1", "an address literal is written [192.0.2.1]");
    },
    function fullyQualified(ctx) {
      if (!ctx.helo.startsWith("[") && !ctx.helo.includes(".")) return ctx.reject("HELO must be a fully qualified name");
    },
    function notLocalhost(ctx) {
      if (/^localhost(\.localdomain)?$/i.test(ctx.helo) && !ourNetworks.has(ctx.connection.client.address)) return ctx.reject();
    },
    function notDynamicHelo(ctx) {
      if (dynamicName.test(ctx.helo)) return ctx.reject();
    },
    function notDottedQuadHelo(ctx) {
      if (dottedQuadName.test(ctx.helo)) return ctx.reject();
    },
    function validCharacters(ctx) {
      if (/[^A-Za-z0-9.\-[\]:_]/.test(ctx.helo)) return ctx.reject("invalid HELO name");
    },
    function notTooLong(ctx) {
      if (ctx.helo.length > 255) return ctx.reject();
    },
    async function heloReputation(ctx) {
      const score = await lookUp(`helo:${ctx.helo.toLowerCase()}`);
      if (score !== undefined && score > 10) return ctx.reject("bad reputation");
    },
    function literalMatchesClient(ctx) {
      if (ctx.helo.startsWith("[") && ctx.helo.slice(1, -1).replace(/^IPv6:/i, "") !== ctx.connection.client.address) return ctx.reject();
    },
    function notOurAddress(ctx) {
      if (ctx.helo === `[${ctx.connection.server.address}]`) return ctx.reject();
    },
    function noTrailingDot(ctx) {
      if (ctx.helo.endsWith("..")) return ctx.reject();
    },
    function notNumericTld(ctx) {
      if (/\.\d+$/.test(ctx.helo) && !ctx.helo.startsWith("[")) return ctx.reject();
    },
    function labelsNotTooLong(ctx) {
      if (ctx.helo.split(".").some((label) => label.length > 63)) return ctx.reject();
    },
    function notUnderscoreName(ctx) {
      if (ctx.helo.startsWith("_")) return ctx.reject();
    },
    function notHyphenEdge(ctx) {
      if (/(^|\.)-|-(\.|$)/.test(ctx.helo)) return ctx.reject();
    },
    function reverseNameNotOurs(ctx) {
      const name = ctx.connection.client.name;
      if (name !== null && name !== "localhost" && ourNames.has(name) && !ourNames.has(ctx.helo)) return ctx.reject();
    },
    function notBlockedHeloFromDrop(ctx) {
      if (dropNetworks.has(ctx.connection.client.address) && ctx.helo.length > 0) return ctx.reject();
    },
  ],

  mail: [
    function notBlockedDomain(ctx) {
      if (blockedSenderDomains.has(domainOf(ctx.envelope.sender))) return ctx.reject("sender domain refused");
    },
    function notFreemailLookalike(ctx) {
      if (freemailLookalikes.has(domainOf(ctx.envelope.sender))) return ctx.reject();
    },
    function notNewlyRegistered(ctx) {
      if (newlyRegistered.has(domainOf(ctx.envelope.sender))) return ctx.tempfail("domain too new, try later");
    },
    function notBlockedSender(ctx) {
      if (blockedSenders.has(ctx.envelope.sender)) return ctx.reject();
    },
    function notRoleSenderFromOutside(ctx) {
      if (roleSenders.has(ctx.envelope.sender) && ctx.connection.user === null && !ourNetworks.has(ctx.connection.client.address)) return ctx.reject();
    },
    function notSpoofingOurDomain(ctx) {
      if (ourDomains.has(domainOf(ctx.envelope.sender)) && ctx.connection.user === null && !ourNetworks.has(ctx.connection.client.address)) {
        return ctx.reject("you are not one of us");
      }
    },
    function declaredSizeFits(ctx) {
      if (ctx.mail.size !== undefined && ctx.mail.size > MAX_MESSAGE_BYTES) return ctx.reject(552, "5.3.4", "too big");
    },
    function bouncesOnlyFromMtas(ctx) {
      if (ctx.envelope.sender === "" && ctx.connection.listener.role !== "mta") return ctx.reject();
    },
    function noSmtputf8FromLegacy(ctx) {
      if (ctx.mail.smtputf8 && ctx.connection.helo === null) return ctx.reject();
    },
    function localPartSane(ctx) {
      const sender = ctx.envelope.sender;
      if (/^[.-]|\.\.|[.]@/.test(sender)) return ctx.reject("malformed sender");
    },
    async function senderReputation(ctx) {
      const score = await lookUp(`sender:${ctx.envelope.sender.toLowerCase()}`);
      if (score !== undefined && score > 10) return ctx.reject("bad reputation");
    },
    function notRandomLocalPart(ctx) {
      if (/^[a-z0-9]{24,}@/i.test(ctx.envelope.sender)) return ctx.reject();
    },
    function bodyTypeKnown(ctx) {
      if (ctx.mail.body !== undefined && ctx.mail.body !== "7BIT" && ctx.mail.body !== "8BITMIME" && ctx.mail.body !== "BINARYMIME") return ctx.reject();
    },
    function senderNotTooLong(ctx) {
      if (ctx.envelope.sender.length > 254) return ctx.reject();
    },
    function notFromSpamtrap(ctx) {
      if (spamtraps.has(ctx.envelope.sender)) return ctx.reject();
    },
    function heloMatchesSenderForUs(ctx) {
      if (ctx.connection.helo !== null && ourNames.has(ctx.connection.helo) && !ourDomains.has(domainOf(ctx.envelope.sender))) return ctx.reject();
    },
    function noRecipientsYet(ctx) {
      if (ctx.envelope.recipients.length > 0) return ctx.tempfail();
    },
    function submissionNeedsUser(ctx) {
      if (ctx.connection.listener.role === "submission" && ctx.connection.user === null) return ctx.reject();
    },
    function notDisabledSender(ctx) {
      if (disabledMailboxes.has(ctx.envelope.sender)) return ctx.reject("that mailbox is closed");
    },
    function notDropNetworkSender(ctx) {
      if (dropNetworks.has(ctx.connection.client.address) && ctx.envelope.sender !== "") return ctx.reject();
    },
  ],

  rcpt: [
    function notSpamtrap(ctx) {
      if (spamtraps.has(ctx.rcpt.address)) return ctx.discard();
    },
    function notDisabled(ctx) {
      if (disabledMailboxes.has(ctx.rcpt.address)) return ctx.reject(550, "5.1.1", "mailbox closed");
    },
    function internalListsFromInside(ctx) {
      if (internalOnly.has(ctx.rcpt.address) && !ourNetworks.has(ctx.connection.client.address)) return ctx.reject();
    },
    function noRelayForStrangers(ctx) {
      if (!ctx.rcpt.isLocal && ctx.connection.user === null && !ourNetworks.has(ctx.connection.client.address)) return ctx.reject("relay denied");
    },
    function notToBlockedDomain(ctx) {
      if (blockedSenderDomains.has(ctx.rcpt.domain)) return ctx.reject();
    },
    function recipientLimit(ctx) {
      if (ctx.envelope.recipients.length >= MAX_RECIPIENTS) return ctx.tempfail(452, "4.5.3", "too many recipients");
    },
    function noPlusAbuse(ctx) {
      if ((ctx.rcpt.local.match(/\+/g)?.length ?? 0) > 1) return ctx.reject();
    },
    function localPartSane(ctx) {
      if (/^[.-]|\.\.|\.$/.test(ctx.rcpt.local)) return ctx.reject("malformed recipient");
    },
    function noBounceToMany(ctx) {
      if (ctx.envelope.sender === "" && ctx.envelope.recipients.length > 0) return ctx.reject("a bounce has one recipient");
    },
    function noSelfRoutes(ctx) {
      if (ctx.rcpt.route !== null && ctx.rcpt.route.kind === "relay" && ctx.rcpt.isLocal) return ctx.reject();
    },
    async function mailboxQuota(ctx) {
      const used = await lookUp(`quota:${ctx.rcpt.address}`);
      if (used !== undefined && used > 1000) return ctx.tempfail(452, "4.2.2", "mailbox full");
    },
    function notToFreemailLookalike(ctx) {
      if (freemailLookalikes.has(ctx.rcpt.domain)) return ctx.reject();
    },
    function notToNewlyRegistered(ctx) {
      if (!ctx.rcpt.isLocal && newlyRegistered.has(ctx.rcpt.domain)) return ctx.reject();
    },
    function notToOurNamesFromOutside(ctx) {
      if (ourNames.has(ctx.rcpt.domain) && !ctx.rcpt.isLocal) return ctx.reject();
    },
    function notToRoleFromBulk(ctx) {
      if (roleSenders.has(ctx.rcpt.address)) return ctx.reject();
    },
    function recipientNotTooLong(ctx) {
      if (ctx.rcpt.address.length > 254) return ctx.reject();
    },
    function noSenderAsRecipient(ctx) {
      if (ctx.rcpt.address === ctx.envelope.sender && blockedSenders.has(ctx.envelope.sender)) return ctx.reject();
    },
    function notDuplicate(ctx) {
      if (ctx.envelope.recipients.some((recipient) => recipient.address === ctx.rcpt.address)) return ctx.reject("duplicate recipient");
    },
    function notifyKnown(ctx) {
      if (ctx.rcpt.notify?.some((value) => !["NEVER", "SUCCESS", "FAILURE", "DELAY"].includes(value))) return ctx.reject();
    },
    function notFromDropToUs(ctx) {
      if (ctx.rcpt.isLocal && dropNetworks.has(ctx.connection.client.address)) return ctx.reject();
    },
  ],

  preq: [
    function hasFrom(ctx) {
      if (!ctx.message.headers.has("From")) return ctx.reject("a message needs a From header");
    },
    function hasDate(ctx) {
      const date = ctx.message.headers.get("Date");
      if (date !== undefined && Number.isNaN(Date.parse(date.replace(/\s*\(.*\)$/, "")))) return ctx.reject("unreadable Date");
    },
    function hasMessageId(ctx) {
      if (!ctx.message.headers.has("Message-ID") && ctx.connection.listener.role === "mta") return ctx.reject("no Message-ID");
    },
    function notLooping(ctx) {
      if (ctx.message.headers.count("Received") > 30) return ctx.reject(554, "5.4.6", "mail loop");
    },
    function subjectNotSpam(ctx) {
      const subject = ctx.message.headers.getDecoded("Subject");
      if (subject !== undefined && suspiciousSubject.test(subject)) return ctx.quarantine("spam");
    },
    function notBulkMailer(ctx) {
      const mailer = ctx.message.headers.get("X-Mailer");
      if (mailer !== undefined && bulkMailer.test(mailer)) return ctx.quarantine("bulk");
    },
    function notSpamFlagged(ctx) {
      if (ctx.message.headers.get("X-Spam-Flag")?.toUpperCase() === "YES") return ctx.quarantine("spam");
    },
    function sizeFits(ctx) {
      if (ctx.message.size > MAX_MESSAGE_BYTES) return ctx.reject(552, "5.3.4", "too big");
    },
    function fromNotBlocked(ctx) {
      const from = ctx.message.headers.get("From");
      const address = from === undefined ? "" : (/<([^>]*)>/.exec(from)?.[1] ?? from);
      if (blockedSenderDomains.has(domainOf(address))) return ctx.reject();
    },
    function fromNotSpoofingUs(ctx) {
      const from = ctx.message.headers.get("From") ?? "";
      if (/@petrel\.example\b/i.test(from) && !ourNetworks.has(ctx.connection.client.address)) return ctx.quarantine("spoofed");
    },
    async function checksumSeen(ctx) {
      const seen = await lookUp(`message:${ctx.message.headers.get("Message-ID") ?? ""}`);
      if (seen !== undefined && seen > 20) return ctx.quarantine("bulk");
    },
    function replyToNotElsewhere(ctx) {
      const replyTo = ctx.message.headers.get("Reply-To");
      if (replyTo !== undefined && freemailLookalikes.has(domainOf(replyTo.replace(/[<>]/g, "")))) return ctx.quarantine("phishing");
    },
    function noReturnPath(ctx) {
      if (ctx.message.headers.has("Return-Path") && ctx.connection.listener.role === "submission") return ctx.reject();
    },
    function bulkHasUnsubscribe(ctx) {
      if (ctx.message.headers.get("Precedence") === "bulk" && !ctx.message.headers.has("List-Unsubscribe")) return ctx.reject();
    },
    function noAutoReplyToBounce(ctx) {
      const auto = ctx.message.headers.get("Auto-Submitted");
      if (auto !== undefined && auto !== "no" && ctx.envelope.sender === "") return ctx.discard();
    },
    function contentTypeKnown(ctx) {
      const type = ctx.message.headers.get("Content-Type");
      if (type !== undefined && !/^(text|multipart|message|application|image|audio|video)\//i.test(type)) return ctx.reject();
    },
    function hasRecipients(ctx) {
      if (ctx.envelope.recipients.length === 0) return ctx.reject();
    },
    function toHeaderPresent(ctx) {
      if (!ctx.message.headers.has("To") && !ctx.message.headers.has("Cc") && ctx.connection.listener.role === "submission") return ctx.reject();
    },
    function notTooManyHeaders(ctx) {
      if (ctx.message.headers.names().length > 500) return ctx.reject();
    },
    function subjectNotTooLong(ctx) {
      if ((ctx.message.headers.get("Subject")?.length ?? 0) > 998) return ctx.reject();
    },
  ],
});

/** The domain of an address ("" for the null sender or an address without one). */
function domainOf(address: string): string {
  const at = address.lastIndexOf("@");
  return at === -1 ? "" : address.slice(at + 1);
}
