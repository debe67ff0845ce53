/** Which endpoint URLs and resolved addresses outbound webhooks may use (SSRF guard). */
import test from 'ava';
import {
  endpointUrlRefusal,
  isPublicAddress,
  parseIpAddress,
} from '../../src/domain/webhook-addresses.js';

const none = new Set<string>();
const loopbackAllowed = new Set(['127.0.0.1', 'localhost', '[::1]']);

test('public HTTPS URLs are accepted', (t) => {
  t.is(endpointUrlRefusal('https://hooks.example.com/billing', none), undefined);
  t.is(endpointUrlRefusal('https://8.8.8.8/hook', none), undefined);
  t.is(endpointUrlRefusal('https://[2606:4700::1111]/hook', none), undefined);
  t.is(endpointUrlRefusal('https://hooks.example.com:8443/a?b=c', none), undefined);
});

test('plain http, credentials, fragments and non-URLs are refused', (t) => {
  t.regex(endpointUrlRefusal('http://hooks.example.com/', none) ?? '', /https/);
  t.regex(endpointUrlRefusal('ftp://hooks.example.com/', none) ?? '', /https/);
  t.regex(endpointUrlRefusal('https://user:pw@hooks.example.com/', none) ?? '', /credentials/);
  t.regex(endpointUrlRefusal('https://hooks.example.com/#x', none) ?? '', /fragment/);
  t.regex(endpointUrlRefusal('hooks.example.com/billing', none) ?? '', /not a URL/);
  t.regex(endpointUrlRefusal(`https://a.example.com/${'x'.repeat(2100)}`, none) ?? '', /2048/);
});

test('private, loopback and reserved literal addresses are refused in every spelling', (t) => {
  for (const url of [
    'https://127.0.0.1/',
    'https://127.1.2.3/',
    'https://10.0.0.8/',
    'https://172.16.0.1/',
    'https://172.31.255.255/',
    'https://192.168.1.1/',
    'https://169.254.169.254/latest/meta-data',
    'https://100.64.0.1/',
    'https://0.0.0.0/',
    'https://224.0.0.1/',
    'https://255.255.255.255/',
    // The URL parser turns these into 127.0.0.1 before the check sees them.
    'https://2130706433/',
    'https://0x7f000001/',
    'https://127.000.000.001/',
    'https://[::1]/',
    'https://[::]/',
    'https://[::ffff:127.0.0.1]/',
    'https://[::ffff:7f00:1]/',
    'https://[64:ff9b::a00:1]/',
    'https://[fd00::1]/',
    'https://[fe80::1]/',
    'https://[ff02::1]/',
  ]) {
    t.regex(endpointUrlRefusal(url, none) ?? 'accepted', /private|loopback|reserved/, url);
  }
});

test('loopback and internal names are refused', (t) => {
  t.regex(endpointUrlRefusal('https://localhost/', none) ?? '', /loopback/);
  t.regex(endpointUrlRefusal('https://api.localhost/', none) ?? '', /loopback/);
  t.regex(endpointUrlRefusal('https://intranet/', none) ?? '', /fully qualified/);
});

test('allow-listed hosts may be private and use plain http, only they', (t) => {
  t.is(endpointUrlRefusal('http://127.0.0.1:9999/hook', loopbackAllowed), undefined);
  t.is(endpointUrlRefusal('http://localhost:9999/hook', loopbackAllowed), undefined);
  t.is(endpointUrlRefusal('http://[::1]:9999/hook', loopbackAllowed), undefined);
  t.is(endpointUrlRefusal('http://LOCALHOST:9999/hook', loopbackAllowed), undefined);
  t.truthy(endpointUrlRefusal('http://10.0.0.1/hook', loopbackAllowed));
  t.truthy(endpointUrlRefusal('http://127.0.0.2/hook', loopbackAllowed));
  t.truthy(endpointUrlRefusal('http://hooks.example.com/', loopbackAllowed));
});

test('addresses parse as IPv4 and IPv6 text, and nothing else does', (t) => {
  t.deepEqual(parseIpAddress('192.0.2.1'), { v4: [192, 0, 2, 1] });
  t.deepEqual(parseIpAddress('2001:db8::1'), { v6: [0x2001, 0xdb8, 0, 0, 0, 0, 0, 1] });
  t.deepEqual(parseIpAddress('::ffff:10.1.2.3'), { v6: [0, 0, 0, 0, 0, 0xffff, 0x0a01, 0x0203] });
  t.deepEqual(parseIpAddress('1:2:3:4:5:6:7:8'), { v6: [1, 2, 3, 4, 5, 6, 7, 8] });
  for (const text of [
    '256.1.1.1',
    '1.2.3',
    '01.2.3.4',
    '1::2::3',
    '1:2:3:4:5:6:7:8:9',
    '1:2:3:4:5:6:7',
    '::12345',
    'example.com',
    '',
  ]) {
    t.is(parseIpAddress(text), undefined, text);
  }
});

test('public addresses are those outside every reserved range', (t) => {
  for (const address of ['8.8.8.8', '1.1.1.1', '172.32.0.1', '100.128.0.1', '2606:4700::1111']) {
    t.true(isPublicAddress(address), address);
  }
  for (const address of [
    '172.16.5.4',
    '192.0.2.10',
    '198.18.0.1',
    '203.0.113.7',
    '2001:db8::5',
    '2002:a00:1::',
    '::ffff:192.168.0.1',
    'not an address',
  ]) {
    t.false(isPublicAddress(address), address);
  }
});
