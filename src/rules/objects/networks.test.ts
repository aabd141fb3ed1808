// Tests network sets: IPv4, IPv6, IPv4-mapped client addresses, prefix boundaries, and the entries refused.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { isIp, networks } from "./networks.ts";

const LIST = networks([
  "192.0.2.1",
  "10.0.0.0/8",
  "198.51.100.128/25",
  "203.0.113.7/32",
  "2001:db8::/32",
  "::1",
  "fe80::/10",
  "::ffff:172.16.0.0/108",
]);

// Each: address looked up → in LIST.
const LOOKUPS: readonly (readonly [string, boolean])[] = [
  ["192.0.2.1", true],
  ["192.0.2.2", false],
  ["192.0.2.0", false],
  ["10.0.0.0", true],
  ["10.255.255.255", true],
  ["9.255.255.255", false],
  ["11.0.0.0", false],
  ["198.51.100.127", false],
  ["198.51.100.128", true],
  ["198.51.100.255", true],
  ["198.51.101.0", false],
  ["203.0.113.7", true],
  ["203.0.113.6", false],
  ["203.0.113.8", false],
  ["172.16.0.1", true],
  ["172.31.255.255", true],
  ["172.32.0.0", false],
  // IPv4 clients of a dual-stack listener, in every spelling of the mapped form.
  ["::ffff:10.1.2.3", true],
  ["::FFFF:10.1.2.3", true],
  ["::ffff:a01:203", true],
  ["0:0:0:0:0:ffff:10.1.2.3", true],
  ["::ffff:192.0.2.1", true],
  ["::ffff:192.0.2.2", false],
  ["::ffff:11.0.0.1", false],
  ["::ffff:172.16.9.9", true],
  // The deprecated IPv4-compatible form is an IPv6 address, not an IPv4 one.
  ["::10.1.2.3", false],
  ["2001:db8::", true],
  ["2001:db8::1", true],
  ["2001:DB8:ffff:ffff:ffff:ffff:ffff:ffff", true],
  ["2001:db7:ffff:ffff:ffff:ffff:ffff:ffff", false],
  ["2001:db9::", false],
  ["::1", true],
  ["0:0:0:0:0:0:0:1", true],
  ["::2", false],
  ["::", false],
  ["fe80::1", true],
  ["fe80::1%eth0", true],
  ["febf:ffff::1", true],
  ["fec0::1", false],
  ["127.0.0.1", false],
];

describe("networks", () => {
  for (const [address, expected] of LOOKUPS) {
    it(`${address} ${expected ? "is" : "is not"} in the list`, () => {
      assert.equal(LIST.has(address), expected);
    });
  }

  it("an empty list holds nothing", () => {
    assert.equal(networks([]).has("192.0.2.1"), false);
    assert.equal(networks([]).has("::ffff:192.0.2.1"), false);
  });

  it("0.0.0.0/0 holds every IPv4 address, mapped ones too, and no IPv6 address", () => {
    const all = networks(["0.0.0.0/0"]);
    assert.equal(all.has("255.255.255.255"), true);
    assert.equal(all.has("::ffff:1.2.3.4"), true);
    assert.equal(all.has("2001:db8::1"), false);
    assert.equal(all.has("::1"), false);
  });

  it("::ffff:0:0/96 holds every IPv4 address; ::/0 holds every address", () => {
    assert.equal(networks(["::ffff:0:0/96"]).has("192.0.2.1"), true);
    assert.equal(networks(["::ffff:0:0/96"]).has("2001:db8::1"), false);
    assert.equal(networks(["::/0"]).has("192.0.2.1"), true);
    assert.equal(networks(["::/0"]).has("2001:db8::1"), true);
  });

  it("a mapped entry matches the plain IPv4 address", () => {
    assert.equal(networks(["::ffff:192.0.2.1"]).has("192.0.2.1"), true);
    assert.equal(networks(["::ffff:192.0.2.0/120"]).has("192.0.2.99"), true);
  });

  it("answers as a range check would, for random networks of every prefix length and random addresses", () => {
    // A seeded generator (so a failure repeats): networks of lengths 8-32 and addresses near and inside them.
    let seed = 7;
    const random = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const dotted = (value: number) => [24, 16, 8, 0].map((shift) => Math.floor(value / 2 ** shift) % 256).join(".");
    const entries: { base: number; size: number }[] = [];
    for (let index = 0; index < 200; index++) {
      const length = Math.floor(random() * 25) + 8;
      const size = 2 ** (32 - length);
      entries.push({ base: Math.floor((random() * 2 ** 32) / size) * size, size });
    }
    const set = networks(entries.map(({ base, size }) => `${dotted(base)}/${32 - Math.log2(size)}`));
    for (let index = 0; index < 5000; index++) {
      const near = entries[index % entries.length]!;
      const value = index % 2 === 0 ? Math.floor(random() * 2 ** 32) : (near.base + Math.floor((random() - 0.1) * near.size * 1.2) + 2 ** 32) % 2 ** 32;
      const expected = entries.some(({ base, size }) => value >= base && value < base + size);
      assert.equal(set.has(dotted(value)), expected, dotted(value));
      assert.equal(set.has(`::ffff:${dotted(value)}`), expected, `::ffff:${dotted(value)}`);
    }
  });

  it("the set cannot be changed", () => {
    assert.ok(Object.isFrozen(LIST));
  });

  for (const address of ["", "localhost", "10.0.0.0/8", "010.1.2.3", "1.2.3", "[::1]", " 192.0.2.1", "::ffff:1.2.3.256"]) {
    it(`looking up ${JSON.stringify(address)} throws instead of answering no`, () => {
      assert.throws(() => LIST.has(address), { name: "TypeError", message: /not an IP address/ });
    });
  }
});

