/**
 * Encoded answers of messages that cannot change. A handler that returns the
 * same frozen message call after call (the warm check's memoized answer,
 * src/api/entitlements-routes.ts) has it encoded once, not on every call:
 * the encoding was about 8% of a warm check's CPU. Keyed weakly by the
 * message, so the bytes go when the message does. A message that is not
 * frozen may change between calls, and is encoded every time.
 */
import { type DescMessage, type Message, toBinary } from '@bufbuild/protobuf';
import { encodeEnvelope } from './envelopes.js';

export class AnswerEnvelopes {
  private readonly byMessage = new WeakMap<Message, Buffer>();

  /** The enveloped encoding of `message`; never written to, so one Buffer serves every call. */
  encode(schema: DescMessage, message: Message): Buffer {
    if (!Object.isFrozen(message)) return encodeEnvelope(toBinary(schema, message));
    let envelope = this.byMessage.get(message);
    if (envelope === undefined) {
      envelope = encodeEnvelope(toBinary(schema, message));
      this.byMessage.set(message, envelope);
    }
    return envelope;
  }
}
