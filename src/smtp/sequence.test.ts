// Tests the command sequencing rule: each 503 case and the verbs allowed in every state.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Verb } from "./command.ts";
import { replies } from "./replies.ts";
import type { Reply } from "./reply.ts";
import { checkSequence, type SessionSequence } from "./sequence.ts";

const CONNECTED: SessionSequence = { greeted: "none", inMail: false, recipients: 0, bdatInProgress: false };
const GREETED: SessionSequence = { ...CONNECTED, greeted: "ehlo" };
const IN_MAIL: SessionSequence = { ...GREETED, inMail: true };
const WITH_RECIPIENT: SessionSequence = { ...IN_MAIL, recipients: 1 };
const CHUNKING: SessionSequence = { ...WITH_RECIPIENT, bdatInProgress: true };

const CASES: readonly (readonly [string, SessionSequence, Verb, Reply | null])[] = [
  ["MAIL before HELO/EHLO", CONNECTED, "MAIL", replies.greetFirst],
  ["MAIL after HELO", { ...CONNECTED, greeted: "helo" }, "MAIL", null],
  ["MAIL after EHLO", GREETED, "MAIL", null],
  ["nested MAIL", IN_MAIL, "MAIL", replies.nestedMail],
  ["RCPT before MAIL", GREETED, "RCPT", replies.mailFirst],
  ["RCPT before anything", CONNECTED, "RCPT", replies.mailFirst],
  ["RCPT after MAIL", IN_MAIL, "RCPT", null],
  ["more RCPT", WITH_RECIPIENT, "RCPT", null],
  ["RCPT during BDAT", CHUNKING, "RCPT", replies.notDuringChunking],
  ["DATA before MAIL", GREETED, "DATA", replies.mailFirst],
  ["DATA without recipient", IN_MAIL, "DATA", replies.recipientFirst],
  ["DATA with a recipient", WITH_RECIPIENT, "DATA", null],
  ["DATA after BDAT started", CHUNKING, "DATA", replies.dataAfterBdat],
  ["DATA with BODY=BINARYMIME", { ...WITH_RECIPIENT, body: "BINARYMIME" }, "DATA", replies.dataWithBinaryMime],
  ["DATA with BODY=8BITMIME", { ...WITH_RECIPIENT, body: "8BITMIME" }, "DATA", null],
  ["BDAT before MAIL", GREETED, "BDAT", replies.mailFirst],
  ["BDAT without recipient", IN_MAIL, "BDAT", replies.recipientFirst],
  ["BDAT with a recipient", WITH_RECIPIENT, "BDAT", null],
  ["BDAT with BODY=BINARYMIME", { ...WITH_RECIPIENT, body: "BINARYMIME" }, "BDAT", null],
  ["more BDAT", CHUNKING, "BDAT", null],
  ["MAIL during BDAT", CHUNKING, "MAIL", replies.nestedMail],
  ["STARTTLS before EHLO", CONNECTED, "STARTTLS", replies.ehloFirst],
  ["STARTTLS after HELO", { ...CONNECTED, greeted: "helo" }, "STARTTLS", replies.ehloFirst],
  ["STARTTLS after EHLO", GREETED, "STARTTLS", null],
  ["STARTTLS twice", { ...GREETED, tls: true }, "STARTTLS", replies.tlsAlreadyActive],
  ["STARTTLS in a transaction", IN_MAIL, "STARTTLS", replies.notInTransaction],
  ["AUTH before EHLO", CONNECTED, "AUTH", replies.ehloFirst],
  ["AUTH after EHLO", GREETED, "AUTH", null],
  ["AUTH twice", { ...GREETED, authenticated: true }, "AUTH", replies.alreadyAuthenticated],
  ["AUTH in a transaction", IN_MAIL, "AUTH", replies.notInTransaction],
];

describe("checkSequence", () => {
  for (const [name, state, verb, expected] of CASES) {
    it(name, () => {
      assert.equal(checkSequence(state, verb), expected);
    });
  }

  for (const verb of ["HELO", "EHLO", "RSET", "NOOP", "QUIT", "HELP", "VRFY", "EXPN", "UNKNOWN"] as const) {
    it(`${verb} is allowed in every state`, () => {
      for (const state of [CONNECTED, GREETED, IN_MAIL, WITH_RECIPIENT, CHUNKING]) assert.equal(checkSequence(state, verb), null);
    });
  }

  it("answers 503 5.5.1 for every refusal", () => {
    for (const [, , , expected] of CASES) {
      if (expected !== null) assert.deepEqual([expected.code, expected.enhanced], [503, "5.5.1"]);
    }
  });
});
