// Decodes the bytes a client sends after "354" (RFC 5321 §4.1.1.4, §4.5.2): removes dot-stuffing, finds
// the end of the data, and hands back body slices for the spool. The end is ONLY <CRLF>.<CRLF> (or ".<CRLF>"
// as the very first line): none of the SMTP smuggling look-alikes (`\n.\n`, `\n.\r\n`, `\r.\r\n`,
// `\r\n.\r`, `\r\n.\n`, NUL around the dot, ...) can end it, whatever the mode.
//
// It never decodes the body to a string, never runs a regex over it and never copies it byte by byte: it
// scans with indexOf and returns subarray views of the chunks it was given (plus a shared, read-only CRLF,
// CR or LF where a line ending is normalised or a held-back CR is released). Body octets (8-bit, NUL,
// invalid UTF-8) pass through untouched.
//
// Bare line endings (a CR not followed by LF, an LF not preceded by CR) set `bareLineEnding` in both modes:
// - "reject": bytes pass unchanged and only CRLF starts a line; the server refuses the message after its
//   real end (replies.bareLineEnding).
// - "normalize": a bare LF or bare CR becomes CRLF, so the stored message has canonical line endings. The
//   line it starts is dot-unstuffed like any line (a client that ends lines with LF stuffs after LF too),
//   but it can never end the data: `\n.\n` and `\n.\r\n` store an empty line and the data goes on.
//   Outbound delivery re-stuffs every line, so what is stored can never end the data on the next hop.
//
// Past `maxSize` (unstuffed octets) no more body is handed out (`overflow`), but the scan goes on to the
// real end so the session stays in step and can answer 552.

export type BareLineEndings = "reject" | "normalize";

export type DataDecoderOptions = { readonly maxSize: number; readonly bareLineEndings: BareLineEndings };

export type DecodedData = {
  /** Unstuffed body slices to append to the spool, in order. Never modify them. */
  body: Buffer[];
  /** The terminating <CRLF>.<CRLF> has been seen. */
  done: boolean;
  /** When done: the bytes after the terminator (pipelined commands), possibly empty. Else null. */
  rest: Buffer | null;
};

const CR = 0x0d;
const LF = 0x0a;
const DOT = 0x2e;
const CRLF_BYTES = Buffer.from("\r\n");
const CR_BYTE = Buffer.from("\r");
const LF_BYTE = Buffer.from("\n");

/** Where the decoder stands between two bytes. */
const At = {
  /** Start of a line begun by CRLF (or the first line): a dot here is stuffing or the terminator. */
  lineStart: 0,
  /** Start of a line begun by a normalised bare ending: a dot here is stuffing, never the terminator. */
  normalizedLineStart: 1,
  /** A dot at lineStart was seen and dropped. */
  dot: 2,
  /** ".\r" at lineStart was seen; the CR is held back until the next byte says whether this is the end. */
  dotCr: 3,
  /** Inside a line. */
  text: 4,
  /** A CR inside a line was seen (and counted as body); the next byte says whether it was bare. */
  cr: 5,
  /** The terminator was seen. */
  end: 6,
} as const;
type At = (typeof At)[keyof typeof At];

export class DataDecoder {
  readonly #maxSize: number;
  readonly #normalize: boolean;
  #at: At = At.lineStart;
  #size = 0;
  #overflow = false;
  #bareLineEnding = false;
  /** Body of the push in progress. */
  #body: Buffer[] = [];

  constructor(options: DataDecoderOptions) {
    if (!Number.isSafeInteger(options.maxSize) || options.maxSize < 0) {
      throw new RangeError(`maxSize must be a non-negative integer, got ${options.maxSize}`);
    }
    this.#maxSize = options.maxSize;
    this.#normalize = options.bareLineEndings === "normalize";
  }

  /** Unstuffed octets of body so far, including those past maxSize. */
  get size(): number {
    return this.#size;
  }

  /** The body went over maxSize: body handed out stops short, the message must be refused. */
  get overflow(): boolean {
    return this.#overflow;
  }

  /** A bare CR or bare LF was seen (normalised or not). */
  get bareLineEnding(): boolean {
    return this.#bareLineEnding;
  }

  get done(): boolean {
    return this.#at === At.end;
  }

  push(chunk: Buffer): DecodedData {
    if (this.#at === At.end) return { body: [], done: true, rest: chunk };
    this.#body = [];
    const length = chunk.length;
    let pos = 0; // next byte to look at
    let from = 0; // bytes [from, pos) are body not yet handed out
    let nextCr = -1; // cached positions of the next CR and LF at or after pos (length when none)
    let nextLf = -1;
    while (pos < length) {
      switch (this.#at) {
        case At.text: {
          if (nextCr < pos) nextCr = indexOrEnd(chunk, CR, pos);
          if (nextLf < pos) nextLf = indexOrEnd(chunk, LF, pos);
          if (nextCr < nextLf) {
            pos = nextCr + 1;
            this.#at = At.cr;
          } else if (nextLf < length) {
            this.#bareLineEnding = true;
            if (this.#normalize) {
              this.#slice(chunk, from, nextLf);
              this.#emit(CRLF_BYTES);
              from = nextLf + 1;
              this.#at = At.normalizedLineStart;
            }
            pos = nextLf + 1;
          } else {
            pos = length;
          }
          break;
        }
        case At.cr: {
          if (chunk[pos] === LF) {
            pos++;
            this.#at = At.lineStart;
            break;
          }
          this.#bareLineEnding = true;
          if (this.#normalize) {
            this.#slice(chunk, from, pos);
            this.#emit(LF_BYTE);
            from = pos;
            this.#at = At.normalizedLineStart;
          } else {
            this.#at = At.text;
          }
          break;
        }
        case At.lineStart:
        case At.normalizedLineStart: {
          if (chunk[pos] === DOT) {
            this.#slice(chunk, from, pos);
            pos++;
            from = pos;
            this.#at = this.#at === At.lineStart ? At.dot : At.text;
          } else {
            this.#at = At.text;
          }
          break;
        }
        case At.dot: {
          if (chunk[pos] === CR) {
            pos++;
            from = pos;
            this.#at = At.dotCr;
          } else {
            this.#at = At.text;
          }
          break;
        }
        case At.dotCr: {
          if (chunk[pos] === LF) {
            this.#at = At.end;
            return { body: this.#body, done: true, rest: chunk.subarray(pos + 1) };
          }
          this.#bareLineEnding = true;
          this.#emit(this.#normalize ? CRLF_BYTES : CR_BYTE);
          this.#at = this.#normalize ? At.normalizedLineStart : At.text;
          break;
        }
      }
    }
    this.#slice(chunk, from, length);
    return { body: this.#body, done: false, rest: null };
  }

  #slice(chunk: Buffer, start: number, end: number): void {
    if (end > start) this.#emit(chunk.subarray(start, end));
  }

  #emit(bytes: Buffer): void {
    this.#size += bytes.length;
    if (this.#size > this.#maxSize) this.#overflow = true;
    if (!this.#overflow) this.#body.push(bytes);
  }
}

function indexOrEnd(chunk: Buffer, byte: number, from: number): number {
  const index = chunk.indexOf(byte, from);
  return index === -1 ? chunk.length : index;
}
