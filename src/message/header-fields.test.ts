// Tests of the header editor: byte-exact round trips, each edit, refused injections, RFC 2047 both ways.

import assert from "node:assert/strict";
import { test } from "node:test";
import { HeaderFields } from "./header-fields.ts";

const section = (text: string): Buffer => Buffer.from(text, "latin1");

const sample = section(
  "Received: from mx.example.org (mx.example.org [192.0.2.10])\r\n" +
    "\tby petrel.example.net (Petrel) with ESMTP id 01AAAA;\r\n" +
    "\tSat, 1 Mar 2025 10:00:00 +0000\r\n" +
    "From: Andr\xe9 <andre@example.org>\r\n" +
    "Subject:   a folded\r\n" +
    "    subject line  \r\n" +
    "X-Odd :value with space before the colon\r\n" +
    "to: bob@example.net\r\n" +
    "X-Empty:\r\n" +
    "TO: carol@example.net\r\n",
);

test("an untouched section comes out byte for byte: folding, 8-bit bytes, odd spacing", () => {
  const headers = new HeaderFields(sample);
  assert.deepEqual(headers.toBuffer(), sample);
  assert.equal(headers.byteLength, sample.length);
  assert.equal(headers.changed, false);
  assert.deepEqual(headers.names(), ["Received", "From", "Subject", "X-Odd", "to", "X-Empty", "TO"]);
});

test("bare LF line endings are kept, and an edit elsewhere leaves them as they are", () => {
  const bytes = section("Subject: one\nX-Folded: a\n b\r\nTo: bob@example.net\n");
  const headers = new HeaderFields(bytes);
  assert.deepEqual(headers.toBuffer(), bytes);
  assert.equal(headers.get("X-Folded"), "a b");
  assert.equal(headers.get("subject"), "one");
  headers.remove("To");
  assert.deepEqual(headers.toBuffer(), section("Subject: one\nX-Folded: a\n b\r\n"));
});

test("lines that are not fields are kept and never match", () => {
  const bytes = section(" stray continuation\r\nFrom mbox line without colon\r\nBad Name: x\r\n\xe9t\xe9: y\r\nSubject: s\r\n");
  const headers = new HeaderFields(bytes);
  assert.deepEqual(headers.names(), ["Subject"]);
  assert.equal(headers.has("Bad Name"), false);
  headers.set("Subject", "t");
  assert.deepEqual(headers.toBuffer(), section(" stray continuation\r\nFrom mbox line without colon\r\nBad Name: x\r\n\xe9t\xe9: y\r\nSubject: t\r\n"));
});

test("get() unfolds, trims and decodes UTF-8; names match whatever their case", () => {
  const headers = new HeaderFields(sample);
  assert.equal(headers.get("subject"), "a folded    subject line");
  assert.equal(headers.get("SUBJECT"), "a folded    subject line");
  assert.equal(headers.get("x-odd"), "value with space before the colon");
  assert.equal(headers.get("X-Empty"), "");
  assert.equal(headers.get("Missing"), undefined);
  assert.equal(headers.get("From"), "Andr\ufffd <andre@example.org>", "latin1 0xE9 is not UTF-8");
  assert.deepEqual(headers.getAll("To"), ["bob@example.net", "carol@example.net"]);
  assert.deepEqual(headers.getAll("Missing"), []);
  assert.equal(headers.count("to"), 2);
  assert.equal(headers.has("RECEIVED"), true);
  assert.equal(headers.has("Date"), false);
  const utf8 = new HeaderFields(Buffer.from("Subject: Caf\u00e9 cr\u00e8me\r\n", "utf8"));
  assert.equal(utf8.get("subject"), "Caf\u00e9 cr\u00e8me");
});

test("add() puts a field at the top or the bottom, leaving every other byte alone", () => {
  const headers = new HeaderFields(sample);
  headers.add("X-Spam-Score", "3.2");
  headers.add("X-Checked", "yes", "bottom");
  assert.equal(headers.changed, true);
  assert.deepEqual(headers.toBuffer(), Buffer.concat([section("X-Spam-Score: 3.2\r\n"), sample, section("X-Checked: yes\r\n")]));
  assert.equal(headers.byteLength, headers.toBuffer().length);
  headers.add("X-Empty-Too", "");
  assert.equal(headers.toBuffer().subarray(0, 14).toString(), "X-Empty-Too:\r\n");
});

