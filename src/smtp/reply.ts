// SMTP replies as values, and their wire form (RFC 5321 §4.2, enhanced status codes RFC 2034/3463).
// A reply is data: code, optional enhanced code, text lines. This file builds and formats them; it never
// decides which reply a situation deserves (replies.ts holds the standard ones) and never touches a socket.

export type Reply = {
  readonly code: number;
  readonly enhanced?: string;
  readonly lines: readonly string[];
};

const ENHANCED = /^([245])\.(\d{1,3})\.(\d{1,3})$/;
const LINE_BREAK = /\r\n|\r|\n/;

/**
 * Builds a frozen reply. Throws on a code outside 200–599 or an enhanced code that is malformed or whose
 * class (first digit) differs from the reply's: such a reply is a programming error, never sent.
 * No text lines means one empty line.
 */
export function reply(code: number, enhanced: string | undefined, ...lines: string[]): Reply {
  if (!Number.isInteger(code) || code < 200 || code > 599) {
    throw new RangeError(`SMTP reply code must be 200-599, got ${code}`);
  }
  if (enhanced !== undefined) {
    const match = ENHANCED.exec(enhanced);
    if (match === null) throw new RangeError(`malformed enhanced status code "${enhanced}"`);
    if (match[1] !== String(code)[0]) {
      throw new RangeError(`enhanced status code ${enhanced} does not match reply class ${code}`);
    }
  }
  const text = Object.freeze(lines.length === 0 ? [""] : [...lines]);
  const built: Reply = enhanced === undefined ? { code, lines: text } : { code, enhanced, lines: text };
  return Object.freeze(built);
}

/** Same reply with other text: keeps the code and enhanced code of a registry entry. */
export function withText(base: Reply, ...lines: string[]): Reply {
  return reply(base.code, base.enhanced, ...lines);
}

/**
 * The bytes to send: `250-2.0.0 first\r\n250 2.0.0 last\r\n`. The enhanced code starts every line when
 * present. An empty text gives `250\r\n` (or `250 2.0.0\r\n`). Text is sent as UTF-8. A line break
 * inside a text line (CR, LF or CRLF, say from a rule's message) starts a new reply line, so no text can
 * forge a reply of its own.
 */
export function formatReply(r: Reply): Buffer {
  const known = wire.get(r);
  if (known !== undefined) return known;
  const bytes = encodeReply(r);
  wire.set(r, bytes);
  return bytes;
}

/** The bytes of each reply already formatted: replies are frozen, and the common ones are sent over and over. */
const wire = new WeakMap<Reply, Buffer>();

function encodeReply(r: Reply): Buffer {
  const lines = r.lines.length === 0 ? [""] : r.lines.flatMap((line) => line.split(LINE_BREAK));
  const last = lines.length - 1;
  let out = "";
  lines.forEach((line, i) => {
    const text = r.enhanced === undefined ? line : line === "" ? r.enhanced : `${r.enhanced} ${line}`;
    if (i < last) out += `${r.code}-${text}\r\n`;
    // "334" SP [base64] (RFC 4954 §4): an AUTH challenge keeps its space even when empty.
    else out += text === "" && r.code !== 334 ? `${r.code}\r\n` : `${r.code} ${text}\r\n`;
  });
  return Buffer.from(out, "utf8");
}
