// Walks the configuration schema beside a value: which keys a table accepts (for "unknown key, expected one of"),
// and which values are durations, sizes or paths (to print them back in units, and to resolve relative paths).
// It reads zod's schema definitions and nothing else; it must never change what the schema accepts.

import type { z } from "zod";
import { configSchema, valueKinds } from "./schema.ts";

export type ValueKind = "duration" | "size" | "path";

/** The parts of zod's definitions this walk reads; wrappers (optional, default, prefault...) have innerType. */
type SchemaDefinition = {
  type: string;
  format?: string;
  innerType?: z.ZodType;
  in?: z.ZodType;
  shape?: Record<string, z.ZodType>;
  element?: z.ZodType;
  valueType?: z.ZodType;
};

const definitionOf = (schema: z.ZodType) => schema.def as unknown as SchemaDefinition;

/** Strips defaults, optionals and transforms down to the schema that says what is written in the file. */
function unwrap(schema: z.ZodType): { schema: z.ZodType; kind?: ValueKind } {
  let current = schema;
  for (;;) {
    const kind = valueKinds.get(current)?.kind;
    if (kind !== undefined) return { schema: current, kind };
    const definition = definitionOf(current);
    if (definition.innerType !== undefined) current = definition.innerType;
    else if (definition.type === "pipe" && definition.in !== undefined) current = definition.in;
    else return { schema: current };
  }
}

function childSchema(schema: z.ZodType, segment: PropertyKey): z.ZodType | undefined {
  const definition = definitionOf(unwrap(schema).schema);
  if (definition.type === "object" && typeof segment === "string") {
    return definition.shape !== undefined && Object.hasOwn(definition.shape, segment)
      ? definition.shape[segment]
      : undefined;
  }
  if (definition.type === "array" && typeof segment === "number") return definition.element;
  if (definition.type === "record" && typeof segment === "string") return definition.valueType;
  return undefined;
}

/** The definition of what is written at `path`, if the schema knows that path. */
function definitionAt(path: readonly PropertyKey[], root: z.ZodType): SchemaDefinition | undefined {
  let schema: z.ZodType | undefined = root;
  for (const segment of path) {
    schema = schema === undefined ? undefined : childSchema(schema, segment);
  }
  return schema === undefined ? undefined : definitionOf(unwrap(schema).schema);
}

/** The keys the table at `path` accepts, in the schema's order; empty when `path` is not a fixed table. */
export function expectedKeys(path: readonly PropertyKey[], root: z.ZodType = configSchema): string[] {
  const definition = definitionAt(path, root);
  return definition?.type === "object" && definition.shape !== undefined ? Object.keys(definition.shape) : [];
}

/** Whether the value at `path` must be an integer (zod reports only "expected number" for a string there). */
export function expectsInteger(path: readonly PropertyKey[], root: z.ZodType = configSchema): boolean {
  const definition = definitionAt(path, root);
  return definition?.type === "number" && definition.format === "safeint";
}

/** Copies `value`, passing each duration, size and path (with its key path) through `visit`. */
export function mapValueKinds(
  value: unknown,
  visit: (kind: ValueKind, value: unknown, path: readonly PropertyKey[]) => unknown,
  root: z.ZodType = configSchema,
): unknown {
  const walk = (schema: z.ZodType | undefined, node: unknown, path: PropertyKey[]): unknown => {
    if (schema === undefined || node === undefined) return node;
    const { kind } = unwrap(schema);
    if (kind !== undefined) return visit(kind, node, path);
    if (Array.isArray(node)) return node.map((item, i) => walk(childSchema(schema, i), item, [...path, i]));
    if (node !== null && typeof node === "object") {
      return Object.fromEntries(
        Object.entries(node).map(([key, item]) => [key, walk(childSchema(schema, key), item, [...path, key])]),
      );
    }
    return node;
  };
  return walk(root, value, []);
}
