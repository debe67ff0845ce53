/** The sealing of stored secrets: AES-256-GCM, a key id per value, bound to where it is stored. */
import { randomBytes } from 'node:crypto';
import test from 'ava';
import { isSecretOpenError, SecretBox, sealedKeyId } from '../../src/domain/secret-box.js';

const k1 = { id: 'k1', key: randomBytes(32) };
const k2 = { id: 'k2', key: randomBytes(32) };

test('a sealed value opens to the original and names the key that sealed it', (t) => {
  const box = new SecretBox([k1], randomBytes);
  const sealed = box.seal('sk_test_secret', 'projects:p1:stripe_secret_key');
  t.false(sealed.includes('sk_test_secret'));
  t.is(sealedKeyId(sealed), 'k1');
  t.is(box.openText(sealed, 'projects:p1:stripe_secret_key'), 'sk_test_secret');
  t.not(
    box.seal('sk_test_secret', 'projects:p1:stripe_secret_key'),
    sealed,
    'a fresh IV each time',
  );
});

test('the first key seals and every configured key opens (rotation)', (t) => {
  const old = new SecretBox([k1], randomBytes).seal('whsec_x', 'a');
  const rotated = new SecretBox([k2, k1], randomBytes);
  t.is(rotated.openText(old, 'a'), 'whsec_x');
  t.is(sealedKeyId(rotated.seal('whsec_x', 'a')), 'k2');
});

test('another place, a tampered value or an unknown key does not open', (t) => {
  const box = new SecretBox([k1], randomBytes);
  const sealed = box.seal('whsec_x', 'projects:p1:webhook_signing_secret');
  const refused = (fn: () => unknown) => t.true(isSecretOpenError(t.throws(fn)));
  refused(() => box.open(sealed, 'projects:p2:webhook_signing_secret'));
  const body = sealed.slice(sealed.lastIndexOf(':') + 1);
  const flipped = `${body.slice(0, 20)}${body[20] === 'A' ? 'B' : 'A'}${body.slice(21)}`;
  refused(() => box.open(sealed.replace(body, flipped), 'projects:p1:webhook_signing_secret'));
  refused(() =>
    new SecretBox([k2], randomBytes).open(sealed, 'projects:p1:webhook_signing_secret'),
  );
  refused(() => box.open('whsec_plain', 'x'));
});
