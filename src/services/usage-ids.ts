/** Our ids of recorded usage: `usg_` and a UUID without dashes. */
import { randomUUID } from 'node:crypto';

export function newOperationId(prefix: 'usg'): string {
  return `${prefix}_${randomUUID().replaceAll('-', '')}`;
}
