// Tests RFC 5321 path parsing: the valid forms real clients send, the refusals, limits, UTF-8 and Postmaster.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { type Mailbox, type PathRole, parsePath, splitPath } from "./address.ts";
import type { Reply } from "./reply.ts";

function mailbox(text: string, role: PathRole = "recipient"): Mailbox {
  const result = parsePath(text, role);
  assert.ok(result !== null && !("code" in result), `${text} should parse, got ${JSON.stringify(result)}`);
  return result;
}

function refusal(text: string, role: PathRole = "recipient"): Reply {
  const result = parsePath(text, role);
  assert.ok(result !== null && "code" in result, `${text} should be refused, got ${JSON.stringify(result)}`);
  return result;
}

// Forms in the spirit of aiosmtpd's list of valid MAIL/RCPT addresses, restricted to what RFC 5321 allows.
// Each: path as sent → the address we keep.
const VALID: readonly (readonly [string, string])[] = [
  ["<anne@example.com>", "anne@example.com"],
  ["anne@example.com", "anne@example.com"],
  ["<anne.arthur@example.com>", "anne.arthur@example.com"],
  ["<anne+promo@example.com>", "anne+promo@example.com"],
  ["<anne-arthur@example.com>", "anne-arthur@example.com"],
  ["<anne_arthur@example.com>", "anne_arthur@example.com"],
  ["<_@example.com>", "_@example.com"],
  ["<o'brien@example.com>", "o'brien@example.com"],
  ["<{x}|y~z^`@example.com>", "{x}|y~z^`@example.com"],
  ["<anne@127.0.0.1>", "anne@127.0.0.1"],
  ["<anne@[127.0.0.1]>", "anne@[127.0.0.1]"],
  ["<anne@[IPv6:2001:db8::1]>", "anne@[ipv6:2001:db8::1]"],
  ["<anne@[IPv6:::1]>", "anne@[ipv6:::1]"],
  ["<anne@[ipv6:::ffff:192.0.2.1]>", "anne@[ipv6:::ffff:192.0.2.1]"],
  ["<@example.org:anne@example.com>", "anne@example.com"],
  ["<@example.net,@example.org:anne@example.com>", "anne@example.com"],
  ["<anne@mail>", "anne@mail"],
  ["<anne@sub-domain.example.com>", "anne@sub-domain.example.com"],
  ["<anne@xn--bcher-kva.example>", "anne@xn--bcher-kva.example"],
  ['<""@example.com>', '""@example.com'],
  ['<" "@example.com>', '" "@example.com'],
  ['<"anne..arthur"@example.com>', '"anne..arthur"@example.com'],
  ['<"Abc@def"@example.com>', '"Abc@def"@example.com'],
  ['<"Fred Bloggs"@example.com>', '"Fred Bloggs"@example.com'],
  ['<"Fred\\ Bloggs"@example.com>', '"Fred\\ Bloggs"@example.com'],
  ['<"Joe\\\\Blow"@example.com>', '"Joe\\\\Blow"@example.com'],
  ['<"a>b"@example.com>', '"a>b"@example.com'],
  ['<"(),:;<>[]"@example.com>', '"(),:;<>[]"@example.com'],
  ["<mailhost!anne@example.com>", "mailhost!anne@example.com"],
  ["<anne%example.org@example.com>", "anne%example.org@example.com"],
  ["<customer/department=shipping@example.com>", "customer/department=shipping@example.com"],
  ["<$A12345@example.com>", "$A12345@example.com"],
  ["<!def!xyz%abc@example.com>", "!def!xyz%abc@example.com"],
  ["<Anne@Example.COM>", "Anne@example.com"],
  ["<postmaster@example.com>", "postmaster@example.com"],
  [`<${"a".repeat(64)}@example.com>`, `${"a".repeat(64)}@example.com`],
  [`<a@${"b".repeat(63)}.example>`, `a@${"b".repeat(63)}.example`],
];

describe("parsePath: valid forms", () => {
  for (const [text, address] of VALID) {
    it(`accepts ${text.length > 60 ? `${text.slice(0, 40)}…` : text}`, () => {
      for (const role of ["sender", "recipient"] as const) {
        const parsed = mailbox(text, role);
        assert.equal(parsed.address, address);
        assert.equal(parsed.utf8, false);
      }
    });
  }

  it("splits local part and domain, lower-cases only the domain", () => {
    assert.deepEqual(mailbox("<Anne.Arthur@Mail.Example.COM>"), {
      local: "Anne.Arthur",
      domain: "mail.example.com",
      address: "Anne.Arthur@mail.example.com",
      utf8: false,
    });
  });

  it("returns null for the null path", () => {
    assert.equal(parsePath("<>", "sender"), null);
    assert.equal(parsePath("<>", "recipient"), null);
  });

  it("accepts <Postmaster> without a domain, in any case, for a recipient", () => {
    for (const text of ["<Postmaster>", "<postmaster>", "<POSTMASTER>", "Postmaster"]) {
      const parsed = mailbox(text);
      assert.equal(parsed.domain, "");
      assert.equal(parsed.address, text.replace(/[<>]/g, ""));
    }
  });

  it("flags UTF-8 addresses (RFC 6531)", () => {
    const parsed = mailbox("<用户@例子.广告>");
    assert.deepEqual(parsed, { local: "用户", domain: "例子.广告", address: "用户@例子.广告", utf8: true });
    assert.equal(mailbox('<"José Ñ"@example.com>').utf8, true);
    assert.equal(mailbox("<anne@BÜCHER.example>").domain, "bücher.example");
  });

  it("counts the path limit in octets, brackets included", () => {
    const labels = `${"d".repeat(63)}.${"d".repeat(63)}.${"d".repeat(63)}`;
    const exact = `<${"l".repeat(60)}@${labels}.d>`;
    assert.equal(exact.length, 256);
    mailbox(exact);
    assert.match(refusal(`<${"l".repeat(60)}@${labels}.dd>`).lines[0] ?? "", /path longer than 256/);
    assert.match(refusal(`<${"l".repeat(60)}@${labels}.é>`).lines[0] ?? "", /path longer than 256/);
  });
});

