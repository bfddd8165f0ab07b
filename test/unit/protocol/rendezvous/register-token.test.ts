import { describe, expect, it } from 'vitest'
import { issueRegisterToken, verifyRegisterToken } from '../../../../protocol/rendezvous/register-token.js'

const secret = new Uint8Array(32).fill(7)
const subject = {
  infoHash: new Uint8Array(20).fill(1),
  peerId: new Uint8Array(20).fill(2),
  ip: '203.0.113.9',
}

describe('register token', () => {
  it('verifies for the peer, address and swarm it was issued to until it expires', () => {
    const t = issueRegisterToken(secret, subject, 1000)
    expect(verifyRegisterToken(secret, t, subject, 999)).toBe('ok')
    expect(verifyRegisterToken(secret, t, subject, 1000)).toBe('ok')
    expect(verifyRegisterToken(secret, t, subject, 1001)).toBe('expired')
  })

  it('is refused for another address, peer id, swarm or secret', () => {
    const t = issueRegisterToken(secret, subject, 1000)
    expect(verifyRegisterToken(secret, t, { ...subject, ip: '203.0.113.10' }, 0)).toBe('invalid')
    expect(verifyRegisterToken(secret, t, { ...subject, peerId: new Uint8Array(20).fill(3) }, 0)).toBe(
      'invalid',
    )
    expect(verifyRegisterToken(secret, t, { ...subject, infoHash: new Uint8Array(20) }, 0)).toBe('invalid')
    expect(verifyRegisterToken(new Uint8Array(32), t, subject, 0)).toBe('invalid')
  })

  it('cannot be extended by editing its expiry', () => {
    const t = issueRegisterToken(secret, subject, 1000)
    const forged = Uint8Array.from(t)
    forged[0] = 0xff
    expect(verifyRegisterToken(secret, forged, subject, 0)).toBe('invalid')
    expect(verifyRegisterToken(secret, t.subarray(0, 10), subject, 0)).toBe('invalid')
  })

  it('binds an IPv4-mapped IPv6 address to its IPv4 form', () => {
    const t = issueRegisterToken(secret, subject, 1000)
    expect(verifyRegisterToken(secret, t, { ...subject, ip: '::ffff:203.0.113.9' }, 0)).toBe('ok')
  })
})
