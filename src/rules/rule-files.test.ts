import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadRuleFiles } from "./rule-files.ts";

async function file(name: string, text: string): Promise<string> {
  const path = join(await mkdtemp(join(tmpdir(), "rule-files-")), name);
  await writeFile(path, text);
  return path;
}

test("files are joined per stage in the order given; a reload imports the file afresh", async () => {
  const first = await file("a.ts", 'import { defineRules } from "petrel/rules";\nexport default defineRules({ rcpt: [function one() {}], mail: [function m() {}] });\n');
  const second = await file("b.js", "export default { rcpt: [function two() {}] };\n");
  const book = await loadRuleFiles([first, second]);
  assert.deepEqual(book.rcpt.map((rule) => `${rule.name}@${rule.file}`), [`one@${first}`, `two@${second}`]);
  assert.deepEqual(book.mail.map((rule) => rule.name), ["m"]);
  assert.deepEqual(book.connect, []);
  await writeFile(second, "export default { rcpt: [function three() {}] };\n");
  assert.deepEqual((await loadRuleFiles([second])).rcpt.map((rule) => rule.name), ["three"]);
});

test("a file of the wrong shape is refused, naming the file and the culprit", async () => {
  const cases: [string, RegExp][] = [
    ["export default 42;\n", /default export must be an object keyed by stage/],
    ["export default { rpct: [] };\n", /unknown stage "rpct"/],
    ["export default { rcpt: function x() {} };\n", /rcpt must be a list of functions/],
    ["export default { rcpt: [42] };\n", /rcpt\[0\] is not a function/],
    ["export default { helo: [() => undefined] };\n", /helo\[0\] has no name/],
    ["export default { mail: [function same() {}, function same() {}] };\n", /mail has two rules named same/],
    ["export default { mail: [ function ( };\n", /cannot load/],
    ["throw new Error('at import');\n", /cannot load: at import/],
  ];
  for (const [text, problem] of cases) {
    const path = await file("bad.js", text);
    await assert.rejects(loadRuleFiles([path]), (error: Error) => error.message.startsWith(path) && problem.test(error.message));
  }
  await assert.rejects(loadRuleFiles(["/nonexistent/rules.ts"]), /\/nonexistent\/rules\.ts: cannot load/);
});
