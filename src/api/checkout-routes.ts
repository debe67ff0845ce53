/** CheckoutService handlers: validate, authorize, call the checkout service. */
import { create } from '@bufbuild/protobuf';
import { timestampFromDate } from '@bufbuild/protobuf/wkt';
import type { ServiceImpl } from '@connectrpc/connect';
import {
  CheckoutMode,
  type CheckoutService,
  CreateCheckoutSessionResponseSchema,
  CreatePortalSessionResponseSchema,
} from '../../gen/billing/v1/checkout_pb.js';
import type { CheckoutSessionService } from '../services/checkout-session-service.js';
import { requirePrincipal } from './auth.js';
import { invalid, limits, optionalText, requireCustomerId, requireHttpUrl } from './validate.js';

/** What the handlers call (CheckoutSessionService satisfies it; tests pass a fake). */
export type CheckoutSessions = Pick<
  CheckoutSessionService,
  'createCheckoutSession' | 'createPortalSession'
>;

export interface CheckoutRoutesDeps {
  readonly checkout: CheckoutSessions;
}

const maxLineItems = 20;
const maxQuantity = 10_000;

export function checkoutHandlers(deps: CheckoutRoutesDeps): ServiceImpl<typeof CheckoutService> {
  return {
    async createCheckoutSession(req, context) {
      const principal = requirePrincipal(context);
      const customerId = requireCustomerId(req.customerId);
      const mode = checkoutMode(req.mode);
      if (req.lineItems.length === 0) throw invalid('line_items', 'at least one price is required');
      if (req.lineItems.length > maxLineItems)
        throw invalid('line_items', `at most ${maxLineItems} prices`);
      const lineItems = req.lineItems.map((item, index) => {
        if (!/^price_[A-Za-z0-9_]{1,200}$/.test(item.priceId)) {
          throw invalid(`line_items[${index}].price_id`, 'must be a Stripe price id (price_...)');
        }
        const quantity = item.quantity === 0n ? 1n : item.quantity;
        if (quantity < 1n || quantity > BigInt(maxQuantity)) {
          throw invalid(`line_items[${index}].quantity`, `must be between 1 and ${maxQuantity}`);
        }
        return { priceId: item.priceId, quantity: Number(quantity) };
      });
      const email = optionalText('customer_email', req.customerEmail, 254);
      if (email && !/^[^@\s]+@[^@\s]+$/.test(email))
        throw invalid('customer_email', 'must be an email address');
      const result = await deps.checkout.createCheckoutSession({
        projectId: principal.projectId,
        customerId,
        mode,
        lineItems,
        successUrl: requireHttpUrl('success_url', req.successUrl),
        cancelUrl: requireHttpUrl('cancel_url', req.cancelUrl),
        customerEmail: email || undefined,
        idempotencyKey:
          optionalText('idempotency_key', req.idempotencyKey, limits.idempotencyKey) || undefined,
      });
      return create(CreateCheckoutSessionResponseSchema, {
        sessionId: result.sessionId,
        url: result.url,
        stripeCustomerId: result.stripeCustomerId,
        expiresAt: timestampFromDate(result.expiresAt),
      });
    },

    async createPortalSession(req, context) {
      const principal = requirePrincipal(context);
      const result = await deps.checkout.createPortalSession(
        principal.projectId,
        requireCustomerId(req.customerId),
        requireHttpUrl('return_url', req.returnUrl),
        optionalText('idempotency_key', req.idempotencyKey, limits.idempotencyKey) || undefined,
      );
      return create(CreatePortalSessionResponseSchema, {
        sessionId: result.sessionId,
        url: result.url,
      });
    },
  };
}

function checkoutMode(mode: CheckoutMode): 'subscription' | 'payment' {
  if (mode === CheckoutMode.SUBSCRIPTION) return 'subscription';
  if (mode === CheckoutMode.PAYMENT) return 'payment';
  throw invalid('mode', 'must be CHECKOUT_MODE_SUBSCRIPTION or CHECKOUT_MODE_PAYMENT');
}
