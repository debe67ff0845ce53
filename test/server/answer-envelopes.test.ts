/**
 * The gRPC path's encoded answers (src/server/answer-envelopes.ts): a frozen
 * message is encoded once, anything else on every call, so an answer that
 * changed is never sent as it was.
 */
import { create, fromBinary } from '@bufbuild/protobuf';
import test from 'ava';
import { CheckEntitlementResponseSchema } from '../../gen/billing/v1/entitlements_pb.js';
import { AnswerEnvelopes } from '../../src/server/answer-envelopes.js';

const answer = (feature: string, allowed: boolean) =>
  create(CheckEntitlementResponseSchema, { entitlement: { feature, allowed } });

/** The message inside one envelope: flags byte, 4-byte length, then the message. */
function decoded(envelope: Buffer) {
  if (envelope.readUInt32BE(1) !== envelope.length - 5) throw new Error('bad envelope length');
  return fromBinary(CheckEntitlementResponseSchema, envelope.subarray(5));
}

test('a frozen answer is encoded once and the same bytes serve every call', (t) => {
  const envelopes = new AnswerEnvelopes();
  const message = Object.freeze(answer('seats', true));
  const first = envelopes.encode(CheckEntitlementResponseSchema, message);
  t.is(envelopes.encode(CheckEntitlementResponseSchema, message), first);
  t.is(first[0], 0, 'not compressed');
  t.like(decoded(first).entitlement, { feature: 'seats', allowed: true });
});

test('an answer that is not frozen is encoded afresh: a change shows in the next call', (t) => {
  const envelopes = new AnswerEnvelopes();
  const message = answer('seats', true);
  t.like(decoded(envelopes.encode(CheckEntitlementResponseSchema, message)).entitlement, {
    allowed: true,
  });
  if (message.entitlement) message.entitlement.allowed = false;
  t.like(decoded(envelopes.encode(CheckEntitlementResponseSchema, message)).entitlement, {
    allowed: false,
  });
});
