import { describe, expect, it } from 'vitest';
import {
  decodeAttemptErrors,
  decodeCount,
  decodeJson,
  decodeOpts,
  decodeSchedule,
  decodeScheduleState,
  decodeSetting,
  decodeStoredSchedule,
  decodeTask,
  decodeTemplate,
  decodeWorker,
  jsonDepthOk,
  MAX_JSON_DEPTH,
  quarantinedSchedule,
  tokenLeasedAt,
  tokenWorker,
} from '../../src/shared/decode.js';
import { MAX_TIMER_MS } from '../../src/shared/duration.js';
import { CorruptRecordError, UsageError } from '../../src/shared/errors.js';
import { checkBackoff, decodeRecord, encodeOpts, toJson } from '../../src/shared/record.js';

const deep = (n: number) => '['.repeat(n) + ']'.repeat(n);

describe('decodeTask', () => {
  it('decodes a well-formed record (options it does not know are left alone)', () => {
    const opts = JSON.stringify({ bt: 'f', bd: 250, t: 5000, p: -3, g: 'tenant-1', w: 1, sn: 'nightly', sd: 1_700_000_000_000, zz: 'future key' });
    const d = decodeTask<{ a: number }>(`42|1|3|1700000000000|email|${opts}|{"a":1}`);
    expect(d).toEqual({
      ok: true,
      value: {
        id: '42',
        made: 1,
        maxAttempts: 3,
        publishedAt: 1_700_000_000_000,
        name: 'email',
        opts: { bt: 'f', bd: 250, t: 5000, p: -3, g: 'tenant-1', w: 1, sn: 'nightly', sd: 1_700_000_000_000, zz: 'future key' },
        data: { a: 1 },
      },
    });
  });

  it('reads back every record the library writes', () => {
    const opts = encodeOpts({ type: 'exponential', delay: 1000, maxDelay: 60_000 }, MAX_TIMER_MS, 100, 'g', true);
    expect(decodeTask(`1|0|1000|0|${'n'.repeat(200)}|${opts}|${toJson(JSON.parse(deep(MAX_JSON_DEPTH)))}`).ok).toBe(true);
  });

  // [what, record, reason pattern]: each bad value gives a reason and the id, never a throw.
  const head = '61|0|3|1700000000000|n';
  const bad: Array<[string, string, RegExp]> = [
    ['opts null (the worker crash of issue 14)', '61|0|99999|0||null|"echo x"', /attempts 99999 are not from 1 to 1000/],
    ['opts null', `${head}|null|"x"`, /options null are not an object/],
    ['opts an array', `${head}|[1,2]|"x"`, /options \[1,2\] are not an object/],
    ['opts a string', `${head}|"p"|"x"`, /options "p" are not an object/],
    ['opts a number', `${head}|5|"x"`, /options 5 are not an object/],
    ['opts not JSON', `${head}|{oops|"x"`, /its options: not valid JSON/],
    ['timeout -1', `${head}|{"t":-1}|"x"`, /option t -1 is out of range/],
    ['timeout 1e308', `${head}|{"t":1e308}|"x"`, /option t 1e\+308 is out of range/],
    ['timeout 0', `${head}|{"t":0}|"x"`, /option t 0/],
    ['timeout past the timer limit', `${head}|{"t":${MAX_TIMER_MS + 1}}|"x"`, /option t/],
    ['timeout a fraction', `${head}|{"t":1.5}|"x"`, /option t 1.5/],
    ['priority a string', `${head}|{"p":"x"}|"x"`, /option p "x"/],
    ['priority out of range', `${head}|{"p":101}|"x"`, /option p 101/],
    ['backoff type unknown', `${head}|{"bt":"zz"}|"x"`, /option bt "zz"/],
    ['backoff delay NaN-like', `${head}|{"bt":"e","bd":"NaN"}|"x"`, /option bd "NaN"/],
    ['backoff delay infinite', `${head}|{"bt":"e","bd":1e999}|"x"`, /option bd null|option bd 1e\+999|option bd/],
    ['backoff delay negative', `${head}|{"bt":"f","bd":-5}|"x"`, /option bd -5/],
    ['backoff max a list', `${head}|{"bt":"e","bm":[1]}|"x"`, /option bm \[1\]/],
    ['group with a space', `${head}|{"g":"a b"}|"x"`, /option g "a b"/],
    ['notify 2', `${head}|{"w":2}|"x"`, /option w 2/],
    ['schedule name a number', `${head}|{"sn":5}|"x"`, /option sn 5/],
    ['due time negative', `${head}|{"sd":-1}|"x"`, /option sd -1/],
    ['payload not JSON', `${head}||{not json`, /its payload: not valid JSON/],
    ['payload empty', `${head}||`, /its payload: not valid JSON/],
    ['payload nested 10,000 deep', `${head}||${deep(10_000)}`, /its payload: nested more than 512 levels deep/],
    ['huge max', '61|0|100000000000000000000|0|n||1', /its attempts 1000000000\d* are not from 1/],
    ['max 0', '61|0|0|0|n||1', /attempts 0 are not from 1/],
    ['huge made', '61|99999|3|0|n||1', /attempts made 99999/],
    ['publishedAt past the Date range', '61|0|3|99999999999999999|n||1', /publishing time/],
    ['name too long', `61|0|3|0|${'x'.repeat(201)}||1`, /name .* longer than 200/],
    ['name with a newline', '61|0|3|0|a\nb||1', /name/],
  ];
  it.each(bad)('%s', (_what, raw, reason) => {
    const d = decodeTask(raw);
    expect(d.ok).toBe(false);
    if (d.ok) return;
    expect(d.reason).toMatch(/^corrupt task record 61: /);
    expect(d.reason).toMatch(reason);
    expect(d.id).toBe('61');
    expect(() => decodeRecord(raw)).toThrow(CorruptRecordError);
  });

  it('gives the head of a record whose options or payload are bad', () => {
    const d = decodeTask('7|2|5|1700000000000|send|null|1');
    expect(d).toMatchObject({ ok: false, id: '7', head: { id: '7', made: 2, maxAttempts: 5, publishedAt: 1_700_000_000_000, name: 'send' } });
  });

  it.each([['garbage'], [''], ['x|0|3|5|n||null'], ['1|a|3|5|n||null'], ['1|0|3|5|name|']])('a record without a head: %j', (raw) => {
    const d = decodeTask(raw);
    expect(d.ok).toBe(false);
    if (!d.ok) expect(d.reason).toMatch(/^corrupt task record/);
  });
});

