/**
 * Where outbound webhooks may go. A product's endpoint must be a public
 * HTTPS URL: an endpoint on a private or loopback address would let anyone
 * with an admin key make the service call into its own network (SSRF).
 * Hosts named in OUTBOUND_WEBHOOK_ALLOWED_HOSTS are exempt (they may also
 * use plain http): an operator's own receivers, and loopback in tests.
 *
 * The URL is checked when an endpoint is written; the addresses a name
 * resolves to are checked again at every delivery (webhook-sender.ts), so
 * a name that later resolves inward is refused too. Pure: the addresses
 * are parsed here, by hand, as the domain layer does not reach node:net.
 */

const maxUrlLength = 2048;

/** Why a URL is refused, for the caller; undefined: it may be used. */
export function endpointUrlRefusal(
  raw: string,
  allowedHosts: ReadonlySet<string>,
): string | undefined {
  if (raw.length > maxUrlLength) return `must be at most ${maxUrlLength} characters`;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return 'is not a URL';
  }
  if (url.username !== '' || url.password !== '') return 'must not carry credentials';
  if (url.hash !== '') return 'must not have a fragment';
  const host = url.hostname.toLowerCase();
  const allowed = isAllowedHost(host, allowedHosts);
  if (url.protocol !== 'https:' && !(allowed && url.protocol === 'http:')) {
    return 'must use https (http only for hosts in OUTBOUND_WEBHOOK_ALLOWED_HOSTS)';
  }
  if (allowed) return undefined;
  return hostRefusal(host);
}

/** Whether `host` (a URL's hostname, IPv6 in brackets) is named by the allow-list. */
export function isAllowedHost(host: string, allowedHosts: ReadonlySet<string>): boolean {
  return allowedHosts.has(host.toLowerCase());
}

function hostRefusal(host: string): string | undefined {
  const literal = host.startsWith('[') ? host.slice(1, -1) : host;
  const address = parseIpAddress(literal);
  if (address !== undefined) {
    return isPublicAddress(literal)
      ? undefined
      : 'is a private, loopback or reserved address (allow it in OUTBOUND_WEBHOOK_ALLOWED_HOSTS)';
  }
  if (host === 'localhost' || host.endsWith('.localhost')) {
    return 'is a loopback name (allow it in OUTBOUND_WEBHOOK_ALLOWED_HOSTS)';
  }
  // A single label resolves through the resolver's search domains: an internal name.
  if (!host.includes('.')) return 'must be a fully qualified host name';
  return undefined;
}

type ParsedAddress = { readonly v4: readonly number[] } | { readonly v6: readonly number[] };

/** IPv4 dotted quad or IPv6 text (no brackets); undefined: not an address. */
export function parseIpAddress(text: string): ParsedAddress | undefined {
  const v4 = parseIpv4(text);
  if (v4) return { v4 };
  const v6 = parseIpv6(text);
  return v6 ? { v6 } : undefined;
}

/**
 * True for an address on the public internet; false for loopback, private,
 * link-local, shared, documentation, multicast and other reserved ranges,
 * and for IPv6 forms that embed such an IPv4 address. Not an address: false.
 */
export function isPublicAddress(text: string): boolean {
  const parsed = parseIpAddress(text);
  if (parsed === undefined) return false;
  return 'v4' in parsed ? isPublicIpv4(parsed.v4) : isPublicIpv6(parsed.v6);
}

/** [first octets, prefix bits] of IPv4 ranges that are not public. */
const reservedIpv4: ReadonlyArray<readonly [readonly number[], number]> = [
  [[0], 8],
  [[10], 8],
  [[100, 64], 10],
  [[127], 8],
  [[169, 254], 16],
  [[172, 16], 12],
  [[192, 0, 0], 24],
  [[192, 0, 2], 24],
  [[192, 88, 99], 24],
  [[192, 168], 16],
  [[198, 18], 15],
  [[198, 51, 100], 24],
  [[203, 0, 113], 24],
  [[224], 4],
  [[240], 4],
];

