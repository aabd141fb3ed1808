// The resolver against real DNS servers on loopback: dnsmasq answering for the zone "test" (records from its
// command line, NXDOMAIN for unknown names in it, REFUSED for every other zone), a second dnsmasq
// authoritative for "neg.test" (negative answers carry an SOA, for RFC 2308 caching), and small fake servers
// written here for what dnsmasq will not do on demand: SERVFAIL, silence, spoofed replies, a TC bit with a
// different answer over TCP, FORMERR to EDNS. The cache's clock is moved with the `now` option; dnsmasq's
// query log (--log-queries=extra) tells whether a question reached the server.

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { createSocket, type Socket } from "node:dgram";
import { Resolver } from "node:dns/promises";
import { createServer, type Server } from "node:net";
import dnsPacket from "dns-packet";
import type { DecodedPacket, Packet } from "dns-packet";
import { startDnsmasq as startLoggingDnsmasq } from "../../test/support/dnsmasq.ts";
import { parseServer } from "./dns-client.ts";
import { DnsError, DnsResolver, type DnsResolverOptions } from "./resolver.ts";

type Dnsmasq = {
  readonly server: string;
  /** How many times `name` was asked for `type` so far (every earlier query is in the log by then). */
  asked(name: string, type: string): Promise<number>;
  stop(): Promise<void>;
};

/** The hex data of an MX record for --dns-rr: preference, then the exchange as DNS labels ("" = the root). */
function mxData(preference: number, exchange: string): string {
  const labels = exchange === "" ? [] : exchange.split(".");
  const name = Buffer.concat([...labels.map((label) => Buffer.concat([Buffer.from([label.length]), Buffer.from(label)])), Buffer.from([0])]);
  const wire = Buffer.concat([Buffer.from([preference >> 8, preference & 0xff]), name]);
  return wire.toString("hex");
}

/** dnsmasq for `zone`, logging each query it gets. */
async function startDnsmasq(zone: string, records: readonly string[]): Promise<Dnsmasq> {
  const dns = await startLoggingDnsmasq(["--log-queries=extra", `--host-record=probe.${zone},192.0.2.254`, ...records], `probe.${zone}`);
  const probe = new Resolver({ timeout: 500, tries: 1 });
  probe.setServers([dns.server]);
  let sentinels = 0;
  return {
    server: dns.server,
    async asked(name, type) {
      // A query of its own, once logged, shows that every earlier one is in the log too.
      const sentinel = `sentinel-${++sentinels}.${zone}`;
      await probe.resolve4(sentinel).catch(() => undefined);
      await dns.printed(new RegExp(`\\[A\\] ${sentinel.replaceAll(".", "\\.")} from`));
      const pattern = new RegExp(`(query|auth)\\[${type}\\] ${name.replaceAll(".", "\\.")} from`, "g");
      return dns.output().match(pattern)?.length ?? 0;
    },
    stop: () => dns.stop(),
  };
}

type FakeQuery = { readonly name: string; readonly type: string; readonly transport: "udp" | "tcp"; readonly edns: boolean };
type FakeServer = { readonly server: string; readonly queries: FakeQuery[]; close(): Promise<void> };

/**
 * A DNS server on one loopback port, UDP and TCP, whose replies `answer` writes: the packets to send back in
 * order (none: stay silent).
 */
async function startFakeServer(answer: (query: DecodedPacket, transport: "udp" | "tcp") => Packet[]): Promise<FakeServer> {
  const queries: FakeQuery[] = [];
  const note = (query: DecodedPacket, transport: "udp" | "tcp") => {
    const question = query.questions?.[0];
    const edns = (query.additionals ?? []).some((record) => record.type === "OPT");
    queries.push({ name: question?.name ?? "", type: question?.type ?? "", transport, edns });
  };
  // UDP and TCP on the same port: a port whose TCP side another program holds is given back and another tried
  // (a UDP socket left open would keep this test file from ever ending).
  for (let attempt = 1; ; attempt++) {
    const udp: Socket = createSocket("udp4");
    udp.on("message", (message, peer) => {
      const query = dnsPacket.decode(message);
      note(query, "udp");
      for (const reply of answer(query, "udp")) udp.send(dnsPacket.encode(reply), peer.port, peer.address);
    });
    await new Promise<void>((resolve) => udp.bind(0, "127.0.0.1", resolve));
    const port = udp.address().port;
    const tcp: Server = createServer((socket) => {
      let received = Buffer.alloc(0);
      socket.on("data", (chunk: Buffer) => {
        received = Buffer.concat([received, chunk]);
        if (received.length < 2 || received.length < 2 + received.readUInt16BE(0)) return;
        const query = dnsPacket.decode(received.subarray(2, 2 + received.readUInt16BE(0)));
        note(query, "tcp");
        for (const reply of answer(query, "tcp")) socket.write(dnsPacket.streamEncode(reply));
      });
      socket.on("error", () => undefined);
    });
    try {
      await new Promise<void>((resolve, reject) => {
        tcp.once("error", reject);
        tcp.listen(port, "127.0.0.1", resolve);
      });
    } catch (error) {
      await new Promise<void>((resolve) => udp.close(() => resolve()));
      if (attempt === 20) throw error;
      continue;
    }
    return fakeServer(port, queries, udp, tcp);
  }
}

