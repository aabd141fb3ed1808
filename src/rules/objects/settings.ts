// Typed readers of ctx.settings (the [rules.settings] table) for rules: each returns the value, the fallback when
// the setting is absent, or throws a TypeError that names the setting and says what was expected:
//
//   const quota = numberSetting(ctx.settings, "recipient_quota", 200, { min: 1, integer: true });
//   → TypeError: rules.settings.recipient_quota: expected an integer of at least 1, got "200"
//
// Throwing is the point: the rule fails, Petrel fails closed (451 4.3.0, 421 at connect) and the log says why,
// where a rule that quietly used its default would open the hole the setting was meant to close. Values are
// named as config errors name them (strings quoted, "an array", "a table"). perSettings() builds a rule's
// parsed settings (lists, patterns) once per settings object: a reload brings a new object, hence a rebuild.
// These functions only read; the settings stay as the configuration loader froze them.

export type Settings = Readonly<Record<string, unknown>>;

/** A string; absent: `fallback`, or, without one, a TypeError (the setting is required). */
export function stringSetting(settings: Settings, name: string, fallback?: string): string {
  const value = settings[name] ?? fallback;
  if (typeof value !== "string") throw invalid(name, "a string", settings[name]);
  return value;
}

/** A list of strings, a single string being a list of one; absent: `fallback`. */
export function stringListSetting(settings: Settings, name: string, fallback: readonly string[] = []): readonly string[] {
  const value = settings[name] ?? fallback;
  if (typeof value === "string") return [value];
  if (!Array.isArray(value)) throw invalid(name, "a string or an array of strings", value);
  const index = value.findIndex((item) => typeof item !== "string");
  if (index !== -1) throw invalid(`${name}[${index}]`, "a string", value[index]);
  return value as readonly string[];
}

export type NumberRange = { readonly min?: number; readonly max?: number; readonly integer?: boolean };

/** A number within the range (bounds included); absent: `fallback`, which the range does not check. */
export function numberSetting(settings: Settings, name: string, fallback: number, range: NumberRange = {}): number {
  const value = settings[name];
  if (value === undefined) return fallback;
  const { min = -Infinity, max = Infinity, integer = false } = range;
  const ok = typeof value === "number" && (integer ? Number.isInteger(value) : Number.isFinite(value)) && value >= min && value <= max;
  if (!ok) throw invalid(name, numberText(min, max, integer), value);
  return value;
}

/** true or false; absent: `fallback`. */
export function booleanSetting(settings: Settings, name: string, fallback: boolean): boolean {
  const value = settings[name] ?? fallback;
  if (typeof value !== "boolean") throw invalid(name, "true or false", value);
  return value;
}

/**
 * `build` memoized by settings object: `const policyOf = perSettings((settings) => ({ ... }))` at the top of the
 * rule file, `policyOf(ctx.settings)` in the rule. A build that throws is not remembered: every call throws again.
 */
export function perSettings<T>(build: (settings: Settings) => T): (settings: Settings) => T {
  const built = new WeakMap<Settings, { readonly value: T }>();
  return (settings) => {
    let entry = built.get(settings);
    if (entry === undefined) {
      entry = { value: build(settings) };
      built.set(settings, entry);
    }
    return entry.value;
  };
}

function numberText(min: number, max: number, integer: boolean): string {
  const kind = integer ? "an integer" : "a number";
  if (min > -Infinity && max < Infinity) return `${kind} from ${min} to ${max}`;
  if (min > -Infinity) return `${kind} of at least ${min}`;
  if (max < Infinity) return `${kind} of at most ${max}`;
  return kind;
}

function invalid(name: string, expected: string, value: unknown): TypeError {
  const problem = value === undefined ? `missing (expected ${expected})` : `expected ${expected}, got ${shown(value)}`;
  return new TypeError(`rules.settings.${name}: ${problem}`);
}

/** A value as the administrator wrote it in TOML: strings quoted, arrays and tables named. */
function shown(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value);
  if (typeof value === "number" || typeof value === "boolean" || typeof value === "bigint") return String(value);
  if (value instanceof Date) return `the date ${value.toISOString()}`;
  if (Array.isArray(value)) return "an array";
  return "a table";
}