test("add() at the bottom of a section whose last line has no line ending starts a new line", () => {
  const headers = new HeaderFields(section("Subject: s"));
  headers.add("X-A", "1", "bottom");
  assert.equal(headers.toBuffer().toString(), "Subject: s\r\nX-A: 1\r\n");
});

test("set() replaces the first field where it is and removes the others of that name", () => {
  const headers = new HeaderFields(sample);
  headers.set("To", "dave@example.net");
  const expected = sample
    .toString("latin1")
    .replace("to: bob@example.net\r\n", "To: dave@example.net\r\n")
    .replace("TO: carol@example.net\r\n", "");
  assert.deepEqual(headers.toBuffer(), section(expected));
  headers.set("Date", "Sat, 1 Mar 2025 10:00:00 +0000");
  assert.equal(headers.names()[0], "Date");
  assert.equal(headers.get("date"), "Sat, 1 Mar 2025 10:00:00 +0000");
});

test("a value read before an edit is not what get() answers after it", () => {
  const headers = new HeaderFields(sample);
  assert.equal(headers.get("To"), "bob@example.net");
  headers.set("To", "dave@example.net");
  assert.equal(headers.get("To"), "dave@example.net");
  headers.rename("To", "X-Original-To");
  assert.equal(headers.get("To"), undefined);
  assert.equal(headers.get("X-Original-To"), "dave@example.net");
  headers.remove("X-Original-To");
  assert.equal(headers.get("X-Original-To"), undefined);
});

test("set() to the same bytes changes nothing", () => {
  const headers = new HeaderFields(section("Subject: same\r\n"));
  headers.set("Subject", "same");
  assert.equal(headers.changed, false);
});

test("remove() takes every field of the name and says how many", () => {
  const headers = new HeaderFields(sample);
  assert.equal(headers.remove("Missing"), 0);
  assert.equal(headers.changed, false);
  assert.equal(headers.remove("tO"), 2);
  assert.equal(headers.changed, true);
  assert.equal(headers.has("To"), false);
  assert.deepEqual(headers.toBuffer(), section(sample.toString("latin1").replace(/^to: .*\r\n/gim, "")));
});

test("rename() changes only the name bytes of every field of that name", () => {
  const headers = new HeaderFields(sample);
  headers.rename("subject", "X-Original-Subject");
  headers.rename("x-odd", "X-Even");
  headers.rename("from", "From"); // same bytes
  const expected = sample
    .toString("latin1")
    .replace("Subject:   a folded\r\n", "X-Original-Subject:   a folded\r\n")
    .replace("X-Odd :value", "X-Even :value");
  assert.deepEqual(headers.toBuffer(), section(expected));
  assert.equal(headers.get("X-Original-Subject"), "a folded    subject line");
  assert.equal(headers.has("Subject"), false);
  const unchanged = new HeaderFields(sample);
  unchanged.rename("From", "From");
  unchanged.rename("Missing", "Other");
  assert.equal(unchanged.changed, false);
});

test("a value with CR, LF or NUL, or a bad name, is refused before anything changes", () => {
  const headers = new HeaderFields(sample);
  const attempts: [string, string][] = [
    ["Subject", "hi\r\nBcc: victim@example.com"],
    ["Subject", "hi\nBcc: victim@example.com"],
    ["Subject", "hi\r"],
    ["Subject", "hi\0"],
    ["Bcc: victim@example.com\r\nSubject", "x"],
    ["Sub ject", "x"],
    ["Subject:", "x"],
    ["", "x"],
    ["Subj\u00e9ct", "x"],
  ];
  for (const [name, value] of attempts) {
    assert.throws(() => headers.add(name, value), TypeError, `add ${JSON.stringify([name, value])}`);
    assert.throws(() => headers.set(name, value), TypeError, `set ${JSON.stringify([name, value])}`);
  }
  assert.throws(() => headers.rename("Subject", "X-\r\nBcc"), TypeError);
  assert.throws(() => headers.add("Subject", "x", "middle" as "top"), TypeError);
  assert.equal(headers.changed, false);
  assert.deepEqual(headers.toBuffer(), sample);
});

test("a long added value is folded at white space within 78 characters", () => {
  const words = Array.from({ length: 40 }, (_, n) => `word${n}`).join(" ");
  const headers = new HeaderFields(Buffer.alloc(0));
  headers.add("X-Long", words);
  const text = headers.toBuffer().toString();
  assert.ok(text.endsWith("\r\n"));
  const lines = text.slice(0, -2).split("\r\n");
  assert.ok(lines.length > 1, "it was folded");
  for (const line of lines) assert.ok(line.length <= 78, `line of ${line.length}: ${line}`);
  for (const line of lines.slice(1)) assert.match(line, /^ \S/);
  assert.equal(headers.get("X-Long"), words, "unfolding gives the value back");
});

