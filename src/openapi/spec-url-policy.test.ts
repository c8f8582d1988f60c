import { describe, expect, it } from 'vitest';
import { specUrlEntryProblem } from '../config/spec-url-entries.js';
import { compileSpecUrlRules } from './spec-url-policy.js';
import { urlRefusal } from './guarded-fetch.js';

describe('spec URL rules: the default', () => {
  const rules = compileSpecUrlRules([]);

  it.each([
    ['127.0.0.1', 'loopback'],
    ['127.3.4.5', 'loopback'],
    ['::1', 'loopback'],
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:7f00:1', 'loopback'],
    ['0.0.0.0', 'unspecified'],
    ['::', 'unspecified'],
    ['169.254.169.254', 'link-local'],
    ['fe80::1', 'link-local'],
    ['10.1.2.3', 'private'],
    ['172.16.0.1', 'private'],
    ['192.168.1.1', 'private'],
    ['::ffff:192.168.1.1', 'private'],
    ['100.64.0.1', 'carrier-grade NAT'],
    ['fd00::1', 'unique-local'],
    ['fd00:ec2::254', 'unique-local'],
    ['224.0.0.1', 'multicast'],
    ['255.255.255.255', 'broadcast'],
    ['64:ff9b::a00:1', 'rfc6052'],
    ['2002:a00:1::', '6to4'],
  ])('refuses %s (%s)', (address, kind) => {
    expect(rules.addressRefusal(address)).toContain(kind);
  });

  it.each(['8.8.8.8', '1.1.1.1', '2606:4700:4700::1111', '::ffff:8.8.8.8'])('allows the public address %s', (address) => {
    expect(rules.addressRefusal(address)).toBeUndefined();
  });

  it('lists no name', () => {
    expect(rules.allowsName('localhost')).toBe(false);
  });

  it.each([
    'http://127.0.0.1/spec.json',
    'http://2130706433/spec.json', // decimal
    'http://0x7f.1/spec.json', // hex and short form
    'http://0177.0.0.1/spec.json', // octal
    'http://[::ffff:127.0.0.1]/spec.json',
    'http://[::]/spec.json',
    'http://0.0.0.0/spec.json',
    'http://169.254.169.254/latest/meta-data/',
    'http://[fd00::1]:8080/spec.json',
  ])('refuses the literal URL %s before any lookup', (url) => {
    expect(urlRefusal(new URL(url), rules)).toMatch(/address, which admin\.specUrls does not list/);
  });

  it('leaves a name to the lookup, and refuses other schemes', () => {
    expect(urlRefusal(new URL('https://api.example.com/openapi.json'), rules)).toBeUndefined();
    expect(urlRefusal(new URL('file:///etc/passwd'), rules)).toMatch(/only http\(s\)/);
  });
});

describe('spec URL rules: admin.specUrls entries', () => {
  const rules = compileSpecUrlRules(['specs.internal', '*.corp.example', '10.1.0.0/16', '127.0.0.1', 'fd00::/8', 'Upper.Example.']);

  it('allows listed names, and names below a wildcard but not the wildcard name itself', () => {
    expect(rules.allowsName('specs.internal')).toBe(true);
    expect(rules.allowsName('SPECS.internal.')).toBe(true);
    expect(rules.allowsName('upper.example')).toBe(true);
    expect(rules.allowsName('a.corp.example')).toBe(true);
    expect(rules.allowsName('a.b.corp.example')).toBe(true);
    expect(rules.allowsName('corp.example')).toBe(false);
    expect(rules.allowsName('evilcorp.example')).toBe(false);
    expect(rules.allowsName('specs.internal.evil.example')).toBe(false);
  });

  it('allows addresses in listed blocks, IPv4-mapped ones too, and nothing next to them', () => {
    expect(rules.addressRefusal('10.1.200.3')).toBeUndefined();
    expect(rules.addressRefusal('::ffff:10.1.200.3')).toBeUndefined();
    expect(rules.addressRefusal('127.0.0.1')).toBeUndefined();
    expect(rules.addressRefusal('fd12::1')).toBeUndefined();
    expect(rules.addressRefusal('10.2.0.1')).toContain('private');
    expect(rules.addressRefusal('127.0.0.2')).toContain('loopback');
    expect(rules.addressRefusal('169.254.169.254')).toContain('link-local');
  });

  it('judges an IP literal as an address, never as a listed name', () => {
    const named = compileSpecUrlRules(['localhost']);
    expect(named.allowsName('127.0.0.1')).toBe(false);
    expect(urlRefusal(new URL('http://127.0.0.1/'), named)).toContain('loopback');
    expect(urlRefusal(new URL('http://localhost/'), named)).toBeUndefined();
  });

  it.each([
    ['*', 'not a host name'],
    ['*internal*', 'not a host name'],
    ['a.*.example', 'not a host name'],
    ['10.0.0.0/33', 'not a CIDR block'],
    ['http://specs.internal', 'not a CIDR block'],
    ['0x7f.1', 'not an IP address in standard form'],
    ['2130706433', 'not an IP address in standard form'],
  ])('names the problem of the entry %j', (entry, problem) => {
    expect(specUrlEntryProblem(entry)).toContain(problem);
    expect(() => compileSpecUrlRules([entry])).toThrow(problem);
  });

  it.each(['specs.internal', '*.corp.example', '10.0.0.0/8', '::1', '[::1]', 'fd00::/8', '127.0.0.1'])('accepts %j', (entry) => {
    expect(specUrlEntryProblem(entry)).toBeUndefined();
  });
});