// Each: entry → a fragment of the error.
const INVALID: readonly (readonly [string, RegExp])[] = [
  ["", /not an IP address/],
  ["example.org", /not an IP address/],
  [" 10.0.0.0/8", /not an IP address/],
  ["10.0.0.0/8 ", /prefix length must be 0 to 32/],
  ["10.0.0.0/33", /prefix length must be 0 to 32/],
  ["2001:db8::/129", /prefix length must be 0 to 128/],
  ["10.0.0.0/", /prefix length/],
  ["10.0.0.0/-1", /prefix length/],
  ["10.0.0.0/8/8", /prefix length/],
  ["10.0.0.0/a", /prefix length/],
  ["10.0.0/8", /not an IP address/],
  ["256.0.0.0/8", /not an IP address/],
  ["10.0.0.1/8", /bits past the \/8 prefix are set/],
  ["192.168.1.0/16", /bits past the \/16 prefix are set/],
  ["198.51.100.129/25", /bits past the \/25 prefix are set/],
  ["2001:db8::1/32", /bits past the \/32 prefix are set/],
  ["2001:db8:0:1::/63", /bits past the \/63 prefix are set/],
  ["::ffff:10.0.0.1/104", /bits past the \/104 prefix are set/],
  ["fe80::1%eth0", /zone index/],
  ["*", /not an IP address/],
];

describe("networks: invalid entries", () => {
  for (const [entry, message] of INVALID) {
    it(`${JSON.stringify(entry)} is refused, naming it`, () => {
      assert.throws(() => networks(["192.0.2.1", entry]), (error: Error) => {
        assert.ok(error instanceof TypeError);
        assert.ok(error.message.includes(JSON.stringify(entry)), error.message);
        assert.match(error.message, message);
        return true;
      });
    });
  }

  // Each: a network written with its host bits clear, which must be accepted.
  const VALID = ["0.0.0.0/0", "10.0.0.0/8", "10.0.0.1/32", "198.51.100.128/25", "::/0", "2001:db8::/32"] as const;
  for (const entry of [...VALID, "2001:db8::1/128", "2001:db8:0:2::/63", "::ffff:10.0.0.0/104", "0:0:0:0:0:ffff:a00:0/104"]) {
    it(`${entry} is accepted`, () => {
      assert.doesNotThrow(() => networks([entry]));
    });
  }
});

describe("isIp", () => {
  const CASES: readonly (readonly [string, boolean])[] = [
    ["192.0.2.1", true],
    ["2001:db8::1", true],
    ["::ffff:192.0.2.1", true],
    ["::", true],
    ["", false],
    ["192.0.2", false],
    ["192.0.2.1/32", false],
    ["[192.0.2.1]", false],
    ["mail.example.org", false],
  ];
  for (const [text, expected] of CASES) {
    it(`${JSON.stringify(text)} ${expected ? "is" : "is not"} an IP address`, () => {
      assert.equal(isIp(text), expected);
    });
  }
});
