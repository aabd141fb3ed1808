// Tests list files: comments, blank lines and trimming, the objects built from them, and errors naming file and line.

import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { addressesFromFile, domainsFromFile, networksFromFile, readListFile } from "./list-file.ts";

let dir = "";
before(async () => {
  dir = await mkdtemp(join(tmpdir(), "petrel-list-file-"));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

let files = 0;
async function listFile(text: string): Promise<string> {
  files += 1;
  const path = join(dir, `list-${files}.txt`);
  await writeFile(path, text);
  return path;
}

// Each: file text → the entries read.
const READS: readonly (readonly [string, string, readonly string[]])[] = [
  ["an empty file", "", []],
  ["only comments and blank lines", "# a\n\n   \n\t# b\n", []],
  ["one entry per line", "a\nb\nc", ["a", "b", "c"]],
  ["surrounding whitespace trimmed", "  a  \n\tb\t\n", ["a", "b"]],
  ["CRLF line ends", "a\r\nb\r\n", ["a", "b"]],
  ["a comment after an entry", "10.0.0.0/8 # office\n2001:db8::/32\t#lab", ["10.0.0.0/8", "2001:db8::/32"]],
  ["a # inside an entry is kept", "sales#eu@example.org\nx#y # z", ["sales#eu@example.org", "x#y"]],
  ["a # at the start of a line", "#10.0.0.0/8\n192.0.2.1", ["192.0.2.1"]],
  ["a byte order mark", "\ufeffa\nb", ["a", "b"]],
  ["a byte order mark before a comment", "\ufeff# list\na", ["a"]],
  ["no newline at the end", "a\nb", ["a", "b"]],
  ["inner whitespace kept", "a b\n", ["a b"]],
];

describe("readListFile", () => {
  for (const [name, text, expected] of READS) {
    it(name, async () => {
      assert.deepEqual(await readListFile(await listFile(text)), expected);
    });
  }

  it("a missing file is named, with 'no such file'", async () => {
    const path = join(dir, "missing.txt");
    await assert.rejects(readListFile(path), { message: `${path}: no such file` });
  });

  it("a directory is named as not being a list file", async () => {
    await assert.rejects(readListFile(dir), { message: `${dir}: is a directory, not a file` });
  });
});

describe("objects from list files", () => {
  it("networksFromFile", async () => {
    const list = await networksFromFile(await listFile("# relay\n10.0.0.0/8 # office\n\n2001:db8::/32\n192.0.2.1\n"));
    assert.equal(list.has("10.9.8.7"), true);
    assert.equal(list.has("::ffff:10.9.8.7"), true);
    assert.equal(list.has("2001:db8::5"), true);
    assert.equal(list.has("192.0.2.1"), true);
    assert.equal(list.has("192.0.2.2"), false);
  });

  it("addressesFromFile", async () => {
    const list = await addressesFromFile(await listFile("alice@example.org\n@example.net\n.example.com # and below\npostmaster@\n"));
    assert.equal(list.has("Alice@Example.org"), true);
    assert.equal(list.has("x@example.net"), true);
    assert.equal(list.has("x@mail.example.com"), true);
    assert.equal(list.has("postmaster@elsewhere.example"), true);
    assert.equal(list.has("x@badexample.com"), false);
  });

  it("domainsFromFile", async () => {
    const list = await domainsFromFile(await listFile("example.org\n.example.com\n"));
    assert.equal(list.has("example.org"), true);
    assert.equal(list.has("a.example.org"), false);
    assert.equal(list.has("a.example.com"), true);
  });

  it("an empty file gives an empty object", async () => {
    assert.equal((await networksFromFile(await listFile("# nothing yet\n"))).has("192.0.2.1"), false);
  });
});

// Each: builder, file text → the start of the error, after the path.
const BUILDERS = { networksFromFile, addressesFromFile, domainsFromFile } as const;
const INVALID: readonly (readonly [keyof typeof BUILDERS, string, string])[] = [
  ["networksFromFile", "10.0.0.0/8\n10.0.0.0/33\n", ':2: invalid network "10.0.0.0/33"'],
  ["networksFromFile", "# office\n\n10.0.0.0/8 # ok\n  10.0.0.1/8  # typo\n", ':4: invalid network "10.0.0.1/8"'],
  ["networksFromFile", "example.org\n", ':1: invalid network "example.org"'],
  ["networksFromFile", "192.0.2.1\r\n192.0.2.300\r\n", ':2: invalid network "192.0.2.300"'],
  ["addressesFromFile", "alice@example.org\n\n# x\nalice\n", ':4: invalid address entry "alice"'],
  ["addressesFromFile", "@example..org\n", ':1: invalid address entry "@example..org"'],
  ["domainsFromFile", "example.org\n*.example.net\n", ':2: invalid domain entry "*.example.net"'],
  ["domainsFromFile", "a.example\nb.example\nc example\n", ':3: invalid domain entry "c example"'],
];

describe("list files: invalid entries are named by file and line", () => {
  for (const [builder, text, expected] of INVALID) {
    it(`${builder}: ${JSON.stringify(text)}`, async () => {
      const path = await listFile(text);
      await assert.rejects(BUILDERS[builder](path), (error: Error) => {
        assert.ok(error instanceof TypeError);
        assert.ok(error.message.startsWith(path + expected), error.message);
        return true;
      });
    });
  }

  it("the first invalid line is the one named", async () => {
    const path = await listFile("192.0.2.1\nbad-one\n192.0.2.2\nbad-two\n");
    await assert.rejects(networksFromFile(path), { message: new RegExp(`^${path}:2: `) });
  });

  it("a missing file is named", async () => {
    const path = join(dir, "missing.txt");
    await assert.rejects(addressesFromFile(path), { message: `${path}: no such file` });
  });
});
