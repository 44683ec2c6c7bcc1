import { beeQueueSystem } from './beequeue.js';
import { bullmqSystem } from './bullmq.js';
import { redtaskSystem } from './redtask.js';
import type { Connection, System, SystemId } from './types.js';

export const SYSTEM_IDS: SystemId[] = ['redtask', 'bullmq', 'beequeue'];

export function makeSystem(id: SystemId, conn: Connection): System {
  switch (id) {
    case 'redtask':
      return redtaskSystem(conn);
    case 'bullmq':
      return bullmqSystem(conn);
    case 'beequeue':
      return beeQueueSystem(conn);
  }
}
