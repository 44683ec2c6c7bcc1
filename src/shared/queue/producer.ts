import { PublishInterruptedError, scriptError, UsageError } from '../errors.js';
import { QUEUES_KEY } from '../keys.js';
import { checkTaskOptions, inRange, KEY_WINDOW, payloadJson, validateGroup } from '../options.js';
import { encodeOpts } from '../record.js';
import { runScript, scriptKeys } from '../scripts.js';
import type { AddOptions, QueueContext } from './types.js';

/**
 * The producer: checks and encodes tasks (payload size, options) and publishes them in batches
 * (publish-11.lua). It registers the queue in the list of queues on its first publish.
 */

/** How long an idempotency key counts when no window is given. */
export const DEFAULT_KEY_WINDOW_MS = 86_400_000;
/** Tasks of one add call must fit in a payload this large (bytes of JSON), unless configured. */
export const DEFAULT_MAX_PAYLOAD = 1024 * 1024;
const BATCH = 1000;
/**
 * At most this many characters of records per publish call, whatever their number: a command is
 * built as one string, and a thousand tasks near the payload limit would pass V8's longest.
 */
export const BATCH_CHARS = 16 * 1024 * 1024;

export class Producer<T = unknown> {
  /** The largest payload accepted, bytes of JSON. */
  maxPayloadBytes = DEFAULT_MAX_PAYLOAD;
  private registered = false;

  constructor(private readonly q: QueueContext) {}

  /** Adds one task; resolves to its id. */
  async add(data: T, opts: AddOptions = {}): Promise<string> {
    const [id] = await this.addBulk([{ data, opts }]);
    return id!;
  }

  /** Adds many tasks (up to 1,000, and 16 MiB of records, per script call); resolves to their ids, in order. */
  async addBulk(items: Array<{ data: T; opts?: AddOptions }>): Promise<string[]> {
    const now = Date.now();
    const encoded = items.map((item) => this.encode(item.data, item.opts ?? {}, now));
    if (!this.registered) {
      await this.q.client.sadd(QUEUES_KEY, this.q.name);
      this.registered = true;
    }
    const ids: string[] = [];
    for (let i = 0; i < encoded.length; ) {
      const size = (k: number) => (encoded[k]![5] as string).length;
      let end = i + 1;
      let chars = size(i);
      while (end < encoded.length && end - i < BATCH && chars + size(end) <= BATCH_CHARS) chars += size(end++);
      const chunk = encoded.slice(i, end);
      i = end;
      // Due now, priority 0, no group, no key: only the records go (the script's plain mode).
      const plain = chunk.every((e) => e[0] === 0 && e[1] === 0 && e[2] === '' && e[3] === '');
      const args = plain ? [now, -chunk.length, ...chunk.map((e) => e[5]!)] : [now, chunk.length, ...chunk.flat()];
      const res = (await runScript(this.q.client, 'publish', scriptKeys.publish(this.q.keys), args).catch((err: unknown) => {
        const e = scriptError(err, { queue: this.q.name, accepted: ids });
        // Part-way through: say which tasks of this call went in before the failure.
        throw e === err && ids.length > 0 ? new PublishInterruptedError(err, [...ids]) : e;
      })) as Array<number | string>;
      if (res[0] === -2) for (const id of res.slice(1)) ids.push(String(id));
      else for (let k = 0; k < Number(res[1]); k++) ids.push(String(Number(res[0]) + k));
    }
    return ids;
  }

  /** A task's payload as stored (JSON); throws a UsageError when it is over maxPayloadBytes. */
  payloadJson(data: T): string {
    return payloadJson(data, this.maxPayloadBytes);
  }

  private encode(data: T, opts: AddOptions, now: number): Array<string | number> {
    const json = this.payloadJson(data);
    const { attempts, backoff, timeout, priority, taskName } = checkTaskOptions(opts);
    let runAt = 0;
    if (opts.runAt !== undefined) runAt = typeof opts.runAt === 'number' ? opts.runAt : opts.runAt.getTime();
    if (opts.delay !== undefined) {
      if (!(opts.delay >= 0 && Number.isFinite(opts.delay))) throw new UsageError(`invalid delay ${opts.delay}: use a number of ms >= 0`);
      runAt = now + opts.delay;
    }
    if (!Number.isFinite(runAt)) throw new UsageError('invalid run-at time');
    const key = opts.key ?? '';
    if (key.length > 512) throw new UsageError('invalid idempotency key: at most 512 characters');
    const window = inRange(KEY_WINDOW, opts.keyWindowMs ?? DEFAULT_KEY_WINDOW_MS);
    const group = validateGroup(opts.group ?? '');
    return [runAt, priority, group, key, window, `${attempts}|${now}|${taskName}|${encodeOpts(backoff, timeout, priority, group, opts.notify)}|${json}`];
  }
}
