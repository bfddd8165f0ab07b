import { describe, expect, it } from 'vitest'
import {
  classifyClientDatagram,
  classifyTrackerDatagram,
  RENDEZVOUS_MAGIC,
} from '../../../protocol/udp-framing.js'

const utpHeader = (type: number) => {
  const b = new Uint8Array(20)
  b[0] = (type << 4) | 1
  return b
}

describe('udp framing', () => {
  it('tells uTP packets of every type from rendezvous and BEP 15 on a client socket', () => {
    for (let t = 0; t <= 4; t++) expect(classifyClientDatagram(utpHeader(t))).toBe('utp')
    const rv = new Uint8Array(12)
    rv.set(RENDEZVOUS_MAGIC)
    expect(classifyClientDatagram(rv)).toBe('rendezvous')
    const bep15 = new Uint8Array(16) // action 0 = connect response
    expect(classifyClientDatagram(bep15)).toBe('bep15-response')
    expect(classifyClientDatagram(new TextEncoder().encode('d1:ad2:id20:'))).toBe('dht')
    expect(classifyClientDatagram(new Uint8Array(0))).toBe('unknown')
  })

  it('tells rendezvous messages from BEP 15 requests on the tracker port', () => {
    const rv = new Uint8Array(12)
    rv.set(RENDEZVOUS_MAGIC)
    expect(classifyTrackerDatagram(rv)).toBe('rendezvous')
    const connect = Buffer.from('0000041727101980000000000000002a', 'hex')
    expect(classifyTrackerDatagram(connect)).toBe('bep15-request')
    // A connection id with the top bit set was never issued by this tracker.
    const forged = new Uint8Array(16)
    forged[0] = 0x80
    expect(classifyTrackerDatagram(forged)).toBe('unknown')
  })
})
