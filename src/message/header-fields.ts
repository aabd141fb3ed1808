// A byte-exact editor for a message's header section (the lines up to, not including, the empty line
// that ends them), used by rules at the preq stage. The section is parsed into fields that each keep their
// raw bytes (name, colon, value with its folding and line ending), so untouched fields come out byte for
// byte as they came in: 8-bit bytes, odd folding and bare LF line endings stay. Lines that are not fields
// (no colon on the first line, a name outside RFC 5322 ftext, a section starting with white space) are kept
// as they are and never match a name.
// Reading: values are unfolded (RFC 5322 §2.2.3), trimmed and decoded as UTF-8 (RFC 6532; invalid bytes
// read as U+FFFD); getDecoded() also decodes RFC 2047 encoded-words.
// Writing: a new field is `Name: value` CRLF, folded at white space so lines stay within 78 characters
// when a word allows it (RFC 5322 §2.1.1). ASCII values are written as given (so an administrator may
// pass encoded-words); in a value with non-ASCII characters, each run of non-ASCII words becomes RFC 2047
// UTF-8 "Q" encoded-words (Q keeps the ASCII letters readable), each at most 75 characters and never
// splitting a character. That suits unstructured fields (Subject, X-*); a phrase with quotes or specials
// in an address field should be given already encoded.
// This file must never let a name or value add a line (CR, LF and NUL are refused with a TypeError) and
// never rewrite the bytes of a field it was not asked to change.

export type FieldPosition = "top" | "bottom";

type Field = {
  /** The name as written, or null for a line that is not a field. */
  readonly name: string | null;
  /** The name in lower case, for matching; null for a line that is not a field. */
  readonly key: string | null;
  /** Every byte of the field, its last line ending included. */
  readonly raw: Buffer;
  /** Bytes of `raw` before the name ends (white space before the colon excluded). */
  readonly nameLength: number;
  /** Where the colon is in `raw`. */
  readonly colon: number;
};

const nameSyntax = /^[!-9;-~]+$/;
const forbiddenInValue = /[\r\n\0]/;
const nonAscii = /[^\x00-\x7f]/;
const maxLineLength = 78;
const maxEncodedText = 75 - "=?UTF-8?Q??=".length;
const LF = 0x0a;
const CR = 0x0d;
const CRLF = Buffer.from("\r\n");

export class HeaderFields {
  readonly #section: Buffer;
  /** Parsed on first use: most messages pass rules that never look at a header, or at only a few. */
  #parsed: Field[] | null = null;
  /** Values read so far (rules often ask for the same field twice); fields are immutable, an edit makes new ones. */
  readonly #values = new Map<Field, string>();
  #changed = false;

  constructor(section: Buffer) {
    this.#section = Buffer.from(section);
  }

  get #fields(): Field[] {
    this.#parsed ??= parseSection(this.#section);
    return this.#parsed;
  }

  set #fields(fields: Field[]) {
    this.#parsed = fields;
  }

  /** True once an edit changed the bytes. */
  get changed(): boolean {
    return this.#changed;
  }

  get byteLength(): number {
    if (this.#parsed === null) return this.#section.length;
    return this.#parsed.reduce((sum, field) => sum + field.raw.length, 0);
  }

  /** The first field's value: unfolded, trimmed, decoded as UTF-8. */
  get(name: string): string | undefined {
    const key = name.toLowerCase();
    for (const field of this.#fields) {
      if (field.key !== key) continue;
      let value = this.#values.get(field);
      if (value === undefined) {
        value = fieldValue(field);
        this.#values.set(field, value);
      }
      return value;
    }
    return undefined;
  }

  /** Like get(), with RFC 2047 encoded-words decoded. */
  getDecoded(name: string): string | undefined {
    const value = this.get(name);
    return value === undefined ? undefined : decodeEncodedWords(value);
  }

  getAll(name: string): string[] {
    return this.#fields.filter(matches(name)).map(fieldValue);
  }

  has(name: string): boolean {
    const key = name.toLowerCase();
    for (const field of this.#fields) if (field.key === key) return true;
    return false;
  }

  count(name: string): number {
    return this.#fields.filter(matches(name)).length;
  }

  /** The field names as written, in order, repeated names included. */
  names(): string[] {
    return this.#fields.flatMap((field) => (field.name === null ? [] : [field.name]));
  }

  add(name: string, value: string, position: FieldPosition = "top"): void {
    if (position !== "top" && position !== "bottom") {
      throw new TypeError(`header position must be "top" or "bottom", not ${JSON.stringify(position)}`);
    }
    const field = newField(name, value);
    if (position === "top") {
      this.#fields.unshift(field);
    } else {
      this.#endLastLine();
      this.#fields.push(field);
    }
    this.#changed = true;
  }

  /** Replaces the first field of this name where it is and removes the others; adds at the top if none. */
  set(name: string, value: string): void {
    const field = newField(name, value);
    const first = this.#fields.findIndex(matches(name));
    if (first < 0) {
      this.#fields.unshift(field);
      this.#changed = true;
      return;
    }
    const old = this.#fields[first]!;
    this.#fields[first] = field;
    const removed = this.#removeMatching(name, first);
    if (removed > 0 || !old.raw.equals(field.raw)) this.#changed = true;
  }

  /** Removes every field of this name; returns how many there were. */
  remove(name: string): number {
    const removed = this.#removeMatching(name, -1);
    if (removed > 0) this.#changed = true;
    return removed;
  }

  /** Renames every field named `from`; only the name bytes change, the value bytes stay exactly. */
  rename(from: string, to: string): void {
    checkName(to);
    const isFrom = matches(from);
    const newName = Buffer.from(to, "latin1");
    this.#fields = this.#fields.map((field) => {
      if (!isFrom(field)) return field;
      const raw = Buffer.concat([newName, field.raw.subarray(field.nameLength)]);
      if (!raw.equals(field.raw)) this.#changed = true;
      return parseField(raw);
    });
  }

  toBuffer(): Buffer {
    if (!this.#changed) return Buffer.from(this.#section);
    return Buffer.concat(this.#fields.map((field) => field.raw));
  }

  /** Removes the fields of this name except the one at index `keep`; returns how many went. */
  #removeMatching(name: string, keep: number): number {
    const isName = matches(name);
    const before = this.#fields.length;
    this.#fields = this.#fields.filter((field, index) => index === keep || !isName(field));
    return before - this.#fields.length;
  }

  /** A section whose last line has no line ending gets one, so that a field added below starts a line. */
  #endLastLine(): void {
    const last = this.#fields.at(-1);
    if (last === undefined || last.raw.at(-1) === LF) return;
    this.#fields[this.#fields.length - 1] = parseField(Buffer.concat([last.raw, CRLF]));
  }
}

