import { test } from "node:test";
import assert from "node:assert/strict";
import { headerSectionEnd, missingSubmissionHeaders } from "./submission-headers.ts";

const now = new Date(Date.UTC(2026, 10, 28, 12, 0, 0));

test("the header section ends at the first blank line, or at once when the message starts with one", () => {
  assert.equal(headerSectionEnd(Buffer.from("Subject: x\r\n\r\nbody")), 14);
  assert.equal(headerSectionEnd(Buffer.from("\r\nbody")), 2);
  assert.equal(headerSectionEnd(Buffer.from("Subject: x\r\nTo: y\r\n")), -1);
});

test("Date and Message-ID are added only when missing, whatever their case and spacing", () => {
  const both = missingSubmissionHeaders(Buffer.from("Subject: x\r\n\r\n"), "mx.example.org", "1ABC", now).toString();
  assert.match(both, /^Date: [A-Z][a-z]{2}, \d+ Nov 2026 \d\d:\d\d:\d\d [+-]\d{4}\r\nMessage-ID: <1ABC@mx\.example\.org>\r\n$/);
  const present = "DATE: Sat, 28 Nov 2026 12:00:00 +0000\r\nmessage-id : <a@b>\r\nSubject: x\r\n\r\n";
  assert.equal(missingSubmissionHeaders(Buffer.from(present), "mx.example.org", "1ABC", now).length, 0);
  const folded = "Subject: x\r\n Date: in a folded line is not a field\r\n\r\n";
  assert.match(missingSubmissionHeaders(Buffer.from(folded), "h", "1", now).toString(), /^Date: /);
});
