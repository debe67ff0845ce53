/** Credit handlers: prepaid units of metered features, granted by operators or bought as packs. */
import { create } from '@bufbuild/protobuf';
import { timestampFromDate } from '@bufbuild/protobuf/wkt';
import {
  type CreditLot,
  CreditLotSchema,
  CreditSource,
  GrantCreditsResponseSchema,
  ListCreditsResponseSchema,
  RevokeCreditsResponseSchema,
} from '../../../gen/billing/v1/admin_pb.js';
import { type CreditLotView, isPackLotId } from '../../domain/credits.js';
import { requirePrincipal } from '../auth.js';
import { afterFromPageToken, pageToken, timestampOrUndefined } from '../convert.js';
import {
  invalid,
  optionalTimestamp,
  pageSize,
  requireCustomerId,
  requireFeature,
  requireReason,
  requireWholeNumber,
} from '../validate.js';
import type { AdminRoutesDeps, CreditHandlers } from './admin-routes-deps.js';

const grantedLotIdPattern = /^crd_[a-z0-9]{9,40}$/;
/** Granted lots (crd_...) and pack lots (checkout session : catalog id : feature). */
const lotIdPattern = { test: (id: string) => grantedLotIdPattern.test(id) || isPackLotId(id) };
const maxAmount = 1_000_000_000;

export function creditHandlers(deps: AdminRoutesDeps): CreditHandlers {
  const now = () => deps.now?.() ?? new Date();
  return {
    async grantCredits(req, context) {
      const principal = requirePrincipal(context);
      const customerId = requireCustomerId(req.customerId);
      const feature = requireFeature('feature', req.feature);
      const amount = requireWholeNumber('amount', req.amount, 1, maxAmount);
      const expiresAt = optionalTimestamp('expires_at', req.expiresAt) ?? null;
      if (expiresAt && expiresAt.getTime() <= now().getTime())
        throw invalid('expires_at', 'must be in the future');
      const credit = await deps.credits.grant({
        projectId: principal.projectId,
        customerId,
        feature,
        amount,
        expiresAt,
        actor: principal.keyId,
        reason: requireReason(req.reason),
      });
      return create(GrantCreditsResponseSchema, { credit: creditLotMessage(credit) });
    },

    async revokeCredits(req, context) {
      const principal = requirePrincipal(context);
      if (!lotIdPattern.test(req.creditId))
        throw invalid('credit_id', 'must be a credit id (crd_...)');
      const credit = await deps.credits.revoke(
        principal.projectId,
        req.creditId,
        principal.keyId,
        requireReason(req.reason),
      );
      return create(RevokeCreditsResponseSchema, { credit: creditLotMessage(credit) });
    },

    async listCredits(req, context) {
      const principal = requirePrincipal(context);
      const limit = pageSize(req.pageSize);
      const credits = await deps.credits.list(principal.projectId, {
        customerId: requireCustomerId(req.customerId),
        feature: req.feature === '' ? undefined : requireFeature('feature', req.feature),
        includeEnded: req.includeEnded,
        after: afterFromPageToken(req.pageToken, lotIdPattern),
        limit: limit + 1,
      });
      const page = credits.slice(0, limit);
      return create(ListCreditsResponseSchema, {
        credits: page.map(creditLotMessage),
        nextPageToken: credits.length > limit ? pageToken(page.at(-1)?.lot.id) : '',
      });
    },
  };
}

function creditLotMessage(view: CreditLotView): CreditLot {
  const { lot } = view;
  return create(CreditLotSchema, {
    id: lot.id,
    customerId: view.customerId,
    feature: lot.feature,
    source: lot.source === 'grant' ? CreditSource.GRANT : CreditSource.PACK,
    amount: BigInt(lot.amount),
    remaining: BigInt(view.remaining),
    expiresAt: timestampOrUndefined(lot.expiresAt),
    reason: view.reason,
    actor: view.actor,
    createdAt: timestampFromDate(lot.createdAt),
    revokedAt: timestampOrUndefined(lot.endedAt),
    revokedBy: view.revokedBy,
    revokeReason: view.revokeReason,
  });
}
