// The two spellings of an internationalised domain name (RFC 5890): the ASCII form of A-labels
// ("xn--bcher-kva.example") and the Unicode form of U-labels ("bücher.example"). A client may write either (the
// Unicode one with SMTPUTF8, RFC 6531), so a set of domains that addresses are compared against holds both, and a
// place on disk named after a domain takes the ASCII form, so that both spellings reach the same mailbox.

import { domainToASCII, domainToUnicode } from "node:url";

const NON_ASCII = /[^\x00-\x7f]/;

/** The ASCII form, in lower case, without a trailing dot; "" for a non-ASCII name IDNA refuses. */
export function asciiDomain(domain: string): string {
  const bare = (domain.endsWith(".") ? domain.slice(0, -1) : domain).toLowerCase();
  return NON_ASCII.test(bare) ? domainToASCII(bare) : bare;
}

/** Each domain (given in either form) in both of its forms, lower case. */
export function domainForms(domains: readonly string[]): ReadonlySet<string> {
  const forms = new Set<string>();
  for (const domain of domains) {
    const ascii = asciiDomain(domain);
    forms.add(ascii);
    const unicode = ascii.includes("xn--") ? domainToUnicode(ascii) : "";
    if (unicode !== "") forms.add(unicode);
  }
  return forms;
}