describe('decodeOpts', () => {
  it('reads "" as no options, and checks only the keys it knows', () => {
    expect(decodeOpts('')).toEqual({ ok: true, value: {} });
    const d = decodeOpts('{"p":1,"__proto__":{"t":-1},"x":2}');
    expect(d.ok).toBe(true);
    if (d.ok) expect([d.value.p, d.value.t, Object.getPrototypeOf(d.value)]).toEqual([1, undefined, Object.prototype]);
  });
});

describe('decodeJson', () => {
  it('bounds the depth without scanning short text', () => {
    expect(jsonDepthOk(deep(MAX_JSON_DEPTH))).toBe(true);
    expect(jsonDepthOk(deep(MAX_JSON_DEPTH + 1))).toBe(false);
    // Brackets inside strings do not count, escaped quotes do not end a string.
    expect(jsonDepthOk(JSON.stringify({ s: '['.repeat(5000) + '"\\' }))).toBe(true);
    expect(decodeJson(deep(600), 'it')).toEqual({ ok: false, reason: 'it: nested more than 512 levels deep' });
    expect(decodeJson('{"a":', 'it')).toEqual({ ok: false, reason: 'it: not valid JSON' });
  });

  it('refuses to store what it would not read back', () => {
    expect(() => toJson(JSON.parse(deep(MAX_JSON_DEPTH + 1)))).toThrow(UsageError);
    expect(() => checkBackoff('fixed:400d')).toThrow(UsageError);
    expect(() => checkBackoff({ type: 'fixed', delay: -1 })).toThrow(/invalid backoff/);
  });
});

