// Tests DATA decoding: end of data, dot-unstuffing, every split point, smuggling look-alikes, size limit,
// and agreement with a slow reference written straight from the rules.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { type BareLineEndings, DataDecoder } from "./data-decoder.ts";

type Outcome = { body: string; done: boolean; rest: string | null; size: number; bare: boolean; overflow: boolean };

const bytes = (text: string) => Buffer.from(text, "latin1");

/** Feeds `input` cut at `cuts` (sorted offsets) and gathers what the decoder hands out. */
function decode(input: Buffer, mode: BareLineEndings, cuts: readonly number[] = [], maxSize = 1 << 20): Outcome {
  const decoder = new DataDecoder({ maxSize, bareLineEndings: mode });
  const body: Buffer[] = [];
  let rest: Buffer | null = null;
  let done = false;
  let start = 0;
  for (const end of [...cuts, input.length]) {
    const chunk = input.subarray(start, end);
    start = end;
    if (done) {
      rest = Buffer.concat([rest ?? Buffer.alloc(0), chunk]);
      continue;
    }
    const out = decoder.push(chunk);
    body.push(...out.body);
    if (out.done) {
      done = true;
      rest = out.rest;
    } else {
      assert.equal(out.rest, null);
    }
  }
  return {
    body: Buffer.concat(body).toString("latin1"),
    done,
    rest: rest === null ? null : rest.toString("latin1"),
    size: decoder.size,
    bare: decoder.bareLineEnding,
    overflow: decoder.overflow,
  };
}

/**
 * The specification written the slow, obvious way, for inputs that hold a real end: the data ends at the
 * first <CRLF>.<CRLF> counting the CRLF of the DATA command; the body is what comes before its final
 * dot line; "normalize" turns every CR, LF or CRLF into CRLF; then a dot opening a line is removed (in
 * "reject" only lines opened by a real CRLF count).
 */
function reference(input: string, mode: BareLineEndings): Outcome {
  const framed = `\r\n${input}`;
  const end = framed.indexOf("\r\n.\r\n");
  assert.notEqual(end, -1, "reference needs a real end");
  const raw = framed.slice(2, end + 2);
  const lines = mode === "normalize" ? raw.replace(/\r\n|\r|\n/g, "\r\n") : raw;
  const body = `\r\n${lines}`.replaceAll("\r\n.", "\r\n").slice(2);
  const bare = /\r(?!\n)|(?<!\r)\n/.test(raw);
  return { body, done: true, rest: framed.slice(end + 5), size: body.length, bare, overflow: false };
}

