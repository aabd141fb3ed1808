// List files for rules: one entry per line, read once when the rule file loads, never per message.
//
//   # relay clients
//   10.0.0.0/8         # office
//   2001:db8::/32
//
// Surrounding whitespace is trimmed and blank lines are skipped. A `#` at the start of a line or after
// whitespace begins a comment; one inside an entry does not, because `#` is legal in a local part
// (`sales#eu@example.org`). Errors name the file, and an invalid entry its line (`relay.txt:3: …`).

import { readDataFile } from "../../config/data-file.ts";
import { type AddressList, addressList, type DomainList, domainList } from "./addresses.ts";
import { type Networks, networks } from "./networks.ts";

type ListLine = { readonly number: number; readonly entry: string };

/** The entries of a list file, in order. */
export async function readListFile(path: string): Promise<string[]> {
  return (await readLines(path)).map((line) => line.entry);
}

export async function networksFromFile(path: string): Promise<Networks> {
  return build(path, await readLines(path), networks);
}

export async function addressesFromFile(path: string): Promise<AddressList> {
  return build(path, await readLines(path), addressList);
}

export async function domainsFromFile(path: string): Promise<DomainList> {
  return build(path, await readLines(path), domainList);
}

async function readLines(path: string): Promise<ListLine[]> {
  const text = await readDataFile(path);
  const lines: ListLine[] = [];
  for (const [index, raw] of text.split("\n").entries()) {
    const entry = raw.replace(/(^|\s)#.*/, "").trim();
    if (entry !== "") lines.push({ number: index + 1, entry });
  }
  return lines;
}

/**
 * Builds the object from all the entries. Only when that throws does it build from each entry alone, to find
 * the line that fails (entries are checked one at a time, so it is the first line that fails alone).
 */
function build<T>(path: string, lines: readonly ListLine[], make: (entries: readonly string[]) => T): T {
  try {
    return make(lines.map((line) => line.entry));
  } catch (error) {
    for (const line of lines) {
      try {
        make([line.entry]);
      } catch (lineError) {
        throw new TypeError(`${path}:${line.number}: ${(lineError as Error).message}`, { cause: lineError });
      }
    }
    throw error;
  }
}
