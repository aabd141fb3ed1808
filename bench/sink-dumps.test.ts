// Tests of the relay load's arrival check: smtp-sink dump records read back, and every way a message can go
// missing or arrive twice reported.

import assert from "node:assert/strict";
import { test } from "node:test";
import { checkArrivals, dumpedMessages, dumpedRecipients } from "./sink-dumps.ts";
import { lastMessageCount } from "./smtp-sink.ts";

/** One record as smtp-sink -D writes it (CRs stripped), with the relaying server's Received line. */
function record(recipient: string, parameters = ""): string {
  return [
    "X-Client-Addr: 127.0.0.1",
    "X-Client-Proto: ESMTP",
    "X-Helo-Args: petrel.bench.test",
    "X-Mail-Args: <sender@bench.test> SIZE=4300",
    `X-Rcpt-Args: <${recipient}>${parameters}`,
    "Received: from petrel.bench.test ([127.0.0.1])",
    "\tby smtp-sink (smtp-sink) with ESMTP id 0cf7c440;",
    "\tSun, 29 Nov 2026 04:30:54 +0000 (UTC)",
    "Received: from client.bench.test by petrel (Petrel) with ESMTP id 01ABC; Sun, 29 Nov 2026 04:30:54 +0000",
    `To: <${recipient}>`,
    "",
    "1XXXXXXXXXXXXXXXX",
    "",
  ].join("\n");
}

test("recipients and messages are read from the sink's own header lines, RCPT parameters left out", () => {
  const dump = record("1recipient@remote.test", " ORCPT=rfc822;1recipient@remote.test") + record("2recipient@remote.test");
  assert.deepEqual(dumpedRecipients(dump), ["1recipient@remote.test", "2recipient@remote.test"]);
  assert.equal(dumpedMessages(dump), 2);
});

test("every recipient once: no problem", () => {
  const dump = [3, 1, 2].map((sequence) => record(`${sequence}recipient@remote.test`)).join("");
  assert.deepEqual(checkArrivals(dump, 3, "recipient@remote.test"), { messages: 3, problems: [] });
});

test("a message missing, one arriving twice and one from another run are each reported", () => {
  const dump = ["1", "2", "2", "9"].map((sequence) => record(`${sequence}recipient@remote.test`)).join("");
  const { messages, problems } = checkArrivals(dump, 3, "recipient@remote.test");
  assert.equal(messages, 4);
  assert.deepEqual(problems, [
    "4 messages arrived, 3 were sent",
    "1 recipients never arrived: 3recipient@remote.test",
    "1 recipients arrived more than once: 2recipient@remote.test (2 times)",
    "1 recipients were not sent in this run: 9recipient@remote.test",
  ]);
});

test("the sink's running count is the last complete mesg= figure", () => {
  assert.equal(lastMessageCount("sess=0 quit=0 mesg=1\rsess=1 quit=1 mesg=12"), 12);
  assert.equal(lastMessageCount("sess=1 quit=1"), undefined);
});
