/**
 * Turning `unknown` into typed spec objects. Each `parseX(value, label)` checks
 * `value` against its schema and returns it typed (the same object: unknown fields
 * stay), or throws an InvalidArgument BerthError whose message names the JSON path
 * of the first bad field (`manifest.layers[2].digest: not a digest`) and whose
 * `detail.issues` lists every problem found (up to 20).
 */
import type { Static, TSchema } from '@sinclair/typebox';
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler';
import { ValueErrorType, type ValueError } from '@sinclair/typebox/errors';
import { Value } from '@sinclair/typebox/value';
import { invalidArgument } from '@berth/errors';
import { expectKey } from './image.js';

/** One problem found in a document: where (`manifest.layers[2].digest`) and what (`not a digest`). */
export interface Issue {
  readonly path: string;
  readonly message: string;
}

/** The result of {@link validate}: the typed value, or the issues found. */
export type Validation<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly issues: readonly Issue[] };

const maxIssues = 20;
/** What checks a schema: TypeBox's interpreter, or the compiled check once it pays. */
interface Checker {
  Check(value: unknown): boolean;
  Errors(value: unknown): Iterable<ValueError>;
}
// A schema's first check walks the schema (Value.Check); from the second on, the check is
// compiled (once, kept here). Compiling costs ~2 ms: a CLI that checks one image config per
// run (berth run) should not pay it; a pull or a load checking many documents does, once.
const compiled = new WeakMap<TSchema, Checker>();
const used = new WeakSet<TSchema>();

function checkerFor(schema: TSchema): Checker {
  const c = compiled.get(schema);
  if (c !== undefined) return c;
  if (!used.has(schema)) {
    used.add(schema);
    return { Check: (v) => Value.Check(schema, v), Errors: (v) => Value.Errors(schema, v) };
  }
  const made: TypeCheck<TSchema> = TypeCompiler.Compile(schema);
  compiled.set(schema, made);
  return made;
}

const identifier = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

/** A JSON pointer (`/layers/2/digest`) as a JS-like path under `label` (`manifest.layers[2].digest`). */
export function pointerToPath(label: string, pointer: string): string {
  if (pointer === '') return label;
  let out = label;
  for (const raw of pointer.slice(1).split('/')) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (/^(?:0|[1-9][0-9]*)$/.test(key)) out += `[${key}]`;
    else if (identifier.test(key)) out += `.${key}`;
    else out += `[${JSON.stringify(key)}]`;
  }
  return out;
}

function describe(e: ValueError): string {
  const expect = (e.schema as Record<string, unknown>)[expectKey];
  // a key present with the value undefined (built in code, never from JSON) is missing too
  if (e.type === ValueErrorType.ObjectRequiredProperty || e.value === undefined) return 'required';
  if (typeof expect === 'string') return expect.startsWith('one of') ? `must be ${expect}` : `not ${expect}`;
  const s = e.schema as Record<string, unknown>;
  switch (e.type) {
    case ValueErrorType.String: return 'must be a string';
    case ValueErrorType.Integer: return 'must be an integer';
    case ValueErrorType.Number: return 'must be a number';
    case ValueErrorType.Boolean: return 'must be a boolean';
    case ValueErrorType.Array: return 'must be an array';
    case ValueErrorType.Object: return 'must be an object';
    case ValueErrorType.Null: return 'must be null';
    case ValueErrorType.Literal: return `must be ${JSON.stringify(s['const'])}`;
    case ValueErrorType.IntegerMinimum:
    case ValueErrorType.NumberMinimum: return `must be at least ${String(s['minimum'])}`;
    case ValueErrorType.IntegerMaximum:
    case ValueErrorType.NumberMaximum: return `must be at most ${String(s['maximum'])}`;
    case ValueErrorType.StringMinLength: return `must have at least ${String(s['minLength'])} characters`;
    case ValueErrorType.StringMaxLength: return `must have at most ${String(s['maxLength'])} characters`;
    case ValueErrorType.StringPattern: return 'invalid format';
    default: return e.message.toLowerCase();
  }
}

/** Check `value` against `schema`; never throws for bad input. `label` names the document in paths. */
export function validate<T extends TSchema>(schema: T, value: unknown, label: string): Validation<Static<T>> {
  const checker = checkerFor(schema);
  if (checker.Check(value)) return { ok: true, value };
  const issues: Issue[] = [];
  const seen = new Set<string>();
  for (const e of checker.Errors(value)) {
    const issue = { path: pointerToPath(label, e.path), message: describe(e) };
    // one issue per field: a missing property also fails its type check
    if (seen.has(issue.path)) continue;
    seen.add(issue.path);
    issues.push(issue);
    if (issues.length >= maxIssues) break;
  }
  if (issues.length === 0) issues.push({ path: label, message: 'invalid' });
  return { ok: false, issues };
}

/** The error thrown for a document with issues: first issue in the message, all in `detail.issues`. */
export function invalidDocument(issues: readonly Issue[], cause?: unknown): Error {
  const first = issues[0] ?? { path: 'document', message: 'invalid' };
  const more = issues.length > 1 ? ` (and ${issues.length - 1} more)` : '';
  return invalidArgument(`${first.path}: ${first.message}${more}`, {
    detail: { issues },
    ...(cause === undefined ? {} : { cause }),
  });
}

/** Check `value` against `schema` and return it typed, or throw an InvalidArgument BerthError naming the bad field. */
export function parseWith<T extends TSchema>(schema: T, value: unknown, label: string): Static<T> {
  const r = validate(schema, value, label);
  if (!r.ok) throw invalidDocument(r.issues);
  return r.value;
}
