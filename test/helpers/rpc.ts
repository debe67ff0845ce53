/** Small helpers for asserting on RPC outcomes. */
import { type Code, ConnectError } from '@connectrpc/connect';

/** The status code a call ends with, or 'ok'. */
export async function codeOf(call: Promise<unknown>): Promise<Code | 'ok'> {
  try {
    await call;
    return 'ok';
  } catch (err) {
    return ConnectError.from(err).code;
  }
}
