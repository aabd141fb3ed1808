// Encoders for the DSN parameter values the outbound client sends (the reverse of smtp/xtext.ts): xtext
// (RFC 3461 §4) for ENVID and ORCPT, and the utf-8 address forms of RFC 6533 §3 for ORCPT=utf-8;...

/** xtext: printable ASCII but "+" and "=" as they are, every other octet (of the UTF-8 form) as "+HH". */
export function encodeXtext(text: string): string {
  let out = "";
  for (const octet of Buffer.from(text, "utf8")) {
    out += octet >= 0x21 && octet <= 0x7e && octet !== 0x2b && octet !== 0x3d ? String.fromCharCode(octet) : `+${hex(octet)}`;
  }
  return out;
}

/**
 * utf-8-addr-xtext (`unicode` false: ASCII only, safe on any server) or utf-8-addr-unitext (`unicode` true:
 * non-ASCII characters as they are, for a transaction that uses SMTPUTF8). "\", "+", "=", space, controls
 * and (in the xtext form) every non-ASCII character become `\x{HEX}`, in upper case without leading zeros.
 */
export function encodeUtf8AddressText(address: string, unicode: boolean): string {
  let out = "";
  for (const character of address) {
    const code = character.codePointAt(0)!;
    const plain = (code >= 0x21 && code <= 0x7e && code !== 0x5c && code !== 0x2b && code !== 0x3d) || (unicode && code >= 0xa0);
    out += plain ? character : `\\x{${code.toString(16).toUpperCase()}}`;
  }
  return out;
}

function hex(octet: number): string {
  return octet.toString(16).toUpperCase().padStart(2, "0");
}
