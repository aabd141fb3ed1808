// The destination plan against a real DNS server on loopback: dnsmasq answering for the zone "test" (and "1",
// so that a name like 192.0.2.1 gets NXDOMAIN), REFUSED for every other zone; a UDP socket that never answers
// stands for a server gone quiet.

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { createSocket, type Socket } from "node:dgram";
import { type Dnsmasq, startDnsmasq } from "../../test/support/dnsmasq.ts";
import { DnsResolver } from "../dns/resolver.ts";
import { type DestinationPlan, resolveDestination } from "./mx-destination.ts";

let dnsmasq: Dnsmasq | undefined;
let server = "";
let silent: Socket;
let silentQueries = 0;

before(async () => {
  silent = createSocket("udp4");
  silent.on("message", () => silentQueries++);
  await new Promise<void>((resolve) => silent.bind(0, "127.0.0.1", resolve));
  dnsmasq = await startDnsmasq([
    "--local=/test/", "--local=/1/",
    "--mx-host=mx.test,a.mx.test,10", "--mx-host=mx.test,b.mx.test,10", "--mx-host=mx.test,c.mx.test,20",
    "--host-record=a.mx.test,192.0.2.11,2001:db8::11", "--host-record=b.mx.test,192.0.2.12", "--host-record=c.mx.test,192.0.2.13",
    "--dns-rr=null.test,15,000000",
    "--host-record=implicit.test,192.0.2.20,2001:db8::20",
    "--txt-record=bare.test,no mail here", "--txt-record=noaddr.test,no address here",
    "--mx-host=skip.test,ghost.skip.test,10", "--mx-host=skip.test,noaddr.test,15", "--mx-host=skip.test,c.mx.test,20",
    "--mx-host=dead.test,ghost.dead.test,10", "--mx-host=dead.test,noaddr.test,20",
    "--mx-host=later.test,ghost.later.test,10", "--mx-host=later.test,mx.elsewhere.example,20",
    "--mx-host=v6.test,mail.v6.test,10", "--host-record=mail.v6.test,2001:db8::60",
    "--mx-host=literal-mx.test,192.0.2.1,10", "--mx-host=literal-mx.test,c.mx.test,20",
    "--mx-host=dup.test,a.mx.test,10", "--mx-host=dup.test,a.mx.test,30",
  ], "c.mx.test");
  server = dnsmasq.server;
});

after(async () => {
  silent?.close();
  await dnsmasq?.stop();
});

const BOTH = ["ipv4", "ipv6"] as const;

function plan(domain: string, families: readonly ("ipv4" | "ipv6")[] = BOTH, resolver = new DnsResolver({ servers: [server], timeout: 2000, attempts: 1 })) {
  return resolveDestination(resolver, domain, { port: 2525, families });
}

function hostsOf(destination: DestinationPlan) {
  assert.equal(destination.kind, "hosts", JSON.stringify(destination));
  return destination.kind === "hosts" ? destination.hosts : [];
}

test("MX hosts in preference order, each with its addresses; the port is carried into the plan", async () => {
  const destination = await plan("mx.test");
  assert.equal(destination.kind === "hosts" && destination.port, 2525);
  const hosts = hostsOf(destination).toSorted((x, y) => x.preference - y.preference || x.name.localeCompare(y.name));
  assert.deepEqual(hosts, [
    { name: "a.mx.test", preference: 10, addresses: [{ address: "192.0.2.11", family: 4 }, { address: "2001:db8::11", family: 6 }] },
    { name: "b.mx.test", preference: 10, addresses: [{ address: "192.0.2.12", family: 4 }] },
    { name: "c.mx.test", preference: 20, addresses: [{ address: "192.0.2.13", family: 4 }] },
  ]);
});

test("hosts of equal preference come in random order, the higher preference always after them", async () => {
  // One resolver with its cache on: dnsmasq is asked once, so any change of order is the plan's shuffle.
  const resolver = new DnsResolver({ servers: [server], timeout: 2000, attempts: 1 });
  const firsts = new Set<string>();
  for (let round = 0; round < 50; round++) {
    const names = hostsOf(await plan("mx.test", BOTH, resolver)).map((host) => host.name);
    assert.equal(names[2], "c.mx.test");
    firsts.add(names[0] ?? "");
  }
  assert.deepEqual([...firsts].sort(), ["a.mx.test", "b.mx.test"], "both orders over 50 plans (the chance to miss one is 2^-49)");
});

test("a null MX fails for good with 5.1.10 (RFC 7505)", async () => {
  const destination = await plan("null.test");
  assert.deepEqual({ ...destination, diagnostic: "" }, { kind: "failed", temporary: false, status: "5.1.10", diagnostic: "" });
  assert.match(destination.kind === "failed" ? destination.diagnostic : "", /null MX/);
});

test("a domain without MX is its own and only host (the implicit MX)", async () => {
  assert.deepEqual(hostsOf(await plan("Implicit.test.")), [
    { name: "implicit.test", preference: 0, addresses: [{ address: "192.0.2.20", family: 4 }, { address: "2001:db8::20", family: 6 }] },
  ]);
});

