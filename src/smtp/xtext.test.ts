// Tests the xtext (RFC 3461) and utf-8 address text (RFC 6533) decoders.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { decodeUtf8AddressText, decodeXtext } from "./xtext.ts";

describe("decodeXtext", () => {
  it("decodes +HH in either case and keeps other printable characters", () => {
    assert.equal(decodeXtext("a+2Bb+3dc+20d~!"), "a+b=c d~!");
    assert.equal(decodeXtext(""), "");
  });

  it("refuses a truncated or non-hex escape, a bare = and characters outside ! to ~", () => {
    for (const bad of ["a+", "a+2", "a+G0", "a=b", "a b", "caf\u00e9", "a\tb"]) assert.equal(decodeXtext(bad), null, bad);
  });
});

describe("decodeUtf8AddressText", () => {
  it("decodes \\x{HEX} escapes and keeps non-ASCII characters", () => {
    assert.equal(decodeUtf8AddressText("caf\\x{E9}@example.com"), "café@example.com");
    assert.equal(decodeUtf8AddressText("café\\x{20}\\x{5C}\\x{1F600}"), "café \\😀");
  });

  it("refuses +, =, a bare backslash, bad escapes, surrogates and code points past U+10FFFF", () => {
    for (const bad of ["a+b", "a=b", "a\\b", "\\x{}", "\\x{1234567}", "\\x{D800}", "\\x{110000}", "\\x{0}", "\\x{E9", "a b"]) {
      assert.equal(decodeUtf8AddressText(bad), null, bad);
    }
  });
});
