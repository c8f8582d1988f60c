import { describe, expect, it } from 'vitest';
import { originAllowList } from '../config/origins.js';
import { hostRefusal, originRefusal, type OwnOrigin } from './host-check.js';

const none = originAllowList([]);
const loopbackBind: OwnOrigin = { publicOrigin: undefined, hostChecked: true };

describe('originRefusal compares whole origins', () => {
  it("accepts no Origin and the gateway's own origin, over http or https", () => {
    expect(originRefusal(undefined, 'localhost:8080', loopbackBind, none)).toBeUndefined();
    expect(originRefusal('http://localhost:8080', 'localhost:8080', loopbackBind, none)).toBeUndefined();
    expect(originRefusal('https://gw.example', 'gw.example', loopbackBind, none)).toBeUndefined();
    expect(originRefusal('https://gw.example', '10.0.0.5:8080', { publicOrigin: 'https://gw.example', hostChecked: false }, none)).toBeUndefined();
  });

  it.each(['http://localhost:3000', 'http://127.0.0.1:8080', 'http://evil.example', 'null', 'file:///x.html', '::::'])('refuses %s against Host localhost:8080', (origin) => {
    expect(originRefusal(origin, 'localhost:8080', loopbackBind, none)).toMatch(/^Invalid Origin/);
  });

  it('trusts the Host as the own origin only when the Host was checked (a rebound name sends its own name in both)', () => {
    expect(originRefusal('http://evil.example:8080', 'evil.example:8080', { publicOrigin: undefined, hostChecked: false }, none)).toBe('Invalid Origin: http://evil.example:8080');
  });

  it('server.allowedOrigins: a full origin allows exactly it; a bare host name any scheme and port', () => {
    const allowed = originAllowList(['http://localhost:6274', 'app.example']);
    expect(originRefusal('http://localhost:6274', 'localhost:8080', loopbackBind, allowed)).toBeUndefined();
    expect(originRefusal('http://localhost:6275', 'localhost:8080', loopbackBind, allowed)).toBe('Invalid Origin: http://localhost:6275');
    expect(originRefusal('https://app.example:9443', 'localhost:8080', loopbackBind, allowed)).toBeUndefined();
  });

  it('names the bad server.allowedOrigins entry', () => {
    expect(() => originAllowList(['http://ok.example', 'http://[bad'])).toThrow('server.allowedOrigins[1]: "http://[bad" is not an origin');
    expect(() => originAllowList(['a b'])).toThrow('server.allowedOrigins[0]');
  });
});

describe('hostRefusal', () => {
  it('gives a Host the same answer every time it is seen (host names are remembered once parsed)', () => {
    const allowed = new Set(['localhost', '127.0.0.1', '[::1]']);
    const hosts = ['localhost:8080', 'evil.example:8080', '[::1]:3000', 'a b', 'LOCALHOST', '127.0.0.1'];
    const first = hosts.map((h) => hostRefusal(h, allowed));
    expect(first).toEqual([undefined, 'Invalid Host: evil.example', undefined, 'Invalid Host header: a b', undefined, undefined]);
    expect(hosts.map((h) => hostRefusal(h, allowed))).toEqual(first);
    expect(hostRefusal('localhost:8080', new Set(['example.com']))).toBe('Invalid Host: localhost');
  });
});