function fakeServer(port: number, queries: FakeQuery[], udp: Socket, tcp: Server): FakeServer {
  return {
    server: `127.0.0.1:${port}`,
    queries,
    async close() {
      await new Promise<void>((resolve) => udp.close(() => resolve()));
      await new Promise<void>((resolve) => tcp.close(() => resolve()));
    },
  };
}

/** A reply to `query` with this rcode (0 NOERROR, 2 SERVFAIL…), flags and sections. */
function reply(query: DecodedPacket, rcode: number, more: Partial<Packet> = {}): Packet {
  return { type: "response", id: query.id, questions: query.questions, ...more, flags: (more.flags ?? 0) | rcode };
}

let local: Dnsmasq;
let authoritative: Dnsmasq;
let clock = 1_000_000;
const now = () => clock;

function resolverFor(servers: readonly string[], options: DnsResolverOptions = {}): DnsResolver {
  return new DnsResolver({ servers, timeout: 2000, attempts: 1, now, ...options });
}

before(async () => {
  const big = Array.from({ length: 100 }, (_, index) => `--host-record=big.test,198.51.100.${index + 1}`);
  [local, authoritative] = await Promise.all([
    startDnsmasq("test", [
      "--local=/test/", "--local-ttl=300",
      "--mx-host=mx.test,mail1.mx.test,10", "--mx-host=mx.test,mail2.mx.test,20",
      "--host-record=mail1.mx.test,192.0.2.1,2001:db8::1,600", "--host-record=mail2.mx.test,192.0.2.2",
      "--host-record=v6only.test,2001:db8::6", "--host-record=plain.test,192.0.2.3",
      `--dns-rr=null.test,15,${mxData(0, "")}`,
      `--dns-rr=mixed.test,15,${mxData(0, "")}`, `--dns-rr=mixed.test,15,${mxData(10, "mail2.mx.test")}`,
      "--cname=alias2.test,alias.test,1000", "--cname=alias.test,mail1.mx.test,60",
      "--host-record=long.test,192.0.2.4,200000", "--host-record=xn--bcher-kva.test,192.0.2.5",
      "--mx-host=cached.test,mail1.mx.test,10", "--mx-host=shared.test,mail1.mx.test,10", "--mx-host=nocache.test,mail1.mx.test,10",
      "--host-record=lru-a.test,192.0.2.6", "--host-record=lru-b.test,192.0.2.7", "--host-record=lru-c.test,192.0.2.9",
      ...big,
    ]),
    startDnsmasq("neg.test", [
      "--auth-server=ns.neg.test,127.0.0.1", "--auth-zone=neg.test", "--auth-soa=1,hostmaster.neg.test,1200,120,604800", "--auth-ttl=7200",
      "--host-record=nodata.neg.test,192.0.2.8",
    ]),
  ]);
});

after(async () => {
  await Promise.all([local?.stop(), authoritative?.stop()]);
});

test("parseServer reads an address with or without a port, IPv6 in brackets, and refuses the rest", () => {
  assert.deepEqual(parseServer("192.0.2.53"), { address: "192.0.2.53", port: 53 });
  assert.deepEqual(parseServer("192.0.2.53:5353"), { address: "192.0.2.53", port: 5353 });
  assert.deepEqual(parseServer("2001:db8::53"), { address: "2001:db8::53", port: 53 });
  assert.deepEqual(parseServer("[2001:db8::53]"), { address: "2001:db8::53", port: 53 });
  assert.deepEqual(parseServer("[2001:db8::53]:5353"), { address: "2001:db8::53", port: 5353 });
  for (const bad of ["dns.example", "192.0.2.53:0", "192.0.2.53:70000", "[192.0.2.53", ""]) {
    assert.throws(() => parseServer(bad), /is not a DNS server/, bad);
  }
});