describe("parsePath: refusals", () => {
  const INVALID: readonly (readonly [string, string])[] = [
    ["<@>", "null local part and domain"],
    ["<a>", "no @"],
    ["<a@>", "empty domain"],
    ["<@a>", "empty local part"],
    ["< @a>", "space as local part"],
    ["<a@ >", "space as domain"],
    ["<whatever:a@a>", "route that is not @domain"],
    ["<a:@a>", "route with empty local part"],
    ["<@:anne@example.com>", "empty route domain"],
    ["<@example.com:>", "nothing after the route"],
    ["<anne(comment)@example.com>", "comment"],
    ["<(comment)anne@example.com>", "leading comment"],
    ["<anne@example.com(comment)>", "trailing comment"],
    ['<much."more\\ unusual"@example.com>', "quoted and unquoted words mixed"],
    ["<Fred\\ Bloggs@example.com>", "backslash outside quotes"],
    ["<anne..arthur@example.com>", "empty atom"],
    ["<.anne@example.com>", "leading dot"],
    ["<anne.@example.com>", "trailing dot in local part"],
    ['<"anne@example.com>', "unterminated quoted string"],
    ['<"a"b@example.com>', "text after the quoted string"],
    ['<"a\\é"@example.com>', "quoted pair of a non-ASCII character"],
    ["<anne@example..com>", "empty label"],
    ["<anne@example.com.>", "trailing dot in domain"],
    ["<anne@-example.com>", "label starting with a hyphen"],
    ["<anne@example-.com>", "label ending with a hyphen"],
    ["<anne@exa_mple.com>", "underscore in a domain"],
    [`<a@${"b".repeat(64)}.example>`, "label of 64 octets"],
    ["<anne@[300.1.1.1]>", "bad IPv4 literal"],
    ["<anne@[1.2.3]>", "short IPv4 literal"],
    ["<anne@[IPv6::1]>", "bad IPv6 literal"],
    ["<anne@[2001:db8::1]>", "IPv6 literal without its tag"],
    ["<anne@[IPv6:fe80::1%eth0]>", "IPv6 literal with a zone"],
    ["<anne@[tag:content]>", "general address literal"],
    ["<anne@[1.2.3.4>", "unclosed literal"],
    ["<anne@example.com", "no closing bracket"],
    ["anne@example.com>", "no opening bracket"],
    ["", "empty text"],
  ];
  for (const [text, why] of INVALID) {
    it(`refuses ${text} (${why})`, () => {
      assert.equal(refusal(text, "recipient").enhanced, "5.1.3");
      assert.equal(refusal(text, "sender").enhanced, "5.1.7");
      assert.equal(refusal(text).code, 501);
    });
  }

  it("refuses <Postmaster> as a sender", () => {
    assert.equal(refusal("<Postmaster>", "sender").enhanced, "5.1.7");
  });

  it("refuses a local part over 64 octets (UTF-8 counted in octets)", () => {
    assert.match(refusal(`<${"a".repeat(65)}@example.com>`).lines[0] ?? "", /local part longer than 64/);
    mailbox(`<${"é".repeat(32)}@example.com>`);
    refusal(`<${"é".repeat(32)}e@example.com>`);
  });

  it("names the cause in the reply text", () => {
    assert.deepEqual(refusal("<a@>", "sender"), {
      code: 501,
      enhanced: "5.1.7",
      lines: ["bad sender address syntax: empty domain"],
    });
  });
});

describe("splitPath", () => {
  it("splits a bracketed path from its parameters", () => {
    assert.deepEqual(splitPath("<a@b> SIZE=10"), { path: "<a@b>", rest: " SIZE=10" });
    assert.deepEqual(splitPath("<>"), { path: "<>", rest: "" });
  });

  it("skips spaces before the path", () => {
    assert.deepEqual(splitPath("   <a@b>"), { path: "<a@b>", rest: "" });
  });

  it("does not end a path at a > inside a quoted string", () => {
    assert.deepEqual(splitPath('<"a>\\"b"@c> BODY=8BITMIME'), { path: '<"a>\\"b"@c>', rest: " BODY=8BITMIME" });
  });

  it("ends an unbracketed path at the first space", () => {
    assert.deepEqual(splitPath("a@b SIZE=1"), { path: "a@b", rest: " SIZE=1" });
  });

  it("keeps what follows the > even without a space, for the caller to refuse", () => {
    assert.deepEqual(splitPath("<a@b>SIZE=1"), { path: "<a@b>", rest: "SIZE=1" });
  });

  it("returns null when there is no path or no closing bracket", () => {
    assert.equal(splitPath(""), null);
    assert.equal(splitPath("   "), null);
    assert.equal(splitPath("<a@b"), null);
  });
});
