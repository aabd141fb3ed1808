// Reads a server's replies (RFC 5321 §4.2) from the byte chunks a socket hands the outbound client, and
// formats a reply as one line for logs and DSNs. Pure: no sockets, no timers.
//
// A reply is one or more lines `code-text` ... `code SP text`, all with the same code (2xx-5xx). The enhanced
// status code of RFC 2034 (`x.y.z` at the start of the text, its class matching the reply's) is taken from the
// first line and stripped from every line that carries it. Lines end with CRLF; a bare LF is accepted (its CR,
// if any, is dropped). Anything else is a protocol error: MalformedReplyError, after which the reader is
// spent and the connection must be closed, since nothing later can be trusted to be in step.

import { type Reply, reply } from "./reply.ts";

export class MalformedReplyError extends Error {
  override readonly name = "MalformedReplyError";
}

export type ReplyReaderLimits = {
  /** Longest reply line in octets, without its line ending (RFC 5321 §4.5.3.1.5 says 512 with it; servers exceed it). */
  readonly lineLength: number;
  /** Most lines in one reply (an EHLO reply has a line per extension). */
  readonly lines: number;
};

const DEFAULT_LIMITS: ReplyReaderLimits = { lineLength: 2048, lines: 100 };

const LF = 0x0a;
const CR = 0x0d;
const EMPTY = Buffer.alloc(0);
const LINE = /^([2-5][0-9][0-9])(?:([ -])(.*))?$/s;
const ENHANCED = /^([245])\.(\d{1,3})\.(\d{1,3})(?: |$)/;

export class ReplyReader {
  readonly #limits: ReplyReaderLimits;
  #pending: Buffer = EMPTY;
  /** The code and text lines of the reply being read (its continuation lines so far). */
  #code: number | undefined;
  #lines: string[] = [];
  #broken: MalformedReplyError | undefined;

  constructor(limits: Partial<ReplyReaderLimits> = {}) {
    this.#limits = { ...DEFAULT_LIMITS, ...limits };
  }

  /** True while part of a reply (a line or continuation lines) is held. */
  get partial(): boolean {
    return this.#pending.length > 0 || this.#code !== undefined;
  }

  /**
   * Takes the next chunk from the socket and returns the replies it completes, in order (often none, while a
   * reply is split over chunks). Throws MalformedReplyError on a protocol error, and again on every later call.
   */
  push(chunk: Buffer): Reply[] {
    if (this.#broken !== undefined) throw this.#broken;
    this.#pending = this.#pending.length === 0 ? chunk : Buffer.concat([this.#pending, chunk]);
    const complete: Reply[] = [];
    try {
      let start = 0;
      let lf = this.#pending.indexOf(LF);
      while (lf >= 0) {
        const end = lf > start && this.#pending[lf - 1] === CR ? lf - 1 : lf;
        const done = this.#line(this.#pending.subarray(start, end));
        if (done !== undefined) complete.push(done);
        start = lf + 1;
        lf = this.#pending.indexOf(LF, start);
      }
      this.#pending = start === this.#pending.length ? EMPTY : this.#pending.subarray(start);
      if (this.#pending.length > this.#limits.lineLength + 1) this.#fail(`reply line longer than ${this.#limits.lineLength} octets`);
    } catch (error) {
      if (error instanceof MalformedReplyError) this.#broken = error;
      throw error;
    }
    return complete;
  }

  /** One line without its ending: the finished reply when it was the last line, else undefined. */
  #line(bytes: Buffer): Reply | undefined {
    if (bytes.length > this.#limits.lineLength) this.#fail(`reply line longer than ${this.#limits.lineLength} octets`);
    const text = bytes.toString("utf8");
    const match = LINE.exec(text);
    if (match === null) this.#fail(`not an SMTP reply line: ${JSON.stringify(text.slice(0, 80))}`);
    const code = Number(match[1]);
    if (this.#code !== undefined && code !== this.#code) {
      this.#fail(`reply line with code ${code} inside a reply with code ${this.#code}`);
    }
    this.#code = code;
    this.#lines.push(match[3] ?? "");
    if (this.#lines.length > this.#limits.lines) this.#fail(`reply of more than ${this.#limits.lines} lines`);
    if (match[2] === "-") return undefined;
    const lines = this.#lines;
    this.#code = undefined;
    this.#lines = [];
    return withEnhancedCode(code, lines);
  }

  #fail(why: string): never {
    throw new MalformedReplyError(`protocol error: ${why}`);
  }
}

/** The reply with the enhanced code of its first line (when its class matches) lifted out of every line. */
function withEnhancedCode(code: number, lines: string[]): Reply {
  const first = ENHANCED.exec(lines[0] ?? "");
  if (first === null || first[1] !== String(code)[0]) return reply(code, undefined, ...lines);
  const enhanced = `${first[1]}.${Number(first[2])}.${Number(first[3])}`;
  return reply(code, enhanced, ...lines.map((line) => line.replace(ENHANCED, "")));
}

/** A reply as one line for logs and DSN diagnostics: "550 5.1.1 no such user", lines joined by a space. */
export function replyText(r: Reply): string {
  const text = r.lines.filter((line) => line !== "").join(" ");
  return [String(r.code), r.enhanced, text].filter((part) => part !== undefined && part !== "").join(" ");
}
