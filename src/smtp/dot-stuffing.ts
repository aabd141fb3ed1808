// Encodes a message for DATA (RFC 5321 §4.5.2, the sending side of data-decoder.ts): a "." that starts a line
// is doubled, and the end of data ".<CRLF>" follows, after a CRLF when the message does not end with one.
// Streaming: chunks come as read from the body file, and a line may start at any chunk boundary (a CRLF split
// between chunks, a "." first in a chunk); the encoder keeps what that needs: the last octet it was given and
// whether the message so far ends with CRLF.
//
// A "." after a bare CR or a bare LF is doubled too. Petrel's spool holds CRLF-only messages in the default
// mode, so this changes nothing there; for a message that does hold bare line endings it means no
// "<LF>.<LF>", "<CR>.<CR><LF>"... look-alike can end the data early at a lenient next hop (SMTP smuggling).
//
// Bytes stay bytes: it scans with indexOf for "." and hands out subarray views of the given chunks plus a
// shared, read-only "." where one is added. Never modify what it returns.

const CR = 0x0d;
const LF = 0x0a;
const DOT = 0x2e;
const EXTRA_DOT = Buffer.from(".");
const END = Buffer.from(".\r\n");
const CRLF_END = Buffer.from("\r\n.\r\n");

export class DotStuffer {
  /** The last octet handed out, LF before the first: the next octet starts a line after CR or LF. */
  #last = LF;
  /** The message so far is empty or ends with CRLF (so the end of data needs no CRLF of its own). */
  #endsWithCrlf = true;

  /** The chunk as it goes on the wire, in order: views of it with an extra "." before each line-leading "." */
  encode(chunk: Buffer): Buffer[] {
    if (chunk.length === 0) return [];
    const out: Buffer[] = [];
    let start = 0;
    let dot = chunk.indexOf(DOT);
    while (dot >= 0) {
      const before = dot === 0 ? this.#last : chunk[dot - 1];
      if (before === LF || before === CR) {
        if (dot > start) out.push(chunk.subarray(start, dot));
        out.push(EXTRA_DOT);
        start = dot;
      }
      dot = chunk.indexOf(DOT, dot + 1);
    }
    out.push(start === 0 ? chunk : chunk.subarray(start));
    const last = chunk[chunk.length - 1]!;
    const beforeLast = chunk.length > 1 ? chunk[chunk.length - 2] : this.#last;
    this.#endsWithCrlf = last === LF && beforeLast === CR;
    this.#last = last;
    return out;
  }

  /** The end of data: ".<CRLF>", with a CRLF before it unless the message ended with one (or was empty). */
  end(): Buffer {
    return this.#endsWithCrlf ? END : CRLF_END;
  }
}