test("mx: the MX records as published, exchange names in lower case without the final dot", async () => {
  const answer = await resolverFor([local.server]).mx("MX.test.");
  assert.equal(answer.kind, "mx");
  assert.deepEqual(answer.kind === "mx" ? answer.hosts.toSorted((a, b) => a.preference - b.preference) : [], [
    { exchange: "mail1.mx.test", preference: 10 },
    { exchange: "mail2.mx.test", preference: 20 },
  ]);
});

test("mx: a single MX naming the root is a null MX (RFC 7505); a root MX beside others is left out", async () => {
  const resolver = resolverFor([local.server]);
  assert.deepEqual(await resolver.mx("null.test"), { kind: "null-mx" });
  assert.deepEqual(await resolver.mx("mixed.test"), { kind: "mx", hosts: [{ exchange: "mail2.mx.test", preference: 10 }] });
});

test("mx: a domain that exists without MX is no-mx; one that does not exist is a permanent NXDOMAIN", async () => {
  const resolver = resolverFor([local.server]);
  assert.deepEqual(await resolver.mx("plain.test"), { kind: "no-mx" });
  await assert.rejects(resolver.mx("nowhere.test"), (error: unknown) => {
    assert.ok(error instanceof DnsError);
    assert.deepEqual([error.code, error.temporary, error.domain, error.type], ["NXDOMAIN", false, "nowhere.test", "MX"]);
    return true;
  });
});

test("a REFUSED, a SERVFAIL and a server that never answers are temporary failures", async () => {
  await assert.rejects(resolverFor([local.server]).mx("elsewhere.example"), { name: "DnsError", code: "REFUSED", temporary: true });
  const failing = await startFakeServer((query) => [reply(query, 2)]);
  const silent = await startFakeServer(() => []);
  try {
    await assert.rejects(resolverFor([failing.server]).mx("broken.example"), { code: "SERVFAIL", temporary: true, domain: "broken.example" });
    const started = performance.now();
    await assert.rejects(resolverFor([silent.server], { timeout: 300, attempts: 2 }).mx("quiet.example"), { code: "TIMEOUT", temporary: true });
    assert.ok(performance.now() - started >= 550, "two tries of 300 ms each");
    assert.equal(silent.queries.length, 2, "one query per attempt");
  } finally {
    await Promise.all([failing.close(), silent.close()]);
  }
});

test("the servers are asked in turn: a silent one and a failing one are passed over for one that answers", async () => {
  const failing = await startFakeServer((query) => [reply(query, 2)]);
  const silent = await startFakeServer(() => []);
  try {
    const resolver = resolverFor([silent.server, failing.server, local.server], { timeout: 300 });
    assert.deepEqual(await resolver.addresses("mail2.mx.test", ["ipv4"]), [{ address: "192.0.2.2", family: 4 }]);
    assert.deepEqual([silent.queries.length, failing.queries.length], [1, 1]);
  } finally {
    await Promise.all([failing.close(), silent.close()]);
  }
});

test("addresses: A and AAAA in the order of the families asked, and only the families asked", async () => {
  const resolver = resolverFor([local.server]);
  const v4 = { address: "192.0.2.1", family: 4 };
  const v6 = { address: "2001:db8::1", family: 6 };
  assert.deepEqual(await resolver.addresses("mail1.mx.test"), [v4, v6]);
  assert.deepEqual(await resolver.addresses("mail1.mx.test", ["ipv6", "ipv4"]), [v6, v4]);
  assert.deepEqual(await resolver.addresses("mail2.mx.test", ["ipv4"]), [{ address: "192.0.2.2", family: 4 }]);
  assert.equal(await local.asked("mail2.mx.test", "AAAA"), 0);
  assert.deepEqual(await resolver.addresses("v6only.test"), [{ address: "2001:db8::6", family: 6 }]);
});

