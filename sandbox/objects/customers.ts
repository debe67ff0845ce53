/** Customers: create, retrieve, update, list (`email`); a default test card per customer. */
import type Stripe from 'stripe';
import { invalid, noSuch } from '../api/errors.js';
import type { Params } from '../api/form.js';
import { LIST_PARAMS, listResponse } from '../api/paging.js';
import type { Account } from './account.js';
import { testCardNumber } from './cards.js';
import type { RequestContext } from './context.js';
import { makeCustomer } from './stripe-objects.js';

const CUSTOMER_PARAMS = [
  'email',
  'name',
  'description',
  'phone',
  'metadata',
  'expand',
  'address',
  'preferred_locales',
  'invoice_settings',
  'payment_method',
  'shipping',
  'tax_exempt',
  'test_clock',
] as const;

export function createCustomer({ account, params, now, emit }: RequestContext): Stripe.Customer {
  params.allow(CUSTOMER_PARAMS);
  const email = checkedEmail(params);
  const customer = makeCustomer({
    email: email ?? null,
    name: params.string('name') ?? null,
    description: params.string('description') ?? null,
    phone: params.string('phone') ?? null,
    metadata: params.metadata() ?? {},
    created: now,
  });
  account.customers.put(customer);
  const card = params.string('payment_method');
  if (card !== undefined) account.cards.set(customer.id, testCardNumber(card, 'payment_method'));
  emit(account, 'customer.created', customer);
  return customer;
}

export function updateCustomer({ account, params, id, emit }: RequestContext): Stripe.Customer {
  params.allow(CUSTOMER_PARAMS.filter((key) => key !== 'payment_method' && key !== 'test_clock'));
  const before = findCustomer(account, id, 'id', 404);
  const email = checkedEmail(params);
  const metadata = params.metadata();
  const after: Stripe.Customer = {
    ...before,
    email: email === undefined ? before.email : email,
    name: params.string('name') ?? before.name ?? null,
    description: params.string('description') ?? before.description,
    phone: params.string('phone') ?? before.phone ?? null,
    metadata: metadata === undefined ? before.metadata : { ...before.metadata, ...metadata },
  };
  const card = params.object('invoice_settings')?.string('default_payment_method');
  if (card !== undefined) {
    account.cards.set(id, testCardNumber(card, 'invoice_settings[default_payment_method]'));
  }
  account.customers.put(after);
  emit(account, 'customer.updated', after, { metadata: before.metadata });
  return after;
}

function checkedEmail(params: Params): string | undefined {
  const email = params.string('email');
  if (email !== undefined && email.length > 512) {
    throw invalid('Invalid email address: too long', 'email');
  }
  return email;
}

export function findCustomer(
  account: Account,
  id: string,
  param: string,
  status = 400,
): Stripe.Customer {
  const customer = account.customers.get(id);
  if (customer === undefined) throw noSuch('customer', id, param, status);
  return customer;
}

export function retrieveCustomer({ account, id }: RequestContext): Stripe.Customer {
  return findCustomer(account, id, 'id', 404);
}

export function listCustomers({
  account,
  params,
}: RequestContext): Stripe.ApiList<Stripe.Customer> {
  params.allow([...LIST_PARAMS, 'email', 'created', 'test_clock']);
  const email = params.string('email');
  return listResponse(
    account.customers,
    params,
    '/v1/customers',
    'customer',
    (customer) => email === undefined || customer.email === email,
  );
}
