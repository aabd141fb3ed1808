// Splits the bytes a client sends in command mode into command lines (RFC 5321 §2.3.8, §4.5.3.1.4).
// Lines end with CRLF; a bare LF is accepted too (its trailing CR, if any, is stripped). A line longer than
// the limit is reported once as LINE_TOO_LONG and the rest of it is thrown away up to its LF, so the
// session stays in step. This file never interprets a line and never copies bytes one at a time: it
// searches with indexOf and hands out subarray views of the chunks it was given.

export const LINE_TOO_LONG: unique symbol = Symbol("LINE_TOO_LONG");

const LF = 0x0a;
const CR = 0x0d;
const EMPTY = Buffer.alloc(0);

export class CommandLineReader {
  /** Longest line content allowed, without its line ending. */
  readonly #contentLimit: number;
  /** Bytes received and not yet handed out. */
  #pending: Buffer = EMPTY;
  /** How many leading bytes of #pending are known to hold no LF (so they are not searched again). */
  #searched = 0;
  /** True while throwing away the tail of an over-long line. */
  #discarding = false;

  /**
   * @param maxLength the longest command line in octets, counting its CRLF as RFC 5321 does (512 there;
   * extensions such as AUTH may need more). A line ended by a bare LF gets the same content limit.
   */
  constructor(maxLength: number) {
    if (!Number.isInteger(maxLength) || maxLength < 3) {
      throw new RangeError(`command line limit must be an integer of at least 3, got ${maxLength}`);
    }
    this.#contentLimit = maxLength - 2;
  }

  /** True while part of a line is held (or being discarded): the client is in the middle of a command. */
  get partial(): boolean {
    return this.#pending.length > 0 || this.#discarding;
  }

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.#pending = this.#pending.length === 0 ? chunk : Buffer.concat([this.#pending, chunk]);
  }

  /**
   * The next complete command line without its line ending, LINE_TOO_LONG for a line over the limit
   * (once per such line), or null when no complete line is buffered yet.
   */
  next(): Buffer | typeof LINE_TOO_LONG | null {
    for (;;) {
      const lf = this.#pending.indexOf(LF, this.#searched);
      if (this.#discarding) {
        if (lf === -1) {
          this.#clear();
          return null;
        }
        this.#consume(lf + 1);
        this.#discarding = false;
        continue;
      }
      if (lf === -1) return this.#waitForEnd();
      const end = lf > 0 && this.#pending[lf - 1] === CR ? lf - 1 : lf;
      const line = this.#pending.subarray(0, end);
      this.#consume(lf + 1);
      return line.length > this.#contentLimit ? LINE_TOO_LONG : line;
    }
  }

  /**
   * Hands over every byte not yet returned as a line and empties the reader. The server calls it when
   * it leaves command mode (DATA, BDAT, STARTTLS), because a pipelining client may already have sent
   * what follows.
   */
  takeRest(): Buffer {
    const rest = this.#pending;
    this.#clear();
    this.#discarding = false;
    return rest;
  }

  /** No LF buffered: start discarding if the partial line can no longer fit, else wait for more bytes. */
  #waitForEnd(): typeof LINE_TOO_LONG | null {
    const length = this.#pending.length;
    const limitWithCr = this.#contentLimit + 1;
    const tooLong = length > limitWithCr || (length === limitWithCr && this.#pending[length - 1] !== CR);
    if (!tooLong) {
      this.#searched = length;
      return null;
    }
    this.#clear();
    this.#discarding = true;
    return LINE_TOO_LONG;
  }

  #consume(count: number): void {
    this.#pending = count >= this.#pending.length ? EMPTY : this.#pending.subarray(count);
    this.#searched = 0;
  }

  #clear(): void {
    this.#pending = EMPTY;
    this.#searched = 0;
  }
}
