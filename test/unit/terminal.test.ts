import { describe, expect, it } from 'vitest';
import { safeJson, safeLines, safeText } from '../../src/commands/terminal.js';
import { controlsIn, HOSTILE, HOSTILE_SHOWN } from '../helpers/util.js';

describe('safeText (one line)', () => {
  it.each([
    ['plain text', 'send-email to a@b.c', 'send-email to a@b.c'],
    ['empty', '', ''],
    ['non-ASCII letters and emoji stay', 'café ✔ 日本 🎉', 'café ✔ 日本 🎉'],
    ['ESC', 'a\x1bb', 'a\\x1bb'],
    ['NUL', '\0', '\\x00'],
    ['BEL', '\x07', '\\x07'],
    ['line feed', 'a\nb', 'a\\x0ab'],
    ['tab', 'a\tb', 'a\\x09b'],
    ['carriage return', 'a\rb', 'a\\x0db'],
    ['unit separator (last C0)', '\x1f', '\\x1f'],
    ['space (first printable) stays', ' ', ' '],
    ['DEL', '\x7f', '\\x7f'],
    ['first C1', '\u0080', '\\u0080'],
    ['C1 CSI', '\u009b2J', '\\u009b2J'],
    ['last C1', '\u009f', '\\u009f'],
    ['NBSP (after C1) stays', '\u00a0', '\u00a0'],
    ['clear screen', '\x1b[2J', '\\x1b[2J'],
    ['OSC 0 title', '\x1b]0;title\x07', '\\x1b]0;title\\x07'],
    ['OSC 8 hyperlink', '\x1b]8;;http://x\x1b\\', '\\x1b]8;;http://x\\x1b\\'],
    ['RLO', 'exe.\u202etxt', 'exe.\\u202etxt'],
    ['LRE, RLE, PDF, LRO', '\u202a\u202b\u202c\u202d', '\\u202a\\u202b\\u202c\\u202d'],
    ['isolates', '\u2066\u2067\u2068\u2069', '\\u2066\\u2067\\u2068\\u2069'],
    ['LRM, RLM, ALM', '\u200e\u200f\u061c', '\\u200e\\u200f\\u061c'],
    ['neighbours of the bidi controls stay', '\u200d\u2029\u2065\u206a\u061b', '\u200d\u2029\u2065\u206a\u061b'],
    ['a lone backslash stays', 'C:\\tmp\\a.txt', 'C:\\tmp\\a.txt'],
    ['a backslash at the end stays', 'a\\', 'a\\'],
    ["printf's escapes stay", "printf 'a\\n'", "printf 'a\\n'"],
    ['a backslash before x is doubled', '\\x1b', '\\\\x1b'],
    ['a backslash before u is doubled', '\\u202e', '\\\\u202e'],
    ['two backslashes: the first is doubled', 'a\\\\b', 'a\\\\\\b'],
    ['a backslash before an escaped character is doubled', '\\\x1b', '\\\\\\x1b'],
  ])('%s', (_what, input, expected) => {
    expect(safeText(input)).toBe(expected);
    expect(controlsIn(safeText(input))).toEqual([]);
  });

  it('shows the test suite\'s hostile text as HOSTILE_SHOWN', () => {
    expect(safeText(HOSTILE)).toBe(HOSTILE_SHOWN);
  });

  it('escapes every character from U+0000 to U+009F that is not printable ASCII, and nothing else below U+3000', () => {
    for (let code = 0; code < 0x3000; code++) {
      const ch = String.fromCharCode(code);
      const control = code < 0x20 || (code >= 0x7f && code <= 0x9f) || [0x061c, 0x200e, 0x200f].includes(code) || (code >= 0x202a && code <= 0x202e) || (code >= 0x2066 && code <= 0x2069);
      const expected = !control ? ch : code < 0x80 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
      expect(safeText(ch), `U+${code.toString(16)}`).toBe(expected);
    }
  });

  it('is unambiguous: the escapes read back to the text', () => {
    const readBack = (s: string) => s.replace(/\\(\\|x[0-9a-f]{2}|u[0-9a-f]{4})/g, (_m, e: string) => (e === '\\' ? '\\' : String.fromCharCode(parseInt(e.slice(1), 16))));
    for (const text of ['\\x1b', '\\\x1b', '\x1b\\', 'a\\\\b\\', '\\\\x41', '\\u202e\u202e', 'C:\\tmp\\new', '\\\\\\']) {
      expect(readBack(safeText(text)), JSON.stringify(text)).toBe(text);
    }
  });
});

describe('safeLines (multi-line)', () => {
  it.each([
    ['line feeds and tabs stay', 'a\n\tb\n', 'a\n\tb\n'],
    ['carriage return is escaped (it would overwrite the line)', 'a\r\nb', 'a\\x0d\nb'],
    ['ESC in a line is escaped', 'error: \x1b[31mred\x1b[0m\nnext', 'error: \\x1b[31mred\\x1b[0m\nnext'],
    ['C1 and bidi as in one line', '\u009b\u202e', '\\u009b\\u202e'],
    ['a backslash before a line feed stays', 'a \\\nb', 'a \\\nb'],
  ])('%s', (_what, input, expected) => {
    expect(safeLines(input)).toBe(expected);
  });
});

describe('safeJson', () => {
  it.each<[string, unknown, string]>([
    ['plain', { a: 'b', n: 1 }, '{"a":"b","n":1}'],
    ['C0 as JSON escapes it', '\x1b[2J', '"\\u001b[2J"'],
    ['DEL', '\x7f', '"\\u007f"'],
    ['C1', '\u009b', '"\\u009b"'],
    ['bidi', 'a\u202eb\u2066', '"a\\u202eb\\u2066"'],
    ['in keys too', { '\u202e': 1 }, '{"\\u202e":1}'],
    ['a backslash as JSON has it', 'a\\b', '"a\\\\b"'],
    ['undefined', undefined, 'undefined'],
  ])('%s', (_what, value, expected) => {
    const text = safeJson(value);
    expect(text).toBe(expected);
    expect(controlsIn(text)).toEqual([]);
    if (value !== undefined) expect(JSON.parse(text)).toEqual(value);
  });

  it('is lossless: every character from U+0000 to U+D7FF reads back', () => {
    const all = Array.from({ length: 0xd800 }, (_, i) => String.fromCharCode(i)).join('');
    const text = safeJson({ all });
    expect(controlsIn(text)).toEqual([]);
    expect((JSON.parse(text) as { all: string }).all).toBe(all);
  });

  it('passes a replacer on', () => {
    expect(safeJson({ a: Infinity }, (_k, v) => (v === Infinity ? 'Infinity' : v))).toBe('{"a":"Infinity"}');
  });
});
