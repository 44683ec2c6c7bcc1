/**
 * What every decoder shares: the Decoded result, the limits (the same ones the library checks on
 * the way in), the small checks, and JSON text bounded in depth. See ../decode.ts.
 */

/** A decoded value, or why the stored text is not one. */
export type Decoded<T> = { ok: true; value: T } | { ok: false; reason: string };

export function fail(reason: string): { ok: false; reason: string } {
  return { ok: false, reason };
}

// ---------------------------------------------------------------------------------------------
// Limits, shared with the checks on input.

/** Attempts per task, at most. */
export const MAX_ATTEMPTS = 1000;
export const MIN_PRIORITY = -100;
export const MAX_PRIORITY = 100;
/** The longest backoff delay (a year): a retry time stays a whole number of ms, never Infinity. */
export const MAX_BACKOFF_MS = 366 * 86_400_000;
/** The shortest and longest interval of an `every` schedule. */
export const MIN_EVERY_MS = 1000;
export const MAX_EVERY_MS = 366 * 86_400_000;
/**
 * Deepest nesting of a payload, result or progress value. Deeper JSON parses, but then breaks
 * code that walks it recursively (printing, comparing, a handler): a stack overflow per task.
 */
export const MAX_JSON_DEPTH = 512;
/** The furthest time a JavaScript Date holds (ms from the epoch, either way). */
export const MAX_TIME_MS = 8.64e15;

export const TASK_NAME = /^[^|\n]{0,200}$/;
export const GROUP_NAME = /^[A-Za-z0-9._:-]{1,64}$/;
export const SCHEDULE_NAME = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;

export function isInt(v: unknown, min: number, max: number): v is number {
  return Number.isInteger(v) && (v as number) >= min && (v as number) <= max;
}

/** An object as JSON.parse makes one: not null, not an array. */
export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A value for a reason: short, whatever it is. */
export function show(v: unknown): string {
  let s: string;
  try {
    s = v === undefined ? 'undefined' : (JSON.stringify(v) ?? String(v));
  } catch {
    s = String(v);
  }
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

// ---------------------------------------------------------------------------------------------
// JSON

/**
 * Whether JSON text nests at most `max` levels deep. Text with at most `max` opening brackets
 * cannot nest deeper, so most text is only searched for them (natively), not walked.
 */
export function jsonDepthOk(text: string, max = MAX_JSON_DEPTH): boolean {
  if (text.length <= max) return true;
  let opening = 0;
  for (const bracket of ['[', '{']) {
    for (let i = text.indexOf(bracket); i >= 0; i = text.indexOf(bracket, i + 1)) {
      if (++opening > max) return depthWithin(text, max);
    }
  }
  return true;
}

/** Walks the text, brackets inside strings aside. */
function depthWithin(text: string, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92) i++; // backslash: skip the escaped character
      else if (c === 34) inString = false;
    } else if (c === 34) inString = true;
    else if (c === 91 || c === 123) {
      if (++depth > max) return false;
    } else if (c === 93 || c === 125) depth--;
  }
  return true;
}

/** JSON text, parsed; `what` names it in the reason ("its payload"). */
export function decodeJson(text: string, what = 'the value'): Decoded<unknown> {
  if (!jsonDepthOk(text)) return fail(`${what}: nested more than ${MAX_JSON_DEPTH} levels deep`);
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch {
    return fail(`${what}: not valid JSON`);
  }
}

