import { EventEmitter } from 'node:events'
import { describe, expect, it } from 'vitest'
import { DEFAULT_TTL, PunchRunner } from '../../../../client/rendezvous/punch-runner.js'
import type {
  DatagramSocket,
  DatagramSocketEvents,
  UdpAddress,
} from '../../../../protocol/datagram-socket.js'
import { decodeRendezvous } from '../../../../protocol/rendezvous/rendezvous-codec.js'
import { manualClock } from '../../../helpers/tracker-fixture.js'
import { xorshiftRandom } from '../../../helpers/xorshift-random.js'

/** A socket that records the IP TTL each datagram would leave with. */
class TtlRecordingSocket extends EventEmitter<DatagramSocketEvents> implements DatagramSocket {
  ttl = DEFAULT_TTL
  readonly sent: { ack: boolean; ttl: number }[] = []
  send(bytes: Uint8Array): void {
    const m = decodeRendezvous(bytes)
    if (m.type === 'punch') this.sent.push({ ack: m.ack, ttl: this.ttl })
  }
  setTTL(ttl: number): void {
    this.ttl = ttl
  }
  address(): UdpAddress {
    return { address: '198.19.1.2', port: 6881, family: 'IPv4' }
  }
  close(): void {}
}

describe('PunchRunner', () => {
  it('answers a probe at the default TTL even while the low TTL of its own first round is still set', () => {
    // The manual clock never fires the timer that restores the TTL: the answer comes "right after"
    // the low-TTL round, as it does when the peer's probe arrives within a millisecond.
    const socket = new TtlRecordingSocket()
    const runner = new PunchRunner({}, { socket, clock: manualClock(), random: xorshiftRandom(1) })
    const nonce = new Uint8Array(8).fill(3)
    const self = new Uint8Array(20).fill(1)
    const peer = new Uint8Array(20).fill(2)
    const peerEndpoint: UdpAddress = { address: '198.18.2.2', port: 40000, family: 'IPv4' }
    runner
      .run(
        {
          nonce,
          selfPeerId: self,
          peerPeerId: peer,
          selfNat: 'cone',
          peerNat: 'cone',
          peerEndpoint,
          samePublicAddress: false,
          punchDelayMs: 0,
        },
        { infoHash: new Uint8Array(20), role: 'target' },
      )
      .catch(() => {})
    expect(socket.sent).toEqual([{ ack: false, ttl: 2 }])
    runner.onPunch({ type: 'punch', txid: 9, ack: false, nonce, peerId: peer }, peerEndpoint, socket)
    expect(socket.sent.at(-1)).toEqual({ ack: true, ttl: DEFAULT_TTL })
    runner.stop()
  })
})
