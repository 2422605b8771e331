import { describe, expect, it } from '@jest/globals';
import { checkEndpointUrl, isPrivateAddress } from './webhook-url.js';

describe('webhook endpoint URLs', () => {
  it('accepts https URLs on public names and addresses', () => {
    expect(checkEndpointUrl('https://hooks.example.com/creditgate', false).hostname).toBe('hooks.example.com');
    expect(checkEndpointUrl('https://93.184.216.34/hook', false).hostname).toBe('93.184.216.34');
  });

  it.each([
    ['http://hooks.example.com/x', 'https'],
    ['https://127.0.0.1/x', 'private'],
    ['https://10.1.2.3/x', 'private'],
    ['https://172.20.0.1/x', 'private'],
    ['https://192.168.1.1/x', 'private'],
    ['https://169.254.169.254/latest/meta-data', 'private'],
    ['https://[::1]/x', 'private'],
    ['https://[fd00::1]/x', 'private'],
    ['https://[::ffff:127.0.0.1]/x', 'private'],
    ['https://localhost/x', 'local host'],
    ['https://user:pw@hooks.example.com/x', 'credentials'],
    ['not a url', 'absolute'],
  ])('refuses %s', (url, why) => {
    expect(() => checkEndpointUrl(url, false)).toThrow(why);
  });

  it('accepts http and loopback only when loopback is allowed', () => {
    expect(checkEndpointUrl('http://127.0.0.1:8080/hook', true).port).toBe('8080');
    expect(() => checkEndpointUrl('ftp://127.0.0.1/hook', true)).toThrow('http or https');
  });

  it('classifies addresses', () => {
    expect(isPrivateAddress('8.8.8.8')).toBe(false);
    expect(isPrivateAddress('2606:4700:4700::1111')).toBe(false);
    expect(isPrivateAddress('100.64.0.1')).toBe(true);
    expect(isPrivateAddress('::ffff:10.0.0.1')).toBe(true);
    expect(isPrivateAddress('not-an-ip')).toBe(true);
  });
});