function matches(name: string): (field: Field) => boolean {
  const key = name.toLowerCase();
  return (field) => field.key === key;
}

function parseSection(section: Buffer): Field[] {
  const fields: Field[] = [];
  let start = 0;
  while (start < section.length) {
    let end = lineEnd(section, start);
    while (end < section.length && isWsp(section[end])) end = lineEnd(section, end);
    fields.push(parseField(section.subarray(start, end)));
    start = end;
  }
  return fields;
}

/** The index after the line ending of the line at `from` (or the end of the bytes). */
function lineEnd(bytes: Buffer, from: number): number {
  const lf = bytes.indexOf(LF, from);
  return lf < 0 ? bytes.length : lf + 1;
}

function isWsp(byte: number | undefined): boolean {
  return byte === 0x20 || byte === 0x09;
}

function parseField(raw: Buffer): Field {
  const colon = raw.indexOf(0x3a);
  const lf = raw.indexOf(LF);
  const notAField = { name: null, key: null, raw, nameLength: 0, colon: -1 };
  if (colon < 0 || (lf >= 0 && lf < colon)) return notAField;
  let nameLength = colon;
  while (nameLength > 0 && isWsp(raw[nameLength - 1])) nameLength -= 1; // obsolete "Name :" (RFC 5322 §4.5)
  const name = raw.toString("latin1", 0, nameLength);
  if (!nameSyntax.test(name)) return notAField;
  return { name, key: name.toLowerCase(), raw, nameLength, colon };
}

function fieldValue(field: Field): string {
  let end = field.raw.length;
  if (field.raw[end - 1] === LF) end -= 1;
  if (field.raw[end - 1] === CR) end -= 1;
  return field.raw
    .toString("utf8", field.colon + 1, end)
    .replace(/\r?\n(?=[ \t])/g, "")
    .replace(/^[ \t]+|[ \t]+$/g, "");
}

function checkName(name: string): void {
  if (typeof name !== "string" || !nameSyntax.test(name)) {
    throw new TypeError(
      `header name ${JSON.stringify(name)} is not valid: 1 or more printable ASCII characters, no colon or space`,
    );
  }
}

function newField(name: string, value: string): Field {
  checkName(name);
  if (typeof value !== "string") throw new TypeError(`the value of header ${name} must be a string`);
  if (forbiddenInValue.test(value)) {
    throw new TypeError(`the value of header ${name} contains CR, LF or NUL, which could add lines: refused`);
  }
  const text = value === "" ? `${name}:` : `${name}: ${encodeNonAscii(value)}`;
  return parseField(Buffer.from(`${fold(text, name.length)}\r\n`, "latin1"));
}

/** The value with each run of words holding non-ASCII characters replaced by encoded-words. */
function encodeNonAscii(value: string): string {
  if (!nonAscii.test(value)) return value;
  // Even indexes: words (maybe empty at the ends); odd indexes: the white space between them.
  const tokens = value.split(/([ \t]+)/);
  let out = "";
  for (let i = 0; i < tokens.length; i += 2) {
    if (!nonAscii.test(tokens[i]!)) {
      out += tokens[i]! + (tokens[i + 1] ?? "");
      continue;
    }
    // Adjacent encoded-words lose the white space between them when decoded, so words that follow
    // each other go into one run, their spaces encoded with them.
    let last = i;
    while (last + 2 < tokens.length && nonAscii.test(tokens[last + 2]!)) last += 2;
    out += qEncodedWords(tokens.slice(i, last + 1).join("")).join(" ") + (tokens[last + 1] ?? "");
    i = last;
  }
  return out;
}

