/** The local Stripe sandbox: `startSandbox()` and its control API (see sandbox.ts). */

export { parseDuration } from './billing/clock.js';
export { TEST_CARDS } from './objects/cards.js';
export { startSandbox } from './sandbox.js';
export {
  type FoundCustomer,
  type Sandbox,
  type SandboxCompleteOptions,
  type SandboxFailure,
  type SandboxOptions,
  type SandboxRequest,
  TRIGGER_TYPES,
  type TriggerType,
} from './sandbox-handle.js';
export type { DeliveryAttempt } from './webhooks/delivery.js';
