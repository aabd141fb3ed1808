// Tests address and domain lists: each entry form, subdomain edges, case folding, quoting, IDNA, invalid entries.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { addressList, domainList } from "./addresses.ts";

const ADDRESSES = addressList([
  "alice@example.org",
  "@example.net",
  ".example.com",
  "postmaster@",
  "Bob@Example.EDU.",
  '"john doe"@example.org',
  "carol@[192.0.2.1]",
  "dave@bücher.example",
  "@xn--caf-dma.example",
]);

// Each: address looked up → matches ADDRESSES.
const ADDRESS_LOOKUPS: readonly (readonly [string, boolean])[] = [
  // user@domain: that address only.
  ["alice@example.org", true],
  ["ALICE@EXAMPLE.ORG", true],
  ["Alice@example.org.", true],
  ['"alice"@example.org', true],
  ["bob@example.org", false],
  ["alice@sub.example.org", false],
  ["alice@example.org.evil", false],
  ["alice@example", false],
  ["alice", false],
  ["xalice@example.org", false],
  ["bob@example.edu", true],
  ["BOB@EXAMPLE.EDU", true],
  ['"John Doe"@example.org', true],
  ["carol@[192.0.2.1]", true],
  ["carol@[192.0.2.2]", false],
  // @domain: any address at exactly that domain.
  ["anyone@example.net", true],
  ["Anyone@EXAMPLE.NET.", true],
  ["anyone@mail.example.net", false],
  ["anyone@badexample.net", false],
  ["anyone@example.net.evil", false],
  ["anyone@net", false],
  // .domain: the domain and any domain under it.
  ["anyone@example.com", true],
  ["anyone@mail.example.com", true],
  ["anyone@a.b.c.example.com", true],
  ["anyone@MAIL.Example.Com.", true],
  ["anyone@badexample.com", false],
  ["anyone@mail.badexample.com", false],
  ["anyone@example.com.evil", false],
  ["anyone@com", false],
  ["anyone@xexample.com", false],
  // user@: that local part at any domain, and a bare local part (RCPT TO:<Postmaster>).
  ["postmaster@anywhere.example", true],
  ["PostMaster@example.org", true],
  ['"postmaster"@example.org', true],
  ["Postmaster", true],
  ["postmaster.x@example.org", false],
  ["xpostmaster@example.org", false],
  // IDNA: the Unicode and ASCII forms of a domain are the same domain, whichever the entry used.
  ["dave@xn--bcher-kva.example", true],
  ["dave@BÜCHER.example", true],
  ["anyone@café.example", true],
  ["anyone@CAFÉ.EXAMPLE", true],
  ["anyone@ｅｘａｍｐｌｅ.ｎｅｔ", true],
  // Nothing else.
  ["", false],
  ["@", false],
  ["someone@example.edu", false],
  ["someone@[192.0.2.1]", false],
];

describe("addressList", () => {
  for (const [address, expected] of ADDRESS_LOOKUPS) {
    it(`${JSON.stringify(address)} ${expected ? "matches" : "does not match"}`, () => {
      assert.equal(ADDRESSES.has(address), expected);
    });
  }

  it("a local part with an @ inside quotes is split at the last @", () => {
    const list = addressList(['"a@b"@example.org', '"x@y"@']);
    assert.equal(list.has('"a@b"@example.org'), true);
    assert.equal(list.has('"a@b"@example.net'), false);
    assert.equal(list.has('"x@y"@example.net'), true);
  });

  it("quoted-pairs compare by the character they stand for", () => {
    const list = addressList(['"a\\"b"@example.org']);
    assert.equal(list.has('"a\\"b"@example.org'), true);
    assert.equal(list.has('"A\\"B"@EXAMPLE.ORG'), true);
  });

  it("a domain entry covers the domain itself, a parent entry covers its subdomains", () => {
    const list = addressList([".mail.example.org", "@example.org"]);
    assert.equal(list.has("u@example.org"), true);
    assert.equal(list.has("u@mail.example.org"), true);
    assert.equal(list.has("u@x.mail.example.org"), true);
    assert.equal(list.has("u@other.example.org"), false);
  });

  it("an empty list matches nothing; duplicate entries are harmless", () => {
    assert.equal(addressList([]).has("alice@example.org"), false);
    assert.equal(addressList(["a@example.org", "A@example.org"]).has("a@example.org"), true);
  });

  it("the list cannot be changed", () => {
    assert.ok(Object.isFrozen(ADDRESSES));
  });
});

