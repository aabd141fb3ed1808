// Counts the Received fields of a message's header section as its bytes arrive, in whatever chunks, for the
// loop check (smtp.max_hops): a message that has passed through that many MTAs is going round in circles
// (RFC 5321 §6.3). Only the start of each line is looked at, up to the empty line that ends the header section;
// the body is never scanned.

const NAME = Buffer.from("received");
const LF = 0x0a;
const CR = 0x0d;
const COLON = 0x3a;

function isWsp(byte: number): boolean {
  return byte === 0x20 || byte === 0x09;
}

export class ReceivedCount {
  #count = 0;
  /** The empty line that ends the header section has been seen. */
  #done = false;
  /** Bytes of the current line so far, CR aside. */
  #column = 0;
  /** How many bytes of "received" the current line starts with; -1 once it cannot be a Received field. */
  #matched = 0;

  get count(): number {
    return this.#count;
  }

  feed(chunk: Uint8Array): void {
    if (this.#done) return;
    for (let index = 0; index < chunk.length && !this.#done; index++) {
      const byte = chunk[index]!;
      if (byte === LF) {
        if (this.#column === 0) this.#done = true;
        this.#column = 0;
        this.#matched = 0;
      } else if (byte !== CR) {
        this.#column += 1;
        if (this.#matched >= 0) this.#match(byte);
      }
    }
  }

  /** The next byte of a line that starts like "Received" [WSP] ":" so far. */
  #match(byte: number): void {
    if (this.#matched < NAME.length) {
      const lower = byte >= 0x41 && byte <= 0x5a ? byte + 0x20 : byte;
      this.#matched = lower === NAME[this.#matched] ? this.#matched + 1 : -1;
    } else if (byte === COLON) {
      this.#count += 1; // white space before the colon is the obsolete syntax (RFC 5322 §4.5), still a Received field
      this.#matched = -1;
    } else if (!isWsp(byte)) this.#matched = -1;
  }
}
