// Corner cases of the command parser, proved through the real server: each transcript sends its bytes over
// one raw connection (pipelined, after the greeting) and expects exactly these reply codes, then QUIT's 221,
// so a missing or extra reply fails too. smtp/*.test.ts prove the same logic in isolation; these prove the
// server wires it up. One server for the file; each transcript makes fewer refusals than max_errors.

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Petrel } from "./support/petrel-process.ts";
import { RawClient, type ServerReply } from "./support/smtp-client.ts";

type Transcript = {
  readonly name: string;
  /** Exact bytes sent after the greeting, CRLFs included (latin1: one char per byte). */
  readonly send: string;
  readonly replies: readonly number[];
};

const EHLO = "EHLO client.test\r\n";
const MAIL = "MAIL FROM:<sender@client.test>\r\n";
const NULL_MAIL = "MAIL FROM:<>\r\n";
const RSET = "RSET\r\n";
const rcpt = (rest: string): string => `RCPT TO:<postmaster@localhost> ${rest}\r\n`;

const TRANSCRIPTS: readonly Transcript[] = [
  // --- the command line itself ---
  { name: "an empty line is an unknown command", send: `${EHLO}\r\nNOOP\r\n`, replies: [250, 500, 250] },
  { name: "a tab is a control character, wherever it is", send: `${EHLO}NOOP\tx\r\nMAIL FROM:\t<a@b.test>\r\n${MAIL}`, replies: [250, 500, 500, 250] },
  { name: "NUL and a stray CR are control characters", send: `${EHLO}NO\x00OP\r\nNOOP\rx\r\nNOOP\r\n`, replies: [250, 500, 500, 250] },
  { name: "a line that is not UTF-8 is refused", send: `${EHLO}NOOP \xff\r\nNOOP\r\n`, replies: [250, 500, 250] },
  { name: "a bare LF ends a command line", send: `${EHLO}NOOP\nRSET\n`, replies: [250, 250, 250] },
  {
    name: "trailing spaces are ignored, even after verbs that take no argument",
    send: `EHLO client.test   \r\nMAIL FROM:<a@b.test>   \r\nRCPT TO:<postmaster@localhost>  \r\nRSET \r\nQUIT  \r\n`,
    replies: [250, 250, 250, 250, 221],
  },
  { name: "DATA with trailing spaces starts the message", send: `${EHLO}${MAIL}${rcpt("")}DATA  \r\nSubject: x\r\n\r\nbody\r\n.\r\n`, replies: [250, 250, 250, 354, 250] },
  { name: "an argument after DATA or RSET is refused", send: `${EHLO}${MAIL}${rcpt("")}DATA now\r\nRSET all\r\n`, replies: [250, 250, 250, 501, 501] },
  {
    name: "verbs and FROM:/TO: in any case",
    send: "ehlo client.test\r\nmail from:<a@b.test>\r\nRcpt To:<postmaster@localhost>\r\nrset\r\nnoop\r\nHeLo client.test\r\nquit\r\n",
    replies: [250, 250, 250, 250, 250, 250, 221],
  },
  { name: "HELO and EHLO need a domain, spaces do not count", send: "EHLO   \r\nHELO \r\n HELO x\r\n", replies: [501, 501, 500] },

  // --- MAIL FROM: and RCPT TO: forms ---
  {
    name: "spaces after FROM: are allowed, a missing colon or space before parameters is not",
    send: `${EHLO}MAIL FROM: <a@b.test>\r\n${RSET}MAIL FROM:   <a@b.test>\r\n${RSET}MAIL FROM <a@b.test>\r\nMAIL FROM:<a@b.test>SIZE=1\r\nMAIL FROM:<a@b.test\r\n`,
    replies: [250, 250, 250, 250, 250, 501, 501, 501],
  },
  { name: "a single-word path without brackets is accepted", send: `${EHLO}MAIL FROM:a@b.test\r\nRCPT TO:postmaster@localhost\r\n`, replies: [250, 250, 250] },
  {
    name: "quoted local parts: spaces and quoted pairs inside quotes, nothing glued after them",
    send: `${EHLO}${NULL_MAIL}RCPT TO:<"john doe"@localhost>\r\nRCPT TO:<"a\\"b"@localhost>\r\nRCPT TO:<""@localhost>\r\nRCPT TO:<"john"doe@localhost>\r\nRCPT TO:<"open@localhost>\r\n`,
    replies: [250, 250, 250, 250, 250, 501, 501],
  },
  {
    name: "dot-strings: no empty atom, no leading or trailing dot",
    send: `${EHLO}${NULL_MAIL}RCPT TO:<john.doe@localhost>\r\nRCPT TO:<john..doe@localhost>\r\nRCPT TO:<.john@localhost>\r\nRCPT TO:<john.@localhost>\r\n`,
    replies: [250, 250, 250, 501, 501, 501],
  },
  {
    name: "address literals: IPv4 and IPv6: only, checked",
    send: `${EHLO}MAIL FROM:<a@[192.0.2.1]>\r\n${RSET}MAIL FROM:<a@[IPv6:2001:db8::1]>\r\n${RSET}MAIL FROM:<a@[300.1.1.1]>\r\nMAIL FROM:<a@[IPv6:zz]>\r\nMAIL FROM:<a@[x-tag:foo]>\r\nMAIL FROM:<a@[192.0.2.1>\r\n`,
    replies: [250, 250, 250, 250, 250, 501, 501, 501, 501],
  },
  {
    name: "an address literal is not a local domain",
    send: `${EHLO}${NULL_MAIL}RCPT TO:<postmaster@[127.0.0.1]>\r\n`,
    replies: [250, 250, 550],
  },
  {
    name: "Postmaster without a domain, any case, as a recipient only",
    send: `${EHLO}${NULL_MAIL}RCPT TO:<Postmaster>\r\nRCPT TO:<POSTMASTER>\r\nRCPT TO:<postmaster@LOCALHOST>\r\nRCPT TO:<postmaster@elsewhere.test>\r\n${RSET}MAIL FROM:<Postmaster>\r\n`,
    replies: [250, 250, 250, 250, 250, 550, 250, 501],
  },
  {
    name: "a local part of 64 octets passes, 65 is refused for either path",
    send: `${EHLO}${NULL_MAIL}RCPT TO:<${"a".repeat(64)}@localhost>\r\nRCPT TO:<${"a".repeat(65)}@localhost>\r\n${RSET}MAIL FROM:<${"b".repeat(65)}@b.test>\r\n`,
    replies: [250, 250, 250, 501, 250, 501],
  },
  {
    name: "a domain label of 64 octets is refused",
    send: `${EHLO}MAIL FROM:<a@${"x".repeat(64)}.test>\r\nMAIL FROM:<a@${"x".repeat(63)}.test>\r\n`,
    replies: [250, 501, 250],
  },
  { name: "the null path is refused as a recipient", send: `${EHLO}${NULL_MAIL}RCPT TO:<>\r\n`, replies: [250, 250, 501] },

  // --- DSN parameters (RFC 3461) ---
  {
    name: "ENVID is xtext of at most 100 characters, without controls",
    send: `${EHLO}MAIL FROM:<a@b.test> ENVID=a+2Bb\r\n${RSET}MAIL FROM:<a@b.test> ENVID=a+2\r\nMAIL FROM:<a@b.test> ENVID=a+ZZ\r\nMAIL FROM:<a@b.test> ENVID=\r\nMAIL FROM:<a@b.test> ENVID=a+0A\r\nMAIL FROM:<a@b.test> ENVID=${"e".repeat(101)}\r\nMAIL FROM:<a@b.test> ENVID=${"e".repeat(100)}\r\n`,
    replies: [250, 250, 250, 501, 501, 501, 501, 501, 250],
  },
  {
    name: "ORCPT is addr-type;xtext, or utf-8;address with \\x{} escapes",
    send: `${EHLO}${NULL_MAIL}${rcpt("ORCPT=rfc822;a+40b.test")}${rcpt("ORCPT=RFC822;a@b.test")}${rcpt("ORCPT=utf-8;a\\x{E9}@b.test")}${rcpt("ORCPT=rfc822;a@b+")}${rcpt("ORCPT=rfc822")}${rcpt("ORCPT=;a@b.test")}${rcpt("ORCPT=utf-8;a\\x{D800}@b.test")}`,
    replies: [250, 250, 250, 250, 250, 501, 501, 501, 501],
  },
  {
    name: "NOTIFY is NEVER alone or a set of SUCCESS, FAILURE, DELAY",
    send: `${EHLO}${NULL_MAIL}${rcpt("NOTIFY=NEVER")}${rcpt("NOTIFY=success,delay")}${rcpt("NOTIFY=SUCCESS,FAILURE,DELAY")}${rcpt("NOTIFY=NEVER,SUCCESS")}${rcpt("NOTIFY=SUCCESS,SUCCESS")}${rcpt("NOTIFY=SOMETIMES")}${rcpt("NOTIFY=")}`,
    replies: [250, 250, 250, 250, 250, 501, 501, 501, 501],
  },
  {
    name: "a parameter given twice is refused, whatever its case",
    send: `${EHLO}MAIL FROM:<a@b.test> SIZE=1 SIZE=2\r\nMAIL FROM:<a@b.test> BODY=7BIT body=8BITMIME\r\nMAIL FROM:<a@b.test> RET=FULL RET=HDRS\r\n${MAIL}${rcpt("NOTIFY=SUCCESS NOTIFY=FAILURE")}${rcpt("ORCPT=rfc822;a@b.test ORCPT=rfc822;c@d.test")}`,
    replies: [250, 501, 501, 501, 250, 501, 501],
  },
  {
    name: "unknown parameters get 555, RCPT does not take MAIL's",
    send: `${EHLO}MAIL FROM:<a@b.test> FROBNICATE=1\r\n${MAIL}${rcpt("SIZE=10")}${rcpt("BODY=8BITMIME")}`,
    replies: [250, 555, 250, 555, 555],
  },
];

/** The next `count` replies, stopping early if the server closes. */
async function readReplies(client: RawClient, count: number): Promise<ServerReply[]> {
  const replies: ServerReply[] = [];
  while (replies.length < count) {
    const reply = await client.read();
    if (reply === null) break;
    replies.push(reply);
  }
  return replies;
}

describe("command parser transcripts through the server", () => {
  let petrel: Petrel;
  before(async () => {
    petrel = await Petrel.start();
  });
  after(async () => {
    await petrel.remove();
  });

  for (const transcript of TRANSCRIPTS) {
    it(transcript.name, async () => {
      const client = await RawClient.greeted(petrel.port);
      try {
        client.write(transcript.send);
        const replies = await readReplies(client, transcript.replies.length);
        const codes = replies.map((reply) => reply.code);
        const shown = replies.map((reply) => reply.text).join("\n");
        assert.deepEqual(codes, transcript.replies, `expected ${transcript.replies.join(" ")}, got ${codes.join(" ")}:\n${shown}`);
        if (transcript.replies.at(-1) === 221) return;
        assert.equal((await client.command("QUIT"))?.code, 221, "an extra reply came before QUIT's");
      } finally {
        client.close();
      }
    });
  }
});