/** Small deterministic PRNG (mulberry32), so a failing case can be replayed. */
function random(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomCuts(length: number, next: () => number): number[] {
  const cuts = new Set<number>();
  const count = Math.floor(next() * Math.min(length, 12));
  for (let i = 0; i < count; i++) cuts.add(Math.floor(next() * (length + 1)));
  return [...cuts].sort((a, b) => a - b);
}

/** Asserts the same outcome whole, cut at every single point, byte by byte and in random pieces. */
function assertSplitProof(input: Buffer, mode: BareLineEndings, expected: Outcome): void {
  assert.deepEqual(decode(input, mode), expected, "whole");
  for (let cut = 0; cut <= input.length; cut++) assert.deepEqual(decode(input, mode, [cut]), expected, `cut at ${cut}`);
  const everyByte = Array.from({ length: input.length }, (_, i) => i);
  assert.deepEqual(decode(input, mode, everyByte), expected, "byte by byte");
  const next = random(input.length * 31 + (mode === "normalize" ? 1 : 0));
  for (let round = 0; round < 20; round++) {
    const cuts = randomCuts(input.length, next);
    assert.deepEqual(decode(input, mode, cuts), expected, `cuts ${cuts.join(",")}`);
  }
}

const MODES: readonly BareLineEndings[] = ["reject", "normalize"];

describe("DataDecoder: end of data and dot-unstuffing", () => {
  const CASES: readonly { name: string; input: string; body: string; rest: string }[] = [
    { name: "plain message", input: "Subject: hi\r\n\r\nbody\r\n.\r\n", body: "Subject: hi\r\n\r\nbody\r\n", rest: "" },
    { name: "empty message: .<CRLF> as the very first line", input: ".\r\n", body: "", rest: "" },
    { name: "pipelined commands after the end", input: "x\r\n.\r\nMAIL FROM:<a@b>\r\nQU", body: "x\r\n", rest: "MAIL FROM:<a@b>\r\nQU" },
    { name: "stuffed lone dot", input: "a\r\n..\r\nb\r\n.\r\n", body: "a\r\n.\r\nb\r\n", rest: "" },
    { name: "stuffed dot before text", input: "..hidden\r\n...\r\n.x\r\n.\r\n", body: ".hidden\r\n..\r\nx\r\n", rest: "" },
    { name: "dots inside lines untouched", input: "a.b. .\r\n x.\r\n.\r\n", body: "a.b. .\r\n x.\r\n", rest: "" },
    { name: "empty lines kept", input: "\r\n\r\n.\r\n", body: "\r\n\r\n", rest: "" },
    { name: "only the first end counts", input: "a\r\n.\r\n.\r\n", body: "a\r\n", rest: ".\r\n" },
    { name: "dot-CR-CR-LF is not an end", input: "a\r\n.\r\r\n.\r\n", body: "a\r\n\r\r\n", rest: "" },
  ];
  for (const mode of MODES) {
    for (const c of CASES) {
      it(`${mode}: ${c.name}`, () => {
        const bare = c.name.startsWith("dot-CR-CR");
        const body = mode === "normalize" && bare ? "a\r\n\r\n\r\n" : c.body;
        const expected = { body, done: true, rest: c.rest, size: body.length, bare, overflow: false };
        assertSplitProof(bytes(c.input), mode, expected);
        assert.deepEqual(reference(c.input, mode), expected);
      });
    }
  }

  it("is not done until the end arrives, holding back only the final dot", () => {
    const decoder = new DataDecoder({ maxSize: 100, bareLineEndings: "reject" });
    assert.deepEqual(decoder.push(bytes("line\r\n.")), { body: [bytes("line\r\n")], done: false, rest: null });
    assert.deepEqual(decoder.push(bytes("\r")), { body: [], done: false, rest: null });
    assert.equal(decoder.done, false);
    assert.deepEqual(decoder.push(bytes("\nNOOP\r\n")), { body: [], done: true, rest: bytes("NOOP\r\n") });
    assert.equal(decoder.done, true);
  });

  it("hands everything pushed after the end back as rest", () => {
    const decoder = new DataDecoder({ maxSize: 100, bareLineEndings: "reject" });
    decoder.push(bytes(".\r\n"));
    assert.deepEqual(decoder.push(bytes("QUIT\r\n")), { body: [], done: true, rest: bytes("QUIT\r\n") });
  });
});

describe("DataDecoder: body bytes pass through untouched", () => {
  it("keeps every octet but CR and LF byte for byte, 8-bit, NUL and invalid UTF-8 included", () => {
    const line = Buffer.from(Array.from({ length: 256 }, (_, i) => i).filter((b) => b !== 0x0d && b !== 0x0a));
    const input = Buffer.concat([line, bytes("\r\n"), bytes("\xff\xfe\xc3\x28\x00\r\n"), bytes(".\r\n")]);
    const expected = Buffer.concat([line, bytes("\r\n\xff\xfe\xc3\x28\x00\r\n")]).toString("latin1");
    for (const mode of MODES) {
      assertSplitProof(input, mode, { body: expected, done: true, rest: "", size: expected.length, bare: false, overflow: false });
    }
  });

  it("hands out views of the pushed chunk, not copies", () => {
    const chunk = Buffer.allocUnsafeSlow(13); // not from the shared pool, so a copy would live elsewhere
    chunk.write("one\r\n..two\r\n.", "latin1");
    const decoder = new DataDecoder({ maxSize: 100, bareLineEndings: "reject" });
    const { body } = decoder.push(chunk);
    assert.deepEqual(body.map((b) => b.toString("latin1")), ["one\r\n", ".two\r\n"]);
    for (const slice of body) assert.equal(slice.buffer, chunk.buffer);
    assert.deepEqual(body.map((b) => b.byteOffset), [0, 6]);
  });
});

describe("DataDecoder: SMTP smuggling look-alikes never end the data", () => {
  const SEQUENCES = ["\n.\n", "\n.\r\n", "\r.\r\n", "\r\n.\r", "\r\n.\n", "\r\n\x00.\r\n", "\r\n.\x00\r\n", "\n\n.\r\n"];
  const SMUGGLED = "MAIL FROM:<evil@attacker.example>\r\nRCPT TO:<victim@example.com>\r\nDATA\r\nFrom: ceo@example.com\r\n";
  for (const sequence of SEQUENCES) {
    const input = `Subject: x\r\n\r\nbody${sequence}${SMUGGLED}\r\n.\r\nQUIT\r\n`;
    const bare = !sequence.includes("\x00");
    for (const mode of MODES) {
      it(`${mode}: ${JSON.stringify(sequence)} stays inside the message`, () => {
        const outcome = decode(bytes(input), mode);
        assert.equal(outcome.done, true);
        assert.equal(outcome.rest, "QUIT\r\n", "only the real end ends the data");
        assert.ok(outcome.body.includes("MAIL FROM:<evil@attacker.example>\r\nRCPT TO:"), "smuggled text is body");
        assert.equal(outcome.bare, bare);
        if (mode === "normalize") {
          assert.doesNotMatch(outcome.body, /\r(?!\n)|(?<!\r)\n/, "normalised body has only CRLF");
        }
        assertSplitProof(bytes(input), mode, reference(input, mode));
      });
    }
  }

  it("normalize: a lone dot after a bare LF is unstuffed into an empty line, and the data goes on", () => {
    assert.equal(decode(bytes("a\n.\nb\r\n.\r\n"), "normalize").body, "a\r\n\r\nb\r\n");
    assert.equal(decode(bytes("a\n.\r\nb\r\n.\r\n"), "normalize").body, "a\r\n\r\nb\r\n");
    assert.equal(decode(bytes("a\n..x\r\n.\r\n"), "normalize").body, "a\r\n.x\r\n");
    assert.equal(decode(bytes("a\r.\rb\r\n.\r\n"), "normalize").body, "a\r\n\r\nb\r\n");
  });

  it("reject: bytes around bare endings are kept as sent, and only CRLF opens a line", () => {
    assert.equal(decode(bytes("a\n..x\r\n.\r\n"), "reject").body, "a\n..x\r\n");
    assert.equal(decode(bytes("a\r\n.\rb\r\n.\r\n"), "reject").body, "a\r\n\rb\r\n");
  });

  it("flags bare CR and bare LF, and not CRLF", () => {
    assert.equal(decode(bytes("a\rb\r\n.\r\n"), "reject").bare, true);
    assert.equal(decode(bytes("a\nb\r\n.\r\n"), "reject").bare, true);
    assert.equal(decode(bytes("a\r\nb\r\n.\r\n"), "reject").bare, false);
  });
});

describe("DataDecoder: agrees with the reference on random inputs", () => {
  const ALPHABET = ["\r", "\n", ".", "a", "\x00", "\xff", "\r\n", "\r\n."];
  for (const mode of MODES) {
    it(`${mode}: 1500 random messages in random pieces`, () => {
      const next = random(mode === "reject" ? 7 : 11);
      for (let round = 0; round < 1500; round++) {
        let text = "";
        const length = Math.floor(next() * 16);
        for (let i = 0; i < length; i++) text += ALPHABET[Math.floor(next() * ALPHABET.length)];
        const input = `${text}\r\n.\r\nREST`;
        const cuts = randomCuts(input.length, next);
        assert.deepEqual(decode(bytes(input), mode, cuts), reference(input, mode), `${JSON.stringify(input)} cut at ${cuts}`);
      }
    });
  }
});

describe("DataDecoder: size limit", () => {
  it("stops handing out body past maxSize but keeps scanning to the real end", () => {
    const input = bytes(`${"x".repeat(20)}\r\n..${"y".repeat(20)}\r\n.\r\nQUIT\r\n`);
    for (const cuts of [[], Array.from({ length: input.length }, (_, i) => i)]) {
      const outcome = decode(input, "reject", cuts, 10);
      assert.equal(outcome.overflow, true);
      assert.equal(outcome.size, 45);
      assert.ok(outcome.body.length <= 10);
      assert.equal(outcome.done, true);
      assert.equal(outcome.rest, "QUIT\r\n");
    }
  });

  it("accepts a body of exactly maxSize", () => {
    const outcome = decode(bytes("12345678\r\n.\r\n"), "reject", [], 10);
    assert.deepEqual(outcome, { body: "12345678\r\n", done: true, rest: "", size: 10, bare: false, overflow: false });
  });

  it("counts unstuffed and normalised octets", () => {
    assert.equal(decode(bytes("..\r\n.\r\n"), "reject").size, 3);
    assert.equal(decode(bytes("a\nb\n.\r\n.\r\n"), "normalize").size, 8);
  });

  it("refuses a bad maxSize", () => {
    assert.throws(() => new DataDecoder({ maxSize: -1, bareLineEndings: "reject" }), RangeError);
    assert.throws(() => new DataDecoder({ maxSize: 1.5, bareLineEndings: "reject" }), RangeError);
  });
});