test("a word longer than a line stays whole rather than leaving a line with the name alone", () => {
  const long = "x".repeat(100);
  const headers = new HeaderFields(Buffer.alloc(0));
  headers.add("X-Token", `${long} tail`);
  assert.equal(headers.toBuffer().toString(), `X-Token: ${long}\r\n tail\r\n`);
});

test("non-ASCII values become UTF-8 encoded-words, kept short, that decode back to the value", () => {
  const headers = new HeaderFields(Buffer.alloc(0));
  headers.add("Subject", "[SPAM] Caf\u00e9 cr\u00e8me for Andr\u00e9");
  assert.equal(headers.get("Subject"), "[SPAM] =?UTF-8?Q?Caf=C3=A9_cr=C3=A8me?= for =?UTF-8?Q?Andr=C3=A9?=");
  assert.equal(headers.getDecoded("Subject"), "[SPAM] Caf\u00e9 cr\u00e8me for Andr\u00e9");

  const long = "\u00e9t\u00e9 \u65e5\u672c\u8a9e\u{1f600} ".repeat(12).trim();
  headers.set("Subject", long);
  const text = headers.toBuffer().toString();
  assert.match(text, /^[\x20-\x7e\r\n\t]*$/, "only ASCII goes out");
  for (const line of text.slice(0, -2).split("\r\n")) assert.ok(line.length <= 78, `line of ${line.length}`);
  for (const word of text.match(/=\?[^ ]*\?=/g) ?? []) assert.ok(word.length <= 75, `word of ${word.length}`);
  assert.equal(headers.getDecoded("Subject"), long);
});

test("encoded-words are decoded as in RFC 2047 §8", () => {
  const examples: [string, string][] = [
    ["=?US-ASCII?Q?Keith_Moore?= <moore@cs.utk.edu>", "Keith Moore <moore@cs.utk.edu>"],
    ["=?ISO-8859-1?Q?Keld_J=F8rn_Simonsen?= <keld@dkuug.dk>", "Keld J\u00f8rn Simonsen <keld@dkuug.dk>"],
    ["=?ISO-8859-1?Q?Andr=E9?= Pirard <PIRARD@vm1.ulg.ac.be>", "Andr\u00e9 Pirard <PIRARD@vm1.ulg.ac.be>"],
    [
      "=?ISO-8859-1?B?SWYgeW91IGNhbiByZWFkIHRoaXMgeW8=?=\r\n =?ISO-8859-2?B?dSB1bmRlcnN0YW5kIHRoZSBleGFtcGxlLg==?=",
      "If you can read this you understand the example.",
    ],
    ["(=?ISO-8859-1?Q?a?=)", "(a)"],
    ["(=?ISO-8859-1?Q?a?= b)", "(a b)"],
    ["(=?ISO-8859-1?Q?a?= =?ISO-8859-1?Q?b?=)", "(ab)"],
    ["(=?ISO-8859-1?Q?a?=  =?ISO-8859-1?Q?b?=)", "(ab)"],
    ["(=?ISO-8859-1?Q?a?=\r\n    =?ISO-8859-1?Q?b?=)", "(ab)"],
    ["(=?ISO-8859-1?Q?a_b?=)", "(a b)"],
    ["(=?ISO-8859-1?Q?a?= =?ISO-8859-2?Q?_b?=)", "(a b)"],
    ["=?utf-8?b?w6k=?= and =?UTF-8*fr?Q?=C3=A9?=", "\u00e9 and \u00e9"],
    ["=?UTF-8?Q?=C3?= =?UTF-8?Q?=A9?=", "\u00e9"],
    ["=?x-unknown?Q?a?= =?UTF-8?Q?=ZZ?= plain", "=?x-unknown?Q?a?= =?UTF-8?Q?=ZZ?= plain"],
  ];
  for (const [value, decoded] of examples) {
    const headers = new HeaderFields(section(`X-Test: ${value}\r\n`));
    assert.equal(headers.getDecoded("x-test"), decoded, value);
  }
  assert.equal(new HeaderFields(Buffer.alloc(0)).getDecoded("Subject"), undefined);
});
