import { isIPv6 } from 'node:net'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { DecodeError } from '../../../protocol/errors.js'
import { bytesToIp, ipFamily, ipToBytes } from '../../../protocol/ip-address.js'

describe('ip address bytes', () => {
  it('round-trips IPv4', () => {
    fc.assert(
      fc.property(fc.ipV4(), (ip) => {
        expect(bytesToIp(ipToBytes(ip))).toBe(ip)
      }),
    )
  })

  it('round-trips IPv6 bytes and prints valid compressed text', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), (b) => {
        const text = bytesToIp(b)
        expect(isIPv6(text)).toBe(true)
        expect(ipToBytes(text)).toEqual(b)
      }),
    )
  })

  it('reads the forms people write', () => {
    expect(bytesToIp(ipToBytes('::1'))).toBe('::1')
    expect(bytesToIp(ipToBytes('2001:db8::8:800:200c:417a'))).toBe('2001:db8::8:800:200c:417a')
    expect(bytesToIp(ipToBytes('::ffff:198.18.0.1'))).toBe('198.18.0.1')
    expect(ipToBytes('64:ff9b::198.18.0.1')).toHaveLength(16)
    expect(ipFamily('::ffff:198.18.0.1')).toBe('IPv4')
    expect(ipFamily('fe80::1')).toBe('IPv6')
  })

  it('refuses what is not an address', () => {
    for (const bad of ['', 'example.org', '1.2.3', '1.2.3.256', ':::']) {
      expect(() => ipToBytes(bad)).toThrow(DecodeError)
    }
  })
})
