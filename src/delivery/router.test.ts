import { test } from "node:test";
import assert from "node:assert/strict";
import { configSchema } from "../config/schema.ts";
import type { SpoolRecipient } from "../queue/envelope.ts";
import { Router } from "./router.ts";
import { hopKey, hopLabel, parseNextHop } from "./next-hop.ts";

function router(delivery: Record<string, unknown> = {}): Router {
  return new Router(configSchema.parse({ smtp: { local_domains: ["petrel.test"] }, delivery: { maildir: "/var/mail/%d/%l", mbox: "/var/mbox/%l", ...delivery } }));
}

const to = (address: string, route?: SpoolRecipient["route"]): SpoolRecipient => ({ address, status: "pending", ...(route === undefined ? {} : { route }) });

test("local domains go to the local transport, with the place filled in lower-case", () => {
  assert.deepEqual(router().route(to("Alice@Petrel.test")), { hop: { kind: "maildir", path: "/var/mail/petrel.test/alice" } });
  assert.deepEqual(router({ local_transport: "mbox" }).route(to("bob@petrel.test")), { hop: { kind: "mbox", path: "/var/mbox/bob" } });
  assert.deepEqual(router({ local_transport: "lmtp", lmtp: "lmtp://127.0.0.1:24" }).route(to("bob@petrel.test")), { hop: { kind: "lmtp", host: "127.0.0.1", port: 24 } });
  assert.deepEqual(router({ local_transport: "lmtp", lmtp: "unix:/run/dovecot/lmtp" }).route(to("bob@petrel.test")), { hop: { kind: "lmtp-socket", path: "/run/dovecot/lmtp" } });
});

test("an internationalised local domain, written either way, is local, and its mail lands in one place (ASCII form)", () => {
  const idn = new Router(configSchema.parse({ smtp: { local_domains: ["Bücher.Example"] }, delivery: { maildir: "/var/mail/%d/%l" } }));
  assert.deepEqual(idn.route(to("jörg@bücher.example")), { hop: { kind: "maildir", path: "/var/mail/xn--bcher-kva.example/jörg" } });
  assert.deepEqual(idn.route(to("anna@XN--BCHER-KVA.example")), { hop: { kind: "maildir", path: "/var/mail/xn--bcher-kva.example/anna" } });
  assert.deepEqual(idn.route(to("anna@example.org")), { hop: { kind: "mx", domain: "example.org" } });
  assert.deepEqual(configSchema.parse({ smtp: { local_domains: ["Bücher.Example.", "EXAMPLE.org"] } }).smtp.local_domains, ["xn--bcher-kva.example", "example.org"]);
});

test("a local part that would leave the mailbox place is refused with 5.1.3", () => {
  for (const address of ['"../root"@petrel.test', ".hidden@petrel.test", '"a/b"@petrel.test']) {
    const routed = router().route(to(address));
    assert.ok("refused" in routed, address);
    assert.equal(routed.refused.status, "5.1.3");
    assert.equal(routed.refused.kind, "failed");
  }
});

test("other domains: transports map (exact, then .parent), then the relay host, then MX", () => {
  const transports = { "partner.example": "smtp://10.0.0.5:25", ".corp.example": { url: "smtps://gw.corp.example:465", credentials: "corp" }, "archive.example": "maildir:/srv/archive/%a" };
  const r = router({ transports, relay: { url: "smtp://smarthost.example:587", tls: "required" } });
  assert.deepEqual(r.route(to("x@partner.example")), { hop: { kind: "smtp", host: "10.0.0.5", port: 25, tls: "opportunistic" } });
  assert.deepEqual(r.route(to("x@eu.corp.example")), { hop: { kind: "smtp", host: "gw.corp.example", port: 465, tls: "implicit", credentials: "corp" } });
  assert.deepEqual(r.route(to("X@archive.example")), { hop: { kind: "maildir", path: "/srv/archive/x@archive.example" } });
  assert.deepEqual(r.route(to("x@elsewhere.example")), { hop: { kind: "smtp", host: "smarthost.example", port: 587, tls: "required" } });
  assert.deepEqual(router().route(to("x@elsewhere.example")), { hop: { kind: "mx", domain: "elsewhere.example" } });
});

test("a rule's route wins over the configuration", () => {
  const r = router({ relay: "smtp://smarthost.example:25" });
  assert.deepEqual(r.route(to("x@petrel.test", { kind: "mx" })), { hop: { kind: "mx", domain: "petrel.test" } });
  assert.deepEqual(r.route(to("x@elsewhere.example", { kind: "relay", url: "smtp://10.1.1.1:2525", tls: "none" })), { hop: { kind: "smtp", host: "10.1.1.1", port: 2525, tls: "none" } });
  assert.deepEqual(r.route(to("x@elsewhere.example", { kind: "mbox", path: "/srv/mbox/%l" })), { hop: { kind: "mbox", path: "/srv/mbox/x" } });
  assert.deepEqual(r.route(to("x@elsewhere.example", { kind: "lmtp", url: "lmtp://[::1]:24" })), { hop: { kind: "lmtp", host: "::1", port: 24 } });
});

test("next hops: one key per destination, a label for the log", () => {
  const relay = parseNextHop("smtp://[2001:db8::1]:25", "example.com");
  assert.equal(hopLabel(relay), "smtp://[2001:db8::1]:25");
  assert.notEqual(hopKey(relay), hopKey(parseNextHop("smtp://[2001:db8::1]:25", "example.com", { tls: "required" })));
  assert.equal(hopKey(parseNextHop("mx", "a.example")), "mx:a.example");
  assert.equal(hopLabel(parseNextHop("smtps://relay.example:465", "x")), "smtps://relay.example:465");
  assert.throws(() => parseNextHop("ftp://x:2121", "x"), /unknown scheme/);
  // A rule's relay route may leave the port out: the scheme's port (test/delivery-relay.test.ts).
  assert.deepEqual(parseNextHop("smtp://x", "x"), { kind: "smtp", host: "x", port: 25, tls: "opportunistic" });
  assert.equal(hopLabel(parseNextHop("smtps://x", "x")), "smtps://x:465");
  for (const url of ["smtp://x:0", "smtp://[::1", "smtp://u:p@x:25", "smtp://x:25/path", "smtp://x:25?q", "lmtp://:24"]) {
    assert.throws(() => parseNextHop(url, "x"), /expected scheme:\/\/host\[:port\]/, url);
  }
  // Certificate verification switched off is a destination of its own: no connection is shared with a verified one.
  const unverified = parseNextHop("smtp://x:25", "x", { tls: "required", verify: false });
  assert.deepEqual(unverified, { kind: "smtp", host: "x", port: 25, tls: "required", verify: false });
  assert.notEqual(hopKey(unverified), hopKey(parseNextHop("smtp://x:25", "x", { tls: "required" })));
  assert.deepEqual(parseNextHop("smtp://x:25", "x", { tls: "required", verify: true }), { kind: "smtp", host: "x", port: 25, tls: "required" });
});