// Each: entry → a fragment of the error.
const INVALID_ADDRESSES: readonly (readonly [string, RegExp])[] = [
  ["", /expected user@domain, @domain, \.domain or user@/],
  ["example.org", /expected user@domain/],
  ["alice", /expected user@domain/],
  ["@", /empty domain/],
  [".", /empty domain/],
  ["@@example.org", /domain is labels/],
  ["@example..org", /domain is labels/],
  ["@.example.org", /domain is labels/],
  ["..example.org", /domain is labels/],
  [".example.org..", /domain is labels/],
  ["alice@example..org", /domain is labels/],
  ["alice@exa mple.org", /domain is labels/],
  ["alice@*.example.org", /wildcards are not supported/],
  ["@*.example.org", /wildcards are not supported/],
  ["*@example.org", /wildcards are not supported: write @domain/],
  [".[192.0.2.1]", /domain is labels/],
  ["a b@example.org", /must be quoted/],
  ['a"b@example.org', /must be quoted/],
  ["a@b@example.org", /must be quoted/],
  ['"ab@example.org', /must be quoted/],
  [" alice@example.org", /must be quoted/],
  ["alice@example.org ", /domain is labels/],
  ["@exa\u00admple..org", /not a valid internationalised domain|domain is labels/],
  ["@a b.bücher.example", /not a valid internationalised domain/],
];

describe("addressList: invalid entries", () => {
  for (const [entry, message] of INVALID_ADDRESSES) {
    it(`${JSON.stringify(entry)} is refused, naming it`, () => {
      assert.throws(() => addressList(["alice@example.org", entry]), (error: Error) => {
        assert.ok(error instanceof TypeError);
        assert.ok(error.message.includes(JSON.stringify(entry)), error.message);
        assert.match(error.message, message);
        return true;
      });
    });
  }
});

const DOMAINS = domainList(["example.org", ".example.com", "Mail.Example.NET.", "[192.0.2.1]", "bücher.example"]);

// Each: domain looked up → matches DOMAINS.
const DOMAIN_LOOKUPS: readonly (readonly [string, boolean])[] = [
  ["example.org", true],
  ["EXAMPLE.ORG", true],
  ["example.org.", true],
  ["sub.example.org", false],
  ["badexample.org", false],
  ["org", false],
  ["example.com", true],
  ["mail.example.com", true],
  ["deep.mail.example.com", true],
  ["Deep.Mail.Example.Com.", true],
  ["badexample.com", false],
  ["example.com.evil", false],
  ["com", false],
  ["mail.example.net", true],
  ["example.net", false],
  ["x.mail.example.net", false],
  ["[192.0.2.1]", true],
  ["[192.0.2.2]", false],
  ["xn--bcher-kva.example", true],
  ["BÜCHER.EXAMPLE", true],
  ["", false],
  [".", false],
  ["..", false],
];

describe("domainList", () => {
  for (const [domain, expected] of DOMAIN_LOOKUPS) {
    it(`${JSON.stringify(domain)} ${expected ? "matches" : "does not match"}`, () => {
      assert.equal(DOMAINS.has(domain), expected);
    });
  }

  it("a parent entry and an exact entry for the same domain both hold", () => {
    const list = domainList(["example.org", ".example.org"]);
    assert.equal(list.has("example.org"), true);
    assert.equal(list.has("a.example.org"), true);
  });

  it("the list cannot be changed", () => {
    assert.ok(Object.isFrozen(DOMAINS));
  });
});

// Each: entry → a fragment of the error.
const INVALID_DOMAINS: readonly (readonly [string, RegExp])[] = [
  ["", /empty domain/],
  [".", /empty domain/],
  ["..", /empty domain/],
  ["..example.org", /domain is labels/],
  ["example..org", /domain is labels/],
  ["@example.org", /domain is labels/],
  ["alice@example.org", /domain is labels/],
  ["*.example.org", /wildcards are not supported: write \.domain/],
  ["exa mple.org", /domain is labels/],
  [" example.org", /domain is labels/],
  [".[192.0.2.1]", /domain is labels/],
];

describe("domainList: invalid entries", () => {
  for (const [entry, message] of INVALID_DOMAINS) {
    it(`${JSON.stringify(entry)} is refused, naming it`, () => {
      assert.throws(() => domainList(["example.org", entry]), (error: Error) => {
        assert.ok(error instanceof TypeError);
        assert.ok(error.message.includes(JSON.stringify(entry)), error.message);
        assert.match(error.message, message);
        return true;
      });
    });
  }
});
