// The lightest rule set for the benchmark's rules comparison (`npm run bench -- rules --rules
// bench/rules/one-liners.ts`): 20 rules at each of connect, helo, mail, rcpt and preq, each one comparison of a
// ctx field with a constant, all synchronous, no list, no regular expression, no header look-up. Set beside the
// default rule set (twenty-per-stage.ts, rules with realistic look-ups), it shows what the rule engine itself costs
// per rule: contexts, the runner, the calls. None of them decides for the benchmark's messages.

import { defineRules } from "petrel/rules";

export default defineRules({
  connect: [
    function notZeroPort(ctx) { if (ctx.connection.client.port === 0) return ctx.reject(); },
    function notEmptyAddress(ctx) { if (ctx.connection.client.address === "") return ctx.reject(); },
    function notBroadcast(ctx) { if (ctx.connection.client.address === "255.255.255.255") return ctx.reject(); },
    function notUnspecified(ctx) { if (ctx.connection.client.address === "0.0.0.0") return ctx.reject(); },
    function notForgedLocalhostName(ctx) { if (ctx.connection.client.name === "localhost.localdomain") return ctx.reject(); },
    function notLegacyListener(ctx) { if (ctx.connection.listener.name === "legacy") return ctx.reject(); },
    function notSubmissionWithoutTls(ctx) { if (ctx.connection.listener.role === "submissions" && ctx.connection.tls === null) return ctx.reject(); },
    function serverPortKnown(ctx) { if (ctx.connection.server.port === 0) return ctx.tempfail(); },
    function serverAddressKnown(ctx) { if (ctx.connection.server.address === "") return ctx.tempfail(); },
    function sessionIdPresent(ctx) { if (ctx.connection.id === "") return ctx.tempfail(); },
    function noUserYet(ctx) { if (ctx.connection.user === "root") return ctx.reject(); },
    function noHeloYet(ctx) { if (ctx.connection.helo === "forged") return ctx.reject(); },
    function settingsReadable(ctx) { if (ctx.settings.closed === true) return ctx.tempfail(); },
    function notPrivilegedPort(ctx) { if (ctx.connection.client.port === 25) return ctx.reject(); },
    function notMulticast(ctx) { if (ctx.connection.client.address === "224.0.0.1") return ctx.reject(); },
    function notDocumentation(ctx) { if (ctx.connection.client.address === "192.0.2.1") return ctx.reject(); },
    function notTestNet(ctx) { if (ctx.connection.client.address === "198.51.100.1") return ctx.reject(); },
    function notOtherTestNet(ctx) { if (ctx.connection.client.address === "203.0.113.1") return ctx.reject(); },
    function notNamedScanner(ctx) { if (ctx.connection.client.name === "scanner.example") return ctx.reject(); },
    function notNamedSpammer(ctx) { if (ctx.connection.client.name === "spammer.example") return ctx.reject(); },
  ],
  helo: [
    function notEmpty(ctx) { if (ctx.helo === "") return ctx.reject(); },
    function notLocalhost(ctx) { if (ctx.helo === "localhost") return ctx.reject(); },
    function notLocalhostDomain(ctx) { if (ctx.helo === "localhost.localdomain") return ctx.reject(); },
    function notOurName(ctx) { if (ctx.helo === "mx.petrel.example") return ctx.reject(); },
    function notOurDomain(ctx) { if (ctx.helo === "petrel.example") return ctx.reject(); },
    function notLoopbackLiteral(ctx) { if (ctx.helo === "[127.0.0.2]") return ctx.reject(); },
    function notTooLong(ctx) { if (ctx.helo.length > 255) return ctx.reject(); },
    function notUser(ctx) { if (ctx.helo === "user") return ctx.reject(); },
    function notFriend(ctx) { if (ctx.helo === "friend") return ctx.reject(); },
    function notExample(ctx) { if (ctx.helo === "example.com") return ctx.reject(); },
    function notMailServer(ctx) { if (ctx.helo === "mailserver") return ctx.reject(); },
    function notDomain(ctx) { if (ctx.helo === "domain") return ctx.reject(); },
    function notHost(ctx) { if (ctx.helo === "host") return ctx.reject(); },
    function notTest(ctx) { if (ctx.helo === "test") return ctx.reject(); },
    function notIpAddress(ctx) { if (ctx.helo === ctx.connection.client.address) return ctx.reject(); },
    function notServerAddress(ctx) { if (ctx.helo === ctx.connection.server.address) return ctx.reject(); },
    function notDot(ctx) { if (ctx.helo === ".") return ctx.reject(); },
    function notDash(ctx) { if (ctx.helo === "-") return ctx.reject(); },
    function notUnknown(ctx) { if (ctx.helo === "unknown") return ctx.reject(); },
    function notSpammer(ctx) { if (ctx.helo === "spammer.example") return ctx.reject(); },
  ],
  mail: [
    function notPostmasterForged(ctx) { if (ctx.envelope.sender === "postmaster@petrel.example") return ctx.reject(); },
    function notAbuseForged(ctx) { if (ctx.envelope.sender === "abuse@petrel.example") return ctx.reject(); },
    function notRoot(ctx) { if (ctx.envelope.sender === "root@localhost") return ctx.reject(); },
    function notSpammer(ctx) { if (ctx.envelope.sender === "spammer@example.com") return ctx.reject(); },
    function notTooLong(ctx) { if (ctx.envelope.sender.length > 254) return ctx.reject(); },
    function notHuge(ctx) { if ((ctx.mail.size ?? 0) > 100_000_000) return ctx.reject(); },
    function notBinary(ctx) { if (ctx.mail.body === "BINARYMIME") return ctx.reject(); },
    function notUtf8FromOutside(ctx) { if (ctx.mail.smtputf8 && ctx.connection.listener.name === "legacy") return ctx.reject(); },
    function notNoreply(ctx) { if (ctx.envelope.sender === "noreply@example.com") return ctx.reject(); },
    function notDaemon(ctx) { if (ctx.envelope.sender === "daemon@example.com") return ctx.reject(); },
    function notNobody(ctx) { if (ctx.envelope.sender === "nobody@example.com") return ctx.reject(); },
    function notTest(ctx) { if (ctx.envelope.sender === "test@example.com") return ctx.reject(); },
    function notInfo(ctx) { if (ctx.envelope.sender === "info@example.com") return ctx.reject(); },
    function notSales(ctx) { if (ctx.envelope.sender === "sales@example.com") return ctx.reject(); },
    function notAdmin(ctx) { if (ctx.envelope.sender === "admin@example.com") return ctx.reject(); },
    function notWebmaster(ctx) { if (ctx.envelope.sender === "webmaster@example.com") return ctx.reject(); },
    function notSupport(ctx) { if (ctx.envelope.sender === "support@example.com") return ctx.reject(); },
    function notBilling(ctx) { if (ctx.envelope.sender === "billing@example.com") return ctx.reject(); },
    function notSecurity(ctx) { if (ctx.envelope.sender === "security@example.com") return ctx.reject(); },
    function notHelpdesk(ctx) { if (ctx.envelope.sender === "helpdesk@example.com") return ctx.reject(); },
  ],
  rcpt: [
    function notTooLong(ctx) { if (ctx.rcpt.address.length > 254) return ctx.reject(); },
    function notRoot(ctx) { if (ctx.rcpt.local === "root") return ctx.reject(); },
    function notDaemon(ctx) { if (ctx.rcpt.local === "daemon") return ctx.reject(); },
    function notNobody(ctx) { if (ctx.rcpt.local === "nobody") return ctx.reject(); },
    function notBin(ctx) { if (ctx.rcpt.local === "bin") return ctx.reject(); },
    function notSys(ctx) { if (ctx.rcpt.local === "sys") return ctx.reject(); },
    function notWwwData(ctx) { if (ctx.rcpt.local === "www-data") return ctx.reject(); },
    function notBackup(ctx) { if (ctx.rcpt.local === "backup") return ctx.reject(); },
    function notList(ctx) { if (ctx.rcpt.local === "list") return ctx.reject(); },
    function notIrc(ctx) { if (ctx.rcpt.local === "irc") return ctx.reject(); },
    function notGames(ctx) { if (ctx.rcpt.local === "games") return ctx.reject(); },
    function notMan(ctx) { if (ctx.rcpt.local === "man") return ctx.reject(); },
    function notNews(ctx) { if (ctx.rcpt.local === "news") return ctx.reject(); },
    function notUucp(ctx) { if (ctx.rcpt.local === "uucp") return ctx.reject(); },
    function notProxy(ctx) { if (ctx.rcpt.local === "proxy") return ctx.reject(); },
    function notMail(ctx) { if (ctx.rcpt.local === "mail") return ctx.reject(); },
    function notLp(ctx) { if (ctx.rcpt.local === "lp") return ctx.reject(); },
    function notOldDomain(ctx) { if (ctx.rcpt.domain === "old.bench.test") return ctx.reject(); },
    function notGoneDomain(ctx) { if (ctx.rcpt.domain === "gone.bench.test") return ctx.reject(); },
    function notNotifyNever(ctx) { if (ctx.rcpt.orcpt === "rfc822;forbidden@bench.test") return ctx.reject(); },
  ],
  preq: [
    function notHuge(ctx) {
      if (ctx.message.size > 100_000_000) return ctx.reject(552, "5.3.4", "too big");
    },
    function notEmpty(ctx) {
      if (ctx.message.size === 0) return ctx.reject();
    },
    function notFromRoot(ctx) {
      if (ctx.envelope.sender === "root@bench.test") return ctx.reject();
    },
    function notFromDaemon(ctx) {
      if (ctx.envelope.sender === "daemon@bench.test") return ctx.reject();
    },
    function notFromLegacyListener(ctx) {
      if (ctx.connection.listener.name === "legacy") return ctx.reject();
    },
    function notTiny(ctx) {
      if (ctx.message.size < 10) return ctx.reject();
    },
    function notAuthenticatedAsRoot(ctx) {
      if (ctx.connection.user === "root") return ctx.reject();
    },
    function notFromScannerHelo(ctx) {
      if (ctx.connection.helo === "scanner.example") return ctx.reject();
    },
    function notOverQuotaSender(ctx) {
      if (ctx.envelope.sender === "overquota@bench.test") return ctx.reject();
    },
    function notBinaryBody(ctx) {
      if (ctx.mail.body === "BINARYMIME") return ctx.reject();
    },
    function notInternationalFromLegacy(ctx) {
      if (ctx.mail.smtputf8 && ctx.connection.listener.name === "legacy") return ctx.reject();
    },
    function notFromBroadcast(ctx) {
      if (ctx.connection.client.address === "255.255.255.255") return ctx.reject();
    },
    function notFromUnspecified(ctx) {
      if (ctx.connection.client.address === "0.0.0.0") return ctx.reject();
    },
    function notOverDeclaredSize(ctx) {
      if (ctx.mail.size !== undefined && ctx.message.size > ctx.mail.size * 2) return ctx.reject();
    },
    function notFromLocalhostName(ctx) {
      if (ctx.connection.client.name === "localhost.localdomain") return ctx.reject();
    },
    function notWithoutSession(ctx) {
      if (ctx.connection.id === "") return ctx.tempfail();
    },
    function notClosedBySettings(ctx) {
      if (ctx.settings.closed === true) return ctx.tempfail();
    },
    function notFromNobody(ctx) {
      if (ctx.envelope.sender === "nobody@bench.test") return ctx.reject();
    },
    function notFromTest(ctx) {
      if (ctx.envelope.sender === "test@bench.test") return ctx.reject();
    },
    function notFromPrivilegedPort(ctx) {
      if (ctx.connection.client.port === 25) return ctx.reject();
    },
  ],
});