test("addresses: none is a permanent 'no address' (NODATA or NXDOMAIN), temporary if a lookup failed for now", async () => {
  const resolver = resolverFor([local.server]);
  await assert.rejects(resolver.addresses("v6only.test", ["ipv4"]), { code: "NODATA", temporary: false, message: /no address/ });
  await assert.rejects(resolver.addresses("nowhere.test"), { code: "NXDOMAIN", temporary: false, message: /no address/, type: "A/AAAA" });
  // A fails for now and AAAA has nothing: temporary. A fails for now and AAAA has an address: that address.
  const halfBroken = await startFakeServer((query) => {
    const question = query.questions?.[0];
    if (question?.type === "A") return [reply(query, 2)];
    if (question?.name === "has-v6.example") return [reply(query, 0, { answers: [{ type: "AAAA", name: "has-v6.example", ttl: 60, data: "2001:db8::7" }] })];
    return [reply(query, 0)];
  });
  try {
    const broken = resolverFor([halfBroken.server]);
    await assert.rejects(broken.addresses("no-v6.example"), { code: "SERVFAIL", temporary: true, message: /no address/ });
    assert.deepEqual(await broken.addresses("has-v6.example"), [{ address: "2001:db8::7", family: 6 }]);
  } finally {
    await halfBroken.close();
  }
});

test("addresses follow a CNAME chain, and keep the answer for the smallest TTL of the chain (60 s)", async () => {
  const resolver = resolverFor([local.server]);
  assert.deepEqual(await resolver.addresses("alias2.test", ["ipv4"]), [{ address: "192.0.2.1", family: 4 }]);
  clock += 59_000;
  await resolver.addresses("alias2.test", ["ipv4"]);
  assert.equal(await local.asked("alias2.test", "A"), 1, "kept for 59 s");
  clock += 2_000;
  await resolver.addresses("alias2.test", ["ipv4"]);
  assert.equal(await local.asked("alias2.test", "A"), 2, "asked again after 61 s");
});

test("the cache answers within the TTL (300 s) and asks again after it; cacheEntries 0 always asks", async () => {
  const resolver = resolverFor([local.server]);
  await resolver.mx("cached.test");
  clock += 299_000;
  assert.equal((await resolver.mx("cached.test")).kind, "mx");
  assert.equal(await local.asked("cached.test", "MX"), 1);
  clock += 2_000;
  await resolver.mx("cached.test");
  assert.equal(await local.asked("cached.test", "MX"), 2);
  const uncached = resolverFor([local.server], { cacheEntries: 0 });
  await uncached.mx("nocache.test");
  await uncached.mx("nocache.test");
  assert.equal(await local.asked("nocache.test", "MX"), 2);
});

test("a TTL over one day is kept for one day", async () => {
  const resolver = resolverFor([local.server]);
  await resolver.addresses("long.test", ["ipv4"]);
  clock += 86_399_000;
  await resolver.addresses("long.test", ["ipv4"]);
  assert.equal(await local.asked("long.test", "A"), 1);
  clock += 2_000;
  await resolver.addresses("long.test", ["ipv4"]);
  assert.equal(await local.asked("long.test", "A"), 2);
});

test("the least recently used answer leaves a full cache first", async () => {
  const resolver = resolverFor([local.server], { cacheEntries: 2 });
  for (const name of ["lru-a.test", "lru-b.test", "lru-a.test", "lru-c.test", "lru-a.test", "lru-b.test"]) {
    await resolver.addresses(name, ["ipv4"]);
  }
  // a was used after b, so c took b's place: a stayed, b was asked again.
  assert.deepEqual([await local.asked("lru-a.test", "A"), await local.asked("lru-b.test", "A")], [1, 2]);
});

test("negative answers are kept for the SOA minimum, capped at one hour (RFC 2308); without an SOA not at all", async () => {
  const resolver = resolverFor([authoritative.server]);
  for (const [name, type, code] of [["gone.neg.test", "A", "NXDOMAIN"], ["nodata.neg.test", "AAAA", "NODATA"]] as const) {
    const family = type === "A" ? "ipv4" : "ipv6";
    await assert.rejects(resolver.addresses(name, [family]), { code, temporary: false });
    clock += 3_599_000; // the SOA says 7200 s
    await assert.rejects(resolver.addresses(name, [family]), { code });
    assert.equal(await authoritative.asked(name, type), 1, `${name} ${type} kept`);
    clock += 2_000;
    await assert.rejects(resolver.addresses(name, [family]), { code });
    assert.equal(await authoritative.asked(name, type), 2, `${name} ${type} asked again after an hour`);
  }
  // dnsmasq's --local answers carry no SOA: nothing to know the lifetime by, so asked every time.
  const withoutSoa = resolverFor([local.server]);
  await assert.rejects(withoutSoa.mx("unknown.test"), { code: "NXDOMAIN" });
  await assert.rejects(withoutSoa.mx("unknown.test"), { code: "NXDOMAIN" });
  assert.equal(await local.asked("unknown.test", "MX"), 2);
});

