// Reads the octets of BDAT chunks (CHUNKING, RFC 3030) and keeps the running total of a message sent in
// several chunks. A chunk is exactly the announced number of octets, binary, with no dot-stuffing and no
// end marker; what follows it is the next command. This file counts and slices only: it never parses the
// BDAT command (command.ts does), never decides the reply, and never copies body bytes.
//
// RFC 3030 §2, §4.2: even a refused chunk must be read to its last octet, or the session falls out of step.
// So a chunk that would take the message past maxSize is still read, in "discard" mode (no body handed
// out); the server then answers 552 and drops the transaction.

export type ChunkRead = {
  /** The chunk's octets found in this push (a view of the input), or null if none or discarded. */
  body: Buffer | null;
  /** All the chunk's octets have been read. */
  done: boolean;
  /** When done: the bytes after the chunk, possibly empty. Else null. */
  rest: Buffer | null;
};

const EMPTY = Buffer.alloc(0);

export class ChunkReader {
  #remaining: number;
  readonly #discard: boolean;

  /** @param size octets announced by `BDAT size`; @param options.discard read them without handing them out. */
  constructor(size: number, options: { discard?: boolean } = {}) {
    if (!Number.isSafeInteger(size) || size < 0) throw new RangeError(`BDAT size must be a non-negative integer, got ${size}`);
    this.#remaining = size;
    this.#discard = options.discard === true;
  }

  /** True once the whole chunk has been read (at once for a zero-size chunk). */
  get done(): boolean {
    return this.#remaining === 0;
  }

  push(chunk: Buffer): ChunkRead {
    if (this.#remaining === 0) return { body: null, done: true, rest: chunk };
    const taken = Math.min(this.#remaining, chunk.length);
    this.#remaining -= taken;
    const body = taken === 0 || this.#discard ? null : chunk.subarray(0, taken);
    if (this.#remaining > 0) return { body, done: false, rest: null };
    return { body, done: true, rest: taken === chunk.length ? EMPTY : chunk.subarray(taken) };
  }
}

/**
 * The chunks of one message: counts the octets announced so far against maxSize and remembers whether
 * the LAST chunk has been announced. Use one per transaction; RSET or a new MAIL means a new one.
 */
export class ChunkedBody {
  readonly #maxSize: number;
  #size = 0;
  #overflow = false;
  #last = false;

  constructor(options: { readonly maxSize: number }) {
    if (!Number.isSafeInteger(options.maxSize) || options.maxSize < 0) {
      throw new RangeError(`maxSize must be a non-negative integer, got ${options.maxSize}`);
    }
    this.#maxSize = options.maxSize;
  }

  /** Octets announced by the chunks so far. */
  get size(): number {
    return this.#size;
  }

  /** The message went over maxSize: every chunk from the one that crossed it on is discarded. */
  get overflow(): boolean {
    return this.#overflow;
  }

  /** The LAST chunk has been announced: the message is complete once that chunk is read. */
  get last(): boolean {
    return this.#last;
  }

  /**
   * Announces the next chunk (`BDAT size [LAST]`) and returns the reader for its octets, discarding
   * them if the message is now over maxSize. Throws after the LAST chunk: sequence.ts refuses that BDAT.
   */
  chunk(size: number, last: boolean): ChunkReader {
    if (this.#last) throw new Error("BDAT after the LAST chunk");
    this.#size += size;
    if (this.#size > this.#maxSize) this.#overflow = true;
    this.#last = last;
    return new ChunkReader(size, { discard: this.#overflow });
  }
}