function isPublicIpv4(octets: readonly number[]): boolean {
  const value = toBits(octets, 8);
  return !reservedIpv4.some(([start, bits]) =>
    inRange(value, toBits(padded(start, 4), 8), 32 - bits),
  );
}

/** [first 16-bit groups, prefix bits] of IPv6 ranges that are not public. */
const reservedIpv6: ReadonlyArray<readonly [readonly number[], number]> = [
  [[0x0100], 64], // discard
  [[0x2001, 0x0db8], 32], // documentation
  [[0x2001, 0x0000], 32], // Teredo (embeds any IPv4)
  [[0x2002], 16], // 6to4 (embeds any IPv4)
  [[0xfc00], 7], // unique local
  [[0xfe80], 10], // link-local
  [[0xfec0], 10], // site-local (deprecated)
  [[0xff00], 8], // multicast
];

function isPublicIpv6(groups: readonly number[]): boolean {
  const high = groups.slice(0, 6);
  // ::/96 (unspecified, loopback, IPv4-compatible), ::ffff:0:0/96 (IPv4-mapped),
  // 64:ff9b::/96 (NAT64): judged by the IPv4 address they carry.
  const carriesIpv4 =
    high.every((g) => g === 0) ||
    (high.slice(0, 5).every((g) => g === 0) && high[5] === 0xffff) ||
    (groups[0] === 0x64 && groups[1] === 0xff9b && groups.slice(2, 6).every((g) => g === 0));
  if (carriesIpv4) {
    const low = groups.slice(6);
    return isPublicIpv4(low.flatMap((g) => [g >> 8, g & 0xff]));
  }
  const value = toBits(groups, 16);
  return !reservedIpv6.some(([start, bits]) =>
    inRange(value, toBits(padded(start, 8), 16), 128 - bits),
  );
}

function parseIpv4(text: string): number[] | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  const octets: number[] = [];
  for (const part of parts) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(part)) return undefined;
    const value = Number(part);
    if (value > 255) return undefined;
    octets.push(value);
  }
  return octets;
}

function parseIpv6(text: string): number[] | undefined {
  if (!/^[0-9a-fA-F:.]+$/.test(text) || !text.includes(':')) return undefined;
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const head = groupsOf(halves[0] ?? '', halves.length === 1);
  const tail = halves.length === 2 ? groupsOf(halves[1] ?? '', true) : [];
  if (head === undefined || tail === undefined) return undefined;
  const missing = 8 - head.length - tail.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return undefined;
  return [...head, ...new Array<number>(halves.length === 1 ? 0 : missing).fill(0), ...tail];
}

/** The groups of one side of `::`; a dotted IPv4 address may end the last side. */
function groupsOf(side: string, mayEndInIpv4: boolean): number[] | undefined {
  if (side === '') return [];
  const parts = side.split(':');
  const groups: number[] = [];
  for (const [index, part] of parts.entries()) {
    if (index === parts.length - 1 && mayEndInIpv4 && part.includes('.')) {
      const octets = parseIpv4(part);
      if (octets === undefined) return undefined;
      groups.push(
        ((octets[0] ?? 0) << 8) | (octets[1] ?? 0),
        ((octets[2] ?? 0) << 8) | (octets[3] ?? 0),
      );
      continue;
    }
    if (!/^[0-9a-fA-F]{1,4}$/.test(part)) return undefined;
    groups.push(Number.parseInt(part, 16));
  }
  return groups;
}

function padded(start: readonly number[], length: number): number[] {
  return [...start, ...new Array<number>(length - start.length).fill(0)];
}

function toBits(parts: readonly number[], width: number): bigint {
  return parts.reduce((value, part) => (value << BigInt(width)) | BigInt(part), 0n);
}

/** Whether `value` and `start` agree on every bit above the lowest `hostBits`. */
function inRange(value: bigint, start: bigint, hostBits: number): boolean {
  const shift = BigInt(hostBits);
  return value >> shift === start >> shift;
}
