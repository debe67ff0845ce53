/** Finding a customer by either of its ids (an operator pastes what support gave them). */
import { create } from '@bufbuild/protobuf';
import { timestampFromDate } from '@bufbuild/protobuf/wkt';
import {
  CustomerLinkSchema,
  FindCustomersResponseSchema,
} from '../../../gen/billing/v1/admin_pb.js';
import { requirePrincipal } from '../auth.js';
import { requireCustomerId } from '../validate.js';
import type { AdminRoutesDeps, CustomerHandlers } from './admin-routes-deps.js';

export function customerHandlers(deps: AdminRoutesDeps): CustomerHandlers {
  return {
    async findCustomers(req, context) {
      const principal = requirePrincipal(context);
      // A Stripe customer id is a valid customer id too: one rule for both.
      const query = requireCustomerId(req.query, 'query');
      const links = await deps.customers.find(principal.projectId, query);
      return create(FindCustomersResponseSchema, {
        customers: links.map((link) =>
          create(CustomerLinkSchema, {
            customerId: link.customer_id,
            stripeCustomerId: link.stripe_customer_id,
            linkedAt: timestampFromDate(link.created_at),
          }),
        ),
      });
    },
  };
}