test("a domain that does not exist fails for good with 5.1.2", async () => {
  const destination = await plan("nowhere.test");
  assert.equal(destination.kind, "failed");
  assert.deepEqual(destination.kind === "failed" && [destination.temporary, destination.status], [false, "5.1.2"]);
  assert.match(destination.kind === "failed" ? destination.diagnostic : "", /nowhere\.test.*NXDOMAIN/);
});

test("a REFUSED and a server that never answers are temporary: 4.4.3", async () => {
  const quiet = new DnsResolver({ servers: [`127.0.0.1:${silent.address().port}`], timeout: 200, attempts: 1 });
  for (const destination of [await plan("elsewhere.example"), await plan("quiet.example", BOTH, quiet)]) {
    assert.deepEqual(destination.kind === "failed" && [destination.temporary, destination.status], [true, "4.4.3"], JSON.stringify(destination));
  }
});

test("an MX host without address is skipped (NXDOMAIN, NODATA), the others kept in order", async () => {
  assert.deepEqual(hostsOf(await plan("skip.test")), [{ name: "c.mx.test", preference: 20, addresses: [{ address: "192.0.2.13", family: 4 }] }]);
});

test("no MX host with an address: 5.4.4 for good, 4.4.3 when a lookup failed for now; no MX and no address: 5.1.2", async () => {
  const dead = await plan("dead.test");
  assert.deepEqual(dead.kind === "failed" && [dead.temporary, dead.status], [false, "5.4.4"], JSON.stringify(dead));
  assert.match(dead.kind === "failed" ? dead.diagnostic : "", /ghost\.dead\.test.*noaddr\.test/);
  const later = await plan("later.test");
  assert.deepEqual(later.kind === "failed" && [later.temporary, later.status], [true, "4.4.3"], JSON.stringify(later));
  const bare = await plan("bare.test");
  assert.deepEqual(bare.kind === "failed" && [bare.temporary, bare.status], [false, "5.1.2"], JSON.stringify(bare));
});

test("an IPv6-only MX host is used over IPv6, and has no usable address when only IPv4 is used", async () => {
  assert.deepEqual(hostsOf(await plan("v6.test")), [{ name: "mail.v6.test", preference: 10, addresses: [{ address: "2001:db8::60", family: 6 }] }]);
  const v4only = await plan("v6.test", ["ipv4"]);
  assert.deepEqual(v4only.kind === "failed" && [v4only.temporary, v4only.status], [false, "5.4.4"], JSON.stringify(v4only));
});

test("families order the addresses within each host", async () => {
  const [v6first] = hostsOf(await plan("implicit.test", ["ipv6", "ipv4"]));
  assert.deepEqual(v6first?.addresses.map((a) => a.family), [6, 4]);
  const [v4first] = hostsOf(await plan("implicit.test", ["ipv4", "ipv6"]));
  assert.deepEqual(v4first?.addresses.map((a) => a.family), [4, 6]);
});

test("an address literal is that address, without a DNS question; a bad one or a family not used fails for good", async () => {
  const quiet = new DnsResolver({ servers: [`127.0.0.1:${silent.address().port}`], timeout: 1000, attempts: 1 });
  const queriesBefore = silentQueries;
  assert.deepEqual(hostsOf(await plan("[192.0.2.1]", BOTH, quiet)), [{ name: "[192.0.2.1]", preference: 0, addresses: [{ address: "192.0.2.1", family: 4 }] }]);
  assert.deepEqual(hostsOf(await plan("[IPv6:2001:db8::1]", BOTH, quiet)), [
    { name: "[IPv6:2001:db8::1]", preference: 0, addresses: [{ address: "2001:db8::1", family: 6 }] },
  ]);
  assert.equal(hostsOf(await plan("[ipv6:2001:db8::2]", BOTH, quiet))[0]?.addresses[0]?.address, "2001:db8::2");
  assert.equal(silentQueries, queriesBefore, "no DNS question for a literal");
  for (const bad of ["[300.1.2.3]", "[2001:db8::1]", "[IPv6:192.0.2.1]", "[192.0.2.1"]) {
    const destination = await plan(bad, BOTH, quiet);
    assert.deepEqual(destination.kind === "failed" && [destination.temporary, destination.status], [false, "5.1.3"], bad);
  }
  const v4only = await plan("[IPv6:2001:db8::1]", ["ipv4"], quiet);
  assert.deepEqual(v4only.kind === "failed" && [v4only.temporary, v4only.status], [false, "5.4.4"]);
});

test("an MX that names an address is looked up as a name, not used as an address (RFC 5321 §5.1)", async () => {
  assert.deepEqual(hostsOf(await plan("literal-mx.test")), [{ name: "c.mx.test", preference: 20, addresses: [{ address: "192.0.2.13", family: 4 }] }]);
});

test("an MX host named twice is tried once, at its best preference", async () => {
  assert.deepEqual(hostsOf(await plan("dup.test", ["ipv4"])), [{ name: "a.mx.test", preference: 10, addresses: [{ address: "192.0.2.11", family: 4 }] }]);
});
