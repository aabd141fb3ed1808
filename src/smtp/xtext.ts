// Decoders for the two encodings ESMTP parameter values use to carry arbitrary text: xtext (RFC 3461 §4,
// used by ENVID, ORCPT and AUTH=) and the utf-8 address forms of RFC 6533 §3 (`\x{HEX}` escapes, used by
// ORCPT=utf-8;...). They only decode; what a decoded value may contain is decided by parameters.ts.

/** Decodes xtext: printable ASCII except "+" and "=", and "+HH" for any octet. Null if malformed. */
export function decodeXtext(text: string): string | null {
  let out = "";
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x2b) {
      const hex = text.slice(i + 1, i + 3);
      if (!/^[0-9A-Fa-f]{2}$/.test(hex)) return null;
      out += String.fromCharCode(Number.parseInt(hex, 16));
      i += 2;
    } else if (c >= 0x21 && c <= 0x7e && c !== 0x3d) {
      out += text[i];
    } else {
      return null;
    }
  }
  return out;
}

/**
 * Decodes utf-8-addr-xtext and utf-8-addr-unitext (RFC 6533 §3): printable ASCII except "\", "+" and "=",
 * any non-ASCII character, and `\x{HEX}` for a code point. Lenient about hex case and leading zeros,
 * strict about surrogates and code points past U+10FFFF. Null if malformed.
 */
export function decodeUtf8AddressText(text: string): string | null {
  let out = "";
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x5c) {
      const match = /^\\x\{([0-9A-Fa-f]{1,6})\}/.exec(text.slice(i, i + 11));
      if (match === null) return null;
      const codePoint = Number.parseInt(match[1] ?? "", 16);
      if (codePoint === 0 || codePoint > 0x10ffff || (codePoint >= 0xd800 && codePoint <= 0xdfff)) return null;
      out += String.fromCodePoint(codePoint);
      i += match[0].length - 1;
    } else if ((c >= 0x21 && c <= 0x7e && c !== 0x2b && c !== 0x3d) || c >= 0x80) {
      out += text[i];
    } else {
      return null;
    }
  }
  return out;
}