test("a temporary failure is kept for 5 seconds, then asked again", async () => {
  const failing = await startFakeServer((query) => [reply(query, 2)]);
  try {
    const resolver = resolverFor([failing.server]);
    await assert.rejects(resolver.mx("flaky.example"), { code: "SERVFAIL" });
    clock += 4_000;
    await assert.rejects(resolver.mx("flaky.example"), { code: "SERVFAIL" });
    assert.equal(failing.queries.length, 1);
    clock += 2_000;
    await assert.rejects(resolver.mx("flaky.example"), { code: "SERVFAIL" });
    assert.equal(failing.queries.length, 2);
  } finally {
    await failing.close();
  }
});

test("concurrent identical questions share one query, with the cache on or off", async () => {
  for (const cacheEntries of [10_000, 0]) {
    const before = await local.asked("shared.test", "MX");
    const resolver = resolverFor([local.server], { cacheEntries });
    const answers = await Promise.all(Array.from({ length: 10 }, () => resolver.mx("shared.test")));
    assert.ok(answers.every((answer) => answer.kind === "mx"));
    assert.equal(await local.asked("shared.test", "MX"), before + 1, `cacheEntries ${cacheEntries}`);
  }
});

test("a truncated reply is asked again over TCP: dnsmasq's 100 addresses, and a fake whose TCP answer differs", async () => {
  const addresses = await resolverFor([local.server]).addresses("big.test", ["ipv4"]);
  assert.equal(addresses.length, 100, "the UDP reply carried only part of them");
  const truncating = await startFakeServer((query, transport) =>
    transport === "udp"
      ? [reply(query, 0, { flags: dnsPacket.TRUNCATED_RESPONSE, answers: [{ type: "A", name: "tc.example", ttl: 60, data: "192.0.2.98" }] })]
      : [reply(query, 0, { answers: [{ type: "A", name: "tc.example", ttl: 60, data: "192.0.2.99" }] })],
  );
  try {
    assert.deepEqual(await resolverFor([truncating.server]).addresses("tc.example", ["ipv4"]), [{ address: "192.0.2.99", family: 4 }]);
    assert.deepEqual(truncating.queries.map((query) => query.transport), ["udp", "tcp"]);
  } finally {
    await truncating.close();
  }
});

test("replies with another id or another question are ignored: the answer to our query is taken", async () => {
  const spoofing = await startFakeServer((query) => [
    { ...reply(query, 0, { answers: [{ type: "A", name: "bank.example", ttl: 60, data: "203.0.113.1" }] }), id: (query.id ?? 0) ^ 1 },
    reply(query, 0, { questions: [{ type: "A", name: "other.example" }], answers: [{ type: "A", name: "other.example", ttl: 60, data: "203.0.113.2" }] }),
    reply(query, 0, { questions: [{ type: "AAAA", name: "bank.example" }], answers: [{ type: "A", name: "bank.example", ttl: 60, data: "203.0.113.3" }] }),
    reply(query, 0, { answers: [{ type: "A", name: "bank.example", ttl: 60, data: "192.0.2.10" }] }),
  ]);
  try {
    assert.deepEqual(await resolverFor([spoofing.server]).addresses("BANK.example", ["ipv4"]), [{ address: "192.0.2.10", family: 4 }]);
  } finally {
    await spoofing.close();
  }
});

test("a server that answers FORMERR to EDNS is asked again without it", async () => {
  const old = await startFakeServer((query) => {
    const edns = (query.additionals ?? []).some((record) => record.type === "OPT");
    return [edns ? reply(query, 1) : reply(query, 0, { answers: [{ type: "MX", name: "old.example", ttl: 60, data: { preference: 5, exchange: "mx.old.example" } }] })];
  });
  try {
    assert.deepEqual(await resolverFor([old.server]).mx("old.example"), { kind: "mx", hosts: [{ exchange: "mx.old.example", preference: 5 }] });
    assert.deepEqual(old.queries.map((query) => query.edns), [true, false]);
  } finally {
    await old.close();
  }
});

test("names: an internationalised name is asked in A-labels; a name DNS cannot carry is a permanent BADNAME", async () => {
  const resolver = resolverFor([local.server]);
  assert.deepEqual(await resolver.addresses("BÜCHER.test", ["ipv4"]), [{ address: "192.0.2.5", family: 4 }]);
  await assert.rejects(resolver.mx(`${"a".repeat(64)}.test`), { code: "BADNAME", temporary: false });
  await assert.rejects(resolver.mx("a..test"), { code: "BADNAME" });
});