describe('decodeAttemptErrors', () => {
  it.each([
    ['{"a":1}', /not a list/],
    ['[1]', /not \{attempt, at, error, worker\?\}/],
    ['[{"attempt":1,"at":5}]', /not \{attempt/],
    ['[{"attempt":1,"at":5,"error":"x","worker":5}]', /not \{attempt/],
    ['[', /not valid JSON/],
  ])('%s', (raw, reason) => {
    const d = decodeAttemptErrors(raw);
    expect(d.ok).toBe(false);
    if (!d.ok) expect(d.reason).toMatch(reason);
  });
  it('reads a well-formed entry', () => {
    expect(decodeAttemptErrors('[{"attempt":1,"at":5,"error":"x","worker":"w"}]')).toEqual({ ok: true, value: [{ attempt: 1, at: 5, error: 'x', worker: 'w' }] });
  });
});

const goodDef = {
  rev: 'abc123',
  every: 60_000,
  anchor: 1_700_000_000_000,
  since: 1_700_000_000_000,
  overlap: 'allow',
  catchUp: 'latest',
  window: 86_400_000,
  paused: false,
  priority: 0,
  taskName: '',
  attempts: 3,
  createdAt: 1_700_000_000_000,
  updatedAt: 1_700_000_000_000,
};

describe('decodeSchedule', () => {
  it('decodes a well-formed definition, cron or interval', () => {
    expect(decodeSchedule(JSON.stringify(goodDef))).toEqual({ ok: true, value: goodDef });
    const cron = { ...goodDef, every: undefined, cron: '*/5 * * * *', tz: 'Europe/Berlin', timeout: 1000, backoff: { type: 'fixed', delay: 5 } };
    expect(decodeSchedule(JSON.stringify(cron)).ok).toBe(true);
  });

  const bad: Array<[string, unknown, RegExp]> = [
    ['every 0 (the fatal invalid size of issue 14)', { ...goodDef, every: 0 }, /interval 0 is not a whole number/],
    ['every negative', { ...goodDef, every: -1000 }, /interval -1000/],
    ['every a fraction', { ...goodDef, every: 1000.5 }, /interval 1000.5/],
    ['every a string', { ...goodDef, every: '5s' }, /interval "5s"/],
    ['every null', { ...goodDef, every: null }, /interval null/],
    ['both cron and every', { ...goodDef, cron: '* * * * *' }, /both/],
    ['neither', { ...goodDef, every: undefined }, /neither/],
    ['cron that does not parse', { ...goodDef, every: undefined, cron: 'not a cron' }, /cron expression "not a cron" is invalid/],
    ['cron with 4 fields', { ...goodDef, every: undefined, cron: '0 9 * *' }, /4 fields/],
    ['cron a number', { ...goodDef, every: undefined, cron: 5 }, /cron expression 5 is not a string/],
    ['unknown zone', { ...goodDef, every: undefined, cron: '* * * * *', tz: 'Mars/Olympus' }, /time zone "Mars\/Olympus"/],
    ['anchor NaN-like', { ...goodDef, anchor: 'NaN' }, /anchor "NaN"/],
    ['since huge', { ...goodDef, since: 1e300 }, /start 1e\+300/],
    ['overlap unknown', { ...goodDef, overlap: 'sometimes' }, /overlap policy "sometimes"/],
    ['catch-up unknown', { ...goodDef, catchUp: 7 }, /catch-up policy 7/],
    ['window negative', { ...goodDef, window: -1 }, /catch-up window -1/],
    ['paused a string', { ...goodDef, paused: 'yes' }, /paused flag "yes"/],
    ['priority out of range', { ...goodDef, priority: 1000 }, /priority 1000/],
    ['attempts 0', { ...goodDef, attempts: 0 }, /attempts 0/],
    ['timeout past the timer limit', { ...goodDef, timeout: 1e308 }, /timeout 1e\+308/],
    ['backoff bad type', { ...goodDef, backoff: { type: 'zz', delay: 1 } }, /backoff/],
    ['rev not alphanumeric', { ...goodDef, rev: 'a"b' }, /rev "a\\"b"/],
    ['an array', [goodDef], /not an object/],
    ['null', null, /not an object/],
  ];
  it.each(bad)('%s', (_what, def, reason) => {
    const d = decodeSchedule(JSON.stringify(def));
    expect(d.ok).toBe(false);
    if (!d.ok) {
      expect(d.reason).toMatch(reason);
      expect(d.quarantined).toBe(false);
    }
  });

  it('reads the rev of a corrupt definition where the scripts read it', () => {
    expect(decodeSchedule(JSON.stringify({ ...goodDef, every: 0 }))).toMatchObject({ ok: false, rev: 'abc123' });
    expect(decodeSchedule('{not json')).toMatchObject({ ok: false, rev: undefined, reason: 'its definition: not valid JSON' });
  });

  it('knows a definition that a scheduler set aside', () => {
    const aside = quarantinedSchedule('def456', 'its interval 0 is bad', '{"rev":"abc123","every":0}');
    expect(JSON.parse(aside)).toMatchObject({ rev: 'def456', paused: true });
    expect(decodeSchedule(aside)).toEqual({ ok: false, reason: 'its interval 0 is bad', rev: 'def456', quarantined: true });
  });

  it('checks the task template with the definition', () => {
    const raw = JSON.stringify(goodDef);
    expect(decodeStoredSchedule(raw, '3|n||{"a":1}').ok).toBe(true);
    expect(decodeStoredSchedule(raw, null)).toMatchObject({ ok: false, reason: 'it has no task template', rev: 'abc123' });
    expect(decodeStoredSchedule(raw, '3|n|null|1')).toMatchObject({ ok: false, reason: /task template: its options null/ });
  });
});

describe('decodeTemplate', () => {
  it.each([
    ['x', /not "<attempts>\|<name>\|<options>\|<payload>"/],
    ['3|n|{}|1', /empty options/],
    ['0|n||1', /attempts 0/],
    ['3|n|{"t":-1}|1', /option t -1/],
    ['3|n||{bad', /its payload: not valid JSON/],
  ])('%s', (raw, reason) => {
    const d = decodeTemplate(raw);
    expect(d.ok).toBe(false);
    if (!d.ok) expect(d.reason).toMatch(reason);
  });
});

describe('decodeScheduleState', () => {
  it('reads a state, none as the empty state, and refuses garbage', () => {
    expect(decodeScheduleState('5|12|3|1|0|9')).toEqual({ ok: true, value: { lastDue: 5, lastId: '12', fired: 3, skipped: 1, queued: 0, lastFiredAt: 9 } });
    expect(decodeScheduleState(null)).toMatchObject({ ok: true, value: { lastDue: 0 } });
    expect(decodeScheduleState('x|y')).toMatchObject({ ok: false });
    expect(decodeScheduleState(`${'9'.repeat(30)}|1|1|1|1|1`)).toMatchObject({ ok: false, reason: /out of range/ });
  });
});

describe('counters, settings and workers', () => {
  it('decodes counts and settings', () => {
    expect(decodeCount('12')).toEqual({ ok: true, value: 12 });
    for (const raw of ['-1', '1.5', 'abc', '', '1e3', '99999999999999999999']) expect(decodeCount(raw).ok).toBe(false);
    expect(decodeSetting('maxActive', '5')).toEqual({ ok: true, value: 5 });
    expect(decodeSetting('maxActive', 'lots')).toEqual({ ok: false, reason: 'maxActive "lots" is not a whole number >= 0' });
    expect(decodeSetting('colour', '5')).toEqual({ ok: false, reason: '"colour" is not a setting' });
  });

  const worker = { id: 'w1', host: 'h', pid: 5, queues: ['q'], concurrency: 2, running: 1, startedAt: 1, version: '0.1.0', leaseMs: 5000 };
  it('decodes a worker description', () => {
    expect(decodeWorker(JSON.stringify(worker))).toEqual({ ok: true, value: worker });
  });
  it.each([
    ['not JSON', '{', /not valid JSON/],
    ['null', 'null', /not an object/],
    ['queues a string', JSON.stringify({ ...worker, queues: 'q' }), /queues "q"/],
    ['pid negative', JSON.stringify({ ...worker, pid: -1 }), /pid -1/],
    ['running NaN-like', JSON.stringify({ ...worker, running: 'NaN' }), /running "NaN"/],
    ['lease 0', JSON.stringify({ ...worker, leaseMs: 0 }), /lease 0/],
    ['host missing', JSON.stringify({ ...worker, host: undefined }), /host/],
  ])('a bad worker description: %s', (_what, raw, reason) => {
    const d = decodeWorker(raw);
    expect(d.ok).toBe(false);
    if (!d.ok) expect(d.reason).toMatch(reason);
  });

  it('reads the worker and the lease time from a lease token', () => {
    const at = Date.UTC(2026, 11, 7);
    expect(tokenWorker(`host-12-ab3f01.1z.${at.toString(36)}`)).toBe('host-12-ab3f01');
    expect(tokenWorker('host-12-ab3f01.1z')).toBe('host-12-ab3f01');
    expect(tokenWorker('nodot')).toBeUndefined();
    expect(tokenLeasedAt(`host-12-ab3f01.1z.${at.toString(36)}`)).toBe(at);
    expect(['w.1', 'w.1.', 'w.1.ZZ', 'w.1.zzzzzzzzzzzz', 'w.1.2.3', ''].map(tokenLeasedAt)).toEqual([undefined, undefined, undefined, undefined, undefined, undefined]);
  });
});