function qEncodedWords(text: string): string[] {
  const words: string[] = [];
  let current = "";
  for (const char of text) {
    const encoded = qEncode(char);
    if (current.length + encoded.length > maxEncodedText) {
      words.push(current);
      current = "";
    }
    current += encoded;
  }
  words.push(current);
  return words.map((word) => `=?UTF-8?Q?${word}?=`);
}

/** One character in Q encoding, keeping only what RFC 2047 §5 (3) allows in a phrase. */
function qEncode(char: string): string {
  if (char === " ") return "_";
  if (/^[A-Za-z0-9!*+\-/]$/.test(char)) return char;
  let encoded = "";
  for (const byte of Buffer.from(char, "utf8")) encoded += `=${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  return encoded;
}

/**
 * `text` (one line, "Name: value") with CRLF put before white space so that lines stay within 78
 * characters. Folds go only before a run of white space that follows a visible character and is followed
 * by one, so that no line is blank. A word too long for a line stays whole, on a line of its own.
 */
function fold(text: string, colon: number): string {
  if (text.length <= maxLineLength) return text;
  const lastVisible = text.search(/[^ \t][ \t]*$/);
  const points: number[] = [];
  for (let i = colon + 1; i < lastVisible; i++) {
    if (isWspChar(text[i]) && !isWspChar(text[i - 1])) points.push(i);
  }
  const lines: string[] = [];
  let start = 0;
  let next = 0;
  while (text.length - start > maxLineLength && next < points.length) {
    let at = -1;
    while (next < points.length && points[next]! - start <= maxLineLength) at = points[next++]!;
    // A fold right after the colon only helps if the first word then fits on its own line.
    if (at === colon + 1 && (points[next] ?? text.length) - at > maxLineLength) at = -1;
    if (at < 0) {
      if (next >= points.length) break;
      at = points[next++]!;
    }
    lines.push(text.slice(start, at));
    start = at;
  }
  lines.push(text.slice(start));
  return lines.join("\r\n");
}

function isWspChar(char: string | undefined): boolean {
  return char === " " || char === "\t";
}

const encodedWord = /=\?([^?\s]+)\?([BbQq])\?([^?\s]*)\?=/g;

type DecodedWord = { start: number; end: number; decoder: TextDecoder; charset: string; bytes: Buffer };

/**
 * RFC 2047 decoding: each encoded-word whose charset is known becomes its text; white space between two
 * adjacent encoded-words is dropped (§6.2), and the bytes of adjacent words in one charset are decoded
 * together, so a character split across words by a careless encoder still comes out whole. Words with an
 * unknown charset or a broken encoding are left as they are.
 */
function decodeEncodedWords(text: string): string {
  let out = "";
  let at = 0;
  let run: DecodedWord[] = [];
  const endRun = (): void => {
    if (run.length === 0) return;
    out += run[0]!.decoder.decode(Buffer.concat(run.map((word) => word.bytes)));
    run = [];
  };
  for (const word of findEncodedWords(text)) {
    const adjacent = run.length > 0 && /^[ \t]*$/.test(text.slice(at, word.start));
    if (!adjacent || word.charset !== run[0]!.charset) endRun();
    if (!adjacent) out += text.slice(at, word.start);
    run.push(word);
    at = word.end;
  }
  endRun();
  return out + text.slice(at);
}

/** The encoded-words in `text` that can be decoded, in order. */
function findEncodedWords(text: string): DecodedWord[] {
  const words: DecodedWord[] = [];
  for (const match of text.matchAll(encodedWord)) {
    const [whole, label, encoding, encodedText] = match;
    const charset = label!.split("*")[0]!.toLowerCase(); // RFC 2231 §5: charset*language
    const decoder = decoderFor(charset);
    const bytes = encoding!.toUpperCase() === "B" ? decodeB(encodedText!) : decodeQ(encodedText!);
    if (decoder === undefined || bytes === undefined) continue;
    words.push({ start: match.index, end: match.index + whole.length, decoder, charset, bytes });
  }
  return words;
}

function decoderFor(charset: string): TextDecoder | undefined {
  try {
    return new TextDecoder(charset);
  } catch {
    return undefined; // not a charset this Node knows
  }
}

function decodeB(encoded: string): Buffer | undefined {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(encoded)) return undefined;
  return Buffer.from(encoded, "base64");
}

function decodeQ(encoded: string): Buffer | undefined {
  const bytes: number[] = [];
  for (let i = 0; i < encoded.length; i++) {
    const char = encoded[i]!;
    if (char === "_") {
      bytes.push(0x20);
    } else if (char === "=") {
      const hex = encoded.slice(i + 1, i + 3);
      if (!/^[0-9A-Fa-f]{2}$/.test(hex)) return undefined;
      bytes.push(Number.parseInt(hex, 16));
      i += 2;
    } else {
      const code = char.charCodeAt(0);
      if (code > 0x7e) return undefined;
      bytes.push(code);
    }
  }
  return Buffer.from(bytes);
}
