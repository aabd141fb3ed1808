// Tests command-line splitting: CRLF and bare LF, chunk boundaries, the length limit, and takeRest.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { CommandLineReader, LINE_TOO_LONG } from "./command-line.ts";

/** Drains the reader: lines as strings, LINE_TOO_LONG as "<too long>". */
function drain(reader: CommandLineReader): string[] {
  const out: string[] = [];
  for (let line = reader.next(); line !== null; line = reader.next()) {
    out.push(line === LINE_TOO_LONG ? "<too long>" : line.toString("latin1"));
  }
  return out;
}

describe("CommandLineReader", () => {
  it("splits pipelined CRLF lines from one chunk", () => {
    const reader = new CommandLineReader(512);
    reader.push(Buffer.from("MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n"));
    assert.deepEqual(drain(reader), ["MAIL FROM:<a@b>", "RCPT TO:<c@d>", "DATA"]);
  });

  it("accepts a bare LF as terminator and strips only one trailing CR", () => {
    const reader = new CommandLineReader(512);
    reader.push(Buffer.from("NOOP\nQUIT\r\nX\r\r\n"));
    assert.deepEqual(drain(reader), ["NOOP", "QUIT", "X\r"]);
  });

  it("returns empty lines", () => {
    const reader = new CommandLineReader(512);
    reader.push(Buffer.from("\r\n\n"));
    assert.deepEqual(drain(reader), ["", ""]);
  });

  it("waits for the line ending across chunks, including a CR/LF split", () => {
    const reader = new CommandLineReader(512);
    reader.push(Buffer.from("EH"));
    assert.equal(reader.next(), null);
    reader.push(Buffer.from("LO x\r"));
    assert.equal(reader.next(), null);
    reader.push(Buffer.from("\nNO"));
    assert.deepEqual(drain(reader), ["EHLO x"]);
    reader.push(Buffer.from("OP\r\n"));
    assert.deepEqual(drain(reader), ["NOOP"]);
  });

  it("works fed byte by byte", () => {
    const reader = new CommandLineReader(512);
    const lines: string[] = [];
    for (const byte of Buffer.from("HELO a\r\nNOOP\nQUIT\r\n")) {
      reader.push(Buffer.from([byte]));
      lines.push(...drain(reader));
    }
    assert.deepEqual(lines, ["HELO a", "NOOP", "QUIT"]);
  });

  it("hands out views of the chunk, not copies", () => {
    const reader = new CommandLineReader(512);
    const chunk = Buffer.allocUnsafeSlow(12); // not from the shared pool, so a copy would live elsewhere
    chunk.write("NOOP\r\nQUIT\r\n", "latin1");
    reader.push(chunk);
    reader.next();
    const line = reader.next();
    assert.ok(Buffer.isBuffer(line));
    assert.equal(line.buffer, chunk.buffer);
    assert.equal(line.byteOffset, 6);
  });

  it("accepts a line of exactly the limit, CRLF included, and refuses one octet more", () => {
    const reader = new CommandLineReader(10);
    reader.push(Buffer.from("12345678\r\n123456789\r\nok\r\n"));
    assert.deepEqual(drain(reader), ["12345678", "<too long>", "ok"]);
  });

  it("applies the same content limit to a line ended by a bare LF", () => {
    const reader = new CommandLineReader(10);
    reader.push(Buffer.from("12345678\n123456789\nok\n"));
    assert.deepEqual(drain(reader), ["12345678", "<too long>", "ok"]);
  });

  it("reports an over-long line once, before its end arrives, and discards the rest of it", () => {
    const reader = new CommandLineReader(10);
    reader.push(Buffer.from("123456789"));
    assert.deepEqual(drain(reader), ["<too long>"]);
    reader.push(Buffer.from("more and more"));
    assert.deepEqual(drain(reader), []);
    reader.push(Buffer.from(" still the same line\r\nNOOP\r\n"));
    assert.deepEqual(drain(reader), ["NOOP"]);
  });

  it("does not call a line too long while its final CR waits for the LF", () => {
    const reader = new CommandLineReader(10);
    reader.push(Buffer.from("12345678\r"));
    assert.deepEqual(drain(reader), []);
    reader.push(Buffer.from("\n"));
    assert.deepEqual(drain(reader), ["12345678"]);
  });

  it("reports a long line fed byte by byte once", () => {
    const reader = new CommandLineReader(10);
    const seen: string[] = [];
    for (const byte of Buffer.from(`${"x".repeat(50)}\r\nQUIT\r\n`)) {
      reader.push(Buffer.from([byte]));
      seen.push(...drain(reader));
    }
    assert.deepEqual(seen, ["<too long>", "QUIT"]);
  });

  it("takeRest hands over the pipelined bytes after DATA and empties the reader", () => {
    const reader = new CommandLineReader(512);
    reader.push(Buffer.from("DATA\r\nSubject: hi\r\n\r\nbody\r\n.\r\nQU"));
    assert.deepEqual(reader.next()?.toString(), "DATA");
    assert.equal(reader.takeRest().toString(), "Subject: hi\r\n\r\nbody\r\n.\r\nQU");
    assert.equal(reader.next(), null);
    assert.equal(reader.takeRest().length, 0);
    reader.push(Buffer.from("IT\r\n"));
    assert.deepEqual(drain(reader), ["IT"]);
  });

  it("refuses a limit too small to hold anything", () => {
    assert.throws(() => new CommandLineReader(2), RangeError);
    assert.throws(() => new CommandLineReader(Number.NaN), RangeError);
  });
});
