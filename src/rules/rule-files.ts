// Loading rule files: each is a real ES module (TypeScript or JavaScript, run by Node with its types erased)
// whose default export maps stages to lists of named functions. The files' rules are joined per stage in the
// order of the configuration. A file that cannot be imported or has the wrong shape is an error naming the
// file and the stage and position of the culprit; the caller keeps its previous rules then.
//
// A reload imports each file again under a new URL (`?generation=N`): modules the rule file imports itself stay
// cached, and Node never frees an old module, so each reload keeps the previous rule files in memory.

import { registerHooks } from "node:module";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { type Stage, stages } from "./api.ts";

export type LoadedRule = {
  readonly name: string;
  readonly file: string;
  readonly stage: Stage;
  readonly run: (ctx: never) => unknown;
};

/** Every stage's rules, in order; a stage without rules has an empty list. */
export type RuleBook = { readonly [S in Stage]: readonly LoadedRule[] } & { readonly files: readonly string[] };

export const emptyRuleBook: RuleBook = Object.freeze({
  ...(Object.fromEntries(stages.map((stage) => [stage, []])) as unknown as { [S in Stage]: LoadedRule[] }),
  files: [],
});

const api = new URL("./api.ts", import.meta.url).href;
let hooked = false;
let generation = 0;

/** Lets a rule file anywhere on disk import "petrel/rules" (this server's api.ts). */
function resolvePetrelRules(): void {
  if (hooked) return;
  hooked = true;
  registerHooks({
    resolve(specifier, context, nextResolve) {
      if (specifier === "petrel/rules") return { url: api, shortCircuit: true };
      return nextResolve(specifier, context);
    },
  });
}

export class RuleFileError extends Error {}

/** Imports the files afresh and checks their shape; throws a RuleFileError naming the file. */
export async function loadRuleFiles(paths: readonly string[]): Promise<RuleBook> {
  resolvePetrelRules();
  generation += 1;
  const book = Object.fromEntries(stages.map((stage) => [stage, [] as LoadedRule[]])) as { [S in Stage]: LoadedRule[] };
  for (const path of paths) {
    const file = resolve(path);
    let exported: unknown;
    try {
      const module = (await import(`${pathToFileURL(file).href}?generation=${generation}`)) as { default?: unknown };
      exported = module.default;
    } catch (error) {
      throw new RuleFileError(`${file}: cannot load: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    }
    for (const rule of rulesOf(file, exported)) book[rule.stage].push(rule);
  }
  return Object.freeze({ ...book, files: paths.map((path) => resolve(path)) });
}

function rulesOf(file: string, exported: unknown): LoadedRule[] {
  if (typeof exported !== "object" || exported === null || Array.isArray(exported)) {
    throw new RuleFileError(`${file}: the default export must be an object keyed by stage (export default defineRules({...}))`);
  }
  const rules: LoadedRule[] = [];
  for (const [stage, list] of Object.entries(exported)) {
    if (!(stages as readonly string[]).includes(stage)) {
      throw new RuleFileError(`${file}: unknown stage "${stage}" (stages: ${stages.join(", ")})`);
    }
    if (!Array.isArray(list)) throw new RuleFileError(`${file}: ${stage} must be a list of functions`);
    const names = new Set<string>();
    list.forEach((run: unknown, index) => {
      if (typeof run !== "function") throw new RuleFileError(`${file}: ${stage}[${index}] is not a function`);
      if (run.name === "" || run.name === "default") {
        throw new RuleFileError(`${file}: ${stage}[${index}] has no name (write \`function someName(ctx) {...}\`: logs name the rule)`);
      }
      if (names.has(run.name)) throw new RuleFileError(`${file}: ${stage} has two rules named ${run.name}`);
      names.add(run.name);
      rules.push({ name: run.name, file, stage: stage as Stage, run: run as LoadedRule["run"] });
    });
  }
  return rules;
}
