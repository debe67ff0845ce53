/** Credit handlers: prepaid units of metered features granted by operators. */
import type { ServiceImpl } from '@connectrpc/connect';
import { Code, ConnectError } from '@connectrpc/connect';
import type { AdminService } from '../../../gen/billing/v1/admin_pb.js';

type CreditHandlers = Pick<
  ServiceImpl<typeof AdminService>,
  'grantCredits' | 'revokeCredits' | 'listCredits'
>;

// The credit RPCs land with the next slice of issue 12.
export function creditHandlers(): CreditHandlers {
  return {
    grantCredits() {
      throw new ConnectError('GrantCredits is not implemented yet', Code.Unimplemented);
    },
    revokeCredits() {
      throw new ConnectError('RevokeCredits is not implemented yet', Code.Unimplemented);
    },
    listCredits() {
      throw new ConnectError('ListCredits is not implemented yet', Code.Unimplemented);
    },
  };
}
