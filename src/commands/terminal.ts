/**
 * Text for a human terminal: the one place where what the programs print (task names, payloads,
 * errors, schedule and worker fields, queue names) loses the characters a terminal acts on.
 *
 * A terminal obeys C0 controls (ESC starts the sequences that clear the screen, set the window
 * title or make hyperlinks), DEL, C1 controls (U+009B is a one-character CSI) and reorders text
 * between bidi controls (U+202E shows "exe.txt" as "txt.exe"). Each is shown as an escape
 * instead: `\xHH` below U+0080, `\uHHHH` from there on (`\x1b`, `\x7f`, `\u009b`, `\u202e`).
 *
 * A backslash stays as it is, except where the reader could take it for the start of an escape:
 * before `x`, `u`, another backslash or an escaped character it is doubled. So `C:\tmp` and
 * `printf 'a\n'` read as typed, while a task literally named `\x1b` shows as `\\x1b`, not as an
 * ESC. (Read back: `\\` is a backslash, `\xHH` and `\uHHHH` the characters they name, any other
 * backslash itself.)
 *
 * Escaping happens on the data, before any styling: chalk's own colour codes around safe text
 * are the program's, not the data's.
 */

// The characters escaped, as RegExp class ranges: C0 (all, or without tab and line feed), DEL
// with C1, and the bidi controls (ALM, LRM, RLM, the embeddings and overrides, the isolates).
const C0 = '\\u0000-\\u001f';
const C0_BUT_LAYOUT = '\\u0000-\\u0008\\u000b-\\u001f';
const DEL_C1_BIDI = '\\u007f-\\u009f\\u061c\\u200e\\u200f\\u202a-\\u202e\\u2066-\\u2069';

/** A control character, or a backslash that the reader could take for the start of an escape. */
function unsafe(controls: string): RegExp {
  return new RegExp(`[${controls}]|\\\\(?=[\\\\xu${controls}])`, 'g');
}

const ONE_LINE = unsafe(C0 + DEL_C1_BIDI);
const MULTI_LINE = unsafe(C0_BUT_LAYOUT + DEL_C1_BIDI);
// What JSON.stringify leaves raw (it escapes C0 itself).
const JSON_RAW = new RegExp(`[${DEL_C1_BIDI}]`, 'g');

function escape(ch: string): string {
  if (ch === '\\') return '\\\\';
  const code = ch.charCodeAt(0);
  return code < 0x80 ? `\\x${code.toString(16).padStart(2, '0')}` : jsonEscape(ch);
}

/** `\uHHHH`: the form JSON knows (it has no `\x`). */
function jsonEscape(ch: string): string {
  return `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`;
}

/** One line of text, safe for a terminal: line feeds and tabs are escaped too (`\x0a`, `\x09`). */
export function safeText(text: string): string {
  return text.replace(ONE_LINE, escape);
}

/** Text that may span lines (an error with a command's stderr): as safeText, but `\n` and `\t` stay. */
export function safeLines(text: string): string {
  return text.replace(MULTI_LINE, escape);
}

/**
 * JSON.stringify, with DEL, C1 and bidi controls written as `\u009b` style escapes as well (JSON
 * itself only escapes C0). Lossless: a JSON reader decodes them back. Every JSON the programs
 * print (`--json`, and payloads shown as JSON in text views) goes through here.
 */
export function safeJson(value: unknown, replacer?: (this: unknown, key: string, value: unknown) => unknown): string {
  const text = JSON.stringify(value, replacer) as string | undefined;
  // (undefined has no JSON; it is shown as the word, as a template string would.)
  return text === undefined ? 'undefined' : text.replace(JSON_RAW, jsonEscape);
}
