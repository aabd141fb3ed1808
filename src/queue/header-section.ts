// Reads the header section of a spooled body: every byte up to the empty line that ends the headers
// (the empty line itself excluded), so `petrel queue show` can print the headers without loading a
// 50 MB body. It reads at most `limit` bytes; a body with no empty line within them yields what was read.
// Bytes stay bytes: this file must never decode or alter the headers.

import type { SpoolFile } from "./spool-disk.ts";

const blockSize = 16 * 1024;

export async function readHeaderSection(file: SpoolFile, limit = 1024 * 1024): Promise<Buffer> {
  let section = Buffer.alloc(0);
  while (section.length < limit) {
    const block = Buffer.alloc(Math.min(blockSize, limit - section.length));
    const count = await file.read(block, section.length);
    if (count === 0) return section;
    const searchFrom = Math.max(0, section.length - 3);
    section = Buffer.concat([section, block.subarray(0, count)]);
    const end = headerEnd(section, searchFrom);
    if (end !== undefined) return section.subarray(0, end);
  }
  return section;
}

/** The length of the header section if its ending empty line starts at or after `from`. */
function headerEnd(bytes: Buffer, from: number): number | undefined {
  if (from === 0 && (bytes[0] === 0x0a || (bytes[0] === 0x0d && bytes[1] === 0x0a))) return 0;
  for (let i = bytes.indexOf(0x0a, from); i >= 0; i = bytes.indexOf(0x0a, i + 1)) {
    if (bytes[i + 1] === 0x0a) return i + 1;
    if (bytes[i + 1] === 0x0d && bytes[i + 2] === 0x0a) return i + 1;
  }
  return undefined;
}
