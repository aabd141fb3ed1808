// Tests the readers of ctx.settings: values, fallbacks, the errors naming the setting and what was expected, and
// perSettings' memo (one build per settings object, none kept from a build that threw).

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { booleanSetting, numberSetting, perSettings, type Settings, stringListSetting, stringSetting } from "./settings.ts";

const SETTINGS: Settings = Object.freeze({
  name: "suspicious",
  empty: "",
  zone: "zen.example",
  zones: ["zen.example", "bl.example"],
  none: [],
  mixed: ["zen.example", 3],
  nested: [["a"]],
  quota: 200,
  half: 0.5,
  zero: 0,
  text: "200",
  yes: true,
  table: { a: 1 },
  when: new Date("2025-01-31T08:00:00Z"),
});

/** The message of the TypeError `read` throws. */
function thrown(read: () => unknown): string {
  try {
    read();
  } catch (error) {
    assert.ok(error instanceof TypeError, String(error));
    return error.message;
  }
  assert.fail("no error");
}

describe("stringSetting", () => {
  it("the value, an empty string included; absent: the fallback", () => {
    assert.equal(stringSetting(SETTINGS, "name", "x"), "suspicious");
    assert.equal(stringSetting(SETTINGS, "empty", "x"), "");
    assert.equal(stringSetting(SETTINGS, "absent", "x"), "x");
  });

  it("without a fallback the setting is required", () => {
    assert.equal(stringSetting(SETTINGS, "name"), "suspicious");
    assert.equal(thrown(() => stringSetting(SETTINGS, "archive")), "rules.settings.archive: missing (expected a string)");
  });

  // Each: setting → the error.
  const WRONG: readonly (readonly [string, string])[] = [
    ["quota", "rules.settings.quota: expected a string, got 200"],
    ["yes", "rules.settings.yes: expected a string, got true"],
    ["zones", "rules.settings.zones: expected a string, got an array"],
    ["table", "rules.settings.table: expected a string, got a table"],
    ["when", "rules.settings.when: expected a string, got the date 2025-01-31T08:00:00.000Z"],
  ];
  for (const [name, message] of WRONG) {
    it(`${name}: refused even with a fallback`, () => {
      assert.equal(thrown(() => stringSetting(SETTINGS, name, "fallback")), message);
    });
  }
});

describe("stringListSetting", () => {
  it("an array of strings as it is; one string is a list of one; absent: the fallback, or none", () => {
    assert.deepEqual(stringListSetting(SETTINGS, "zones"), ["zen.example", "bl.example"]);
    assert.deepEqual(stringListSetting(SETTINGS, "zone"), ["zen.example"]);
    assert.deepEqual(stringListSetting(SETTINGS, "none", ["x"]), []);
    assert.deepEqual(stringListSetting(SETTINGS, "absent", ["x", "y"]), ["x", "y"]);
    assert.deepEqual(stringListSetting(SETTINGS, "absent"), []);
  });

  // Each: setting → the error; an item is named by its index.
  const WRONG: readonly (readonly [string, string])[] = [
    ["mixed", "rules.settings.mixed[1]: expected a string, got 3"],
    ["nested", "rules.settings.nested[0]: expected a string, got an array"],
    ["quota", "rules.settings.quota: expected a string or an array of strings, got 200"],
    ["table", "rules.settings.table: expected a string or an array of strings, got a table"],
  ];
  for (const [name, message] of WRONG) {
    it(`${name}: refused`, () => {
      assert.equal(thrown(() => stringListSetting(SETTINGS, name, ["fallback"])), message);
    });
  }
});

describe("numberSetting", () => {
  it("the value within the range, bounds included; absent: the fallback", () => {
    assert.equal(numberSetting(SETTINGS, "quota", 1), 200);
    assert.equal(numberSetting(SETTINGS, "quota", 1, { min: 200, max: 200, integer: true }), 200);
    assert.equal(numberSetting(SETTINGS, "half", 1, { min: 0, max: 1 }), 0.5);
    assert.equal(numberSetting(SETTINGS, "absent", 2000, { min: 1 }), 2000);
  });

  // Each: setting, range → the error.
  const WRONG: readonly (readonly [string, Parameters<typeof numberSetting>[3], string])[] = [
    ["text", {}, 'rules.settings.text: expected a number, got "200"'],
    ["yes", {}, "rules.settings.yes: expected a number, got true"],
    ["zero", { min: 1 }, "rules.settings.zero: expected a number of at least 1, got 0"],
    ["quota", { max: 100 }, "rules.settings.quota: expected a number of at most 100, got 200"],
    ["half", { integer: true }, "rules.settings.half: expected an integer, got 0.5"],
    ["half", { min: 1, max: 10, integer: true }, "rules.settings.half: expected an integer from 1 to 10, got 0.5"],
    ["zero", { min: 1, integer: true }, "rules.settings.zero: expected an integer of at least 1, got 0"],
  ];
  for (const [name, range, message] of WRONG) {
    it(`${name} ${JSON.stringify(range)}: refused`, () => {
      assert.equal(thrown(() => numberSetting(SETTINGS, name, 1, range)), message);
    });
  }

  it("NaN and infinities are not numbers here (a TOML file can write nan and inf)", () => {
    const odd: Settings = { nan: Number.NaN, inf: Number.POSITIVE_INFINITY };
    assert.equal(thrown(() => numberSetting(odd, "nan", 1)), "rules.settings.nan: expected a number, got NaN");
    assert.equal(thrown(() => numberSetting(odd, "inf", 1)), "rules.settings.inf: expected a number, got Infinity");
  });
});

describe("booleanSetting", () => {
  it("the value; absent: the fallback", () => {
    assert.equal(booleanSetting(SETTINGS, "yes", false), true);
    assert.equal(booleanSetting(SETTINGS, "absent", false), false);
  });

  it("a string is not a boolean", () => {
    assert.equal(thrown(() => booleanSetting({ json: "true" }, "json", false)), 'rules.settings.json: expected true or false, got "true"');
  });
});

describe("perSettings", () => {
  it("builds once per settings object, and again for a new one (a reload)", () => {
    let builds = 0;
    const listOf = perSettings((settings) => {
      builds += 1;
      return new Set(stringListSetting(settings, "zones"));
    });
    const first = listOf(SETTINGS);
    assert.equal(listOf(SETTINGS), first);
    assert.equal(builds, 1);
    const reloaded = listOf({ zones: ["other.example"] });
    assert.notEqual(reloaded, first);
    assert.deepEqual([...reloaded], ["other.example"]);
    assert.equal(builds, 2);
  });

  it("remembers undefined as a value", () => {
    let builds = 0;
    const nothing = perSettings(() => {
      builds += 1;
      return undefined;
    });
    nothing(SETTINGS);
    nothing(SETTINGS);
    assert.equal(builds, 1);
  });

  it("a build that throws is not remembered: every call throws, until the settings are fixed", () => {
    let builds = 0;
    const quotaOf = perSettings((settings) => {
      builds += 1;
      return numberSetting(settings, "quota", 1, { max: 100 });
    });
    assert.throws(() => quotaOf(SETTINGS), /rules\.settings\.quota: expected a number of at most 100, got 200/);
    assert.throws(() => quotaOf(SETTINGS), /rules\.settings\.quota/);
    assert.equal(builds, 2);
  });
});
