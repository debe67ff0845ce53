/**
 * The Stripe object builders live with the sandbox (`sandbox/objects/`),
 * which returns the same shapes; tests import them from here.
 */
export * from '../../sandbox/objects/stripe-objects.js';
