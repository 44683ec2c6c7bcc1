import { beeQueueSystem } from './beequeue.js';
import { bullmqSystem } from './bullmq.js';
import { redtaskBaseSystem, redtaskSystem } from './redtask.js';
import type { Connection, System, SystemId } from './types.js';

/** The systems `--systems` may name; `redtask-base` joins them with `--baseline <dir>`. */
export const SYSTEM_IDS: SystemId[] = ['redtask', 'bullmq', 'beequeue'];

/** `build` is the checkout of the second redtask build; required for `redtask-base`. */
export async function makeSystem(id: SystemId, conn: Connection, build?: string): Promise<System> {
  switch (id) {
    case 'redtask':
      return redtaskSystem(conn);
    case 'redtask-base':
      if (!build) throw new Error('redtask-base needs the folder of its build (--baseline <dir>)');
      return redtaskBaseSystem(conn, build);
    case 'bullmq':
      return bullmqSystem(conn);
    case 'beequeue':
      return beeQueueSystem(conn);
  }
}
