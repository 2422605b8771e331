import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { BlockList, isIP } from 'node:net';
import { WebhookError, WebhookErrorCode } from './webhooks.errors.js';

/** Addresses a webhook may never reach (SSRF): loopback, private, link-local, shared, multicast, reserved. */
const PRIVATE = new BlockList();
for (const [network, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.0.2.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['198.51.100.0', 24],
  ['203.0.113.0', 24],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const) {
  PRIVATE.addSubnet(network, prefix, 'ipv4');
}
for (const [network, prefix] of [
  ['::', 128],
  ['::1', 128],
  ['64:ff9b::', 96],
  ['100::', 64],
  ['2001:db8::', 32],
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
] as const) {
  PRIVATE.addSubnet(network, prefix, 'ipv6');
}

/** True for an address a webhook must not be sent to (IPv4-mapped IPv6 is judged as the IPv4 it maps). */
export function isPrivateAddress(address: string): boolean {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1];
  if (mapped !== undefined) return isPrivateAddress(mapped);
  const family = isIP(address);
  if (family === 0) return true; // not an address at all: refuse rather than guess
  return PRIVATE.check(address, family === 4 ? 'ipv4' : 'ipv6');
}

const MAX_URL_LENGTH = 2048;

/**
 * Checks an endpoint URL when it is registered: https, no credentials, and not a literal private
 * address or a localhost name. Names are checked again, by their resolved addresses, at every delivery
 * (see `guardedLookup`), since DNS can change after registration. With `allowLoopback` (development,
 * tests) http and private addresses are accepted.
 */
export function checkEndpointUrl(raw: string, allowLoopback: boolean): URL {
  const refuse = (why: string) => new WebhookError(WebhookErrorCode.InvalidUrl, `The webhook URL ${why}.`);
  if (raw.length > MAX_URL_LENGTH) throw refuse(`is longer than ${MAX_URL_LENGTH} characters`);
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw refuse('is not an absolute URL');
  }
  if (url.username !== '' || url.password !== '') throw refuse('must not carry credentials');
  if (url.hash !== '') throw refuse('must not have a fragment');
  if (allowLoopback) {
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw refuse('must be http or https');
    return url;
  }
  if (url.protocol !== 'https:') throw refuse('must use https');
  const host = url.hostname.replace(/^\[|\]$/g, '').toLowerCase();
  if (host === 'localhost' || host.endsWith('.localhost') || host.endsWith('.local') || host.endsWith('.internal'))
    throw refuse('must not name a local host');
  if (isIP(host) !== 0 && isPrivateAddress(host)) throw refuse('must not point at a private, loopback or reserved address');
  return url;
}

type LookupCallback = (error: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/**
 * A `lookup` for http.request that resolves the name and refuses the connection when any address is
 * private: the check happens on the very addresses the socket will use, so DNS rebinding cannot slip
 * through between a check and the connect.
 */
export function guardedLookup(allowLoopback: boolean) {
  return (hostname: string, options: { all?: boolean; family?: number | string }, callback: LookupCallback): void => {
    dnsLookup(hostname, { all: true, family: options.family === undefined ? 0 : Number(options.family) || 0 }, (error, addresses) => {
      if (error) return callback(error, []);
      const list = addresses;
      if (!allowLoopback && list.some((entry) => isPrivateAddress(entry.address))) {
        const refused: NodeJS.ErrnoException = new Error(`${hostname} resolves to a private address`);
        refused.code = 'EPRIVATEADDRESS';
        return callback(refused, []);
      }
      if (options.all) return callback(null, list);
      const first = list[0];
      if (first === undefined) return callback(new Error(`${hostname} has no address`), []);
      return callback(null, first.address, first.family);
    });
  };
}
