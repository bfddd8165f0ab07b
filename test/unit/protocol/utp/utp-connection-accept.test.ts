import { describe, expect, it } from 'vitest'
import { UtpConnection } from '../../../../protocol/utp/utp-connection.js'
import type { UtpConnectionHost } from '../../../../protocol/utp/utp-connection-types.js'
import { decodePacket } from '../../../../protocol/utp/utp-packet.js'

/** A host whose clock the test moves and whose sent packets the test delivers (or drops) by hand. */
function host(clock: { now: number }) {
  const sent: Uint8Array[] = []
  const received: Uint8Array[] = []
  let flushPending = false
  const h: UtpConnectionHost = {
    now: () => clock.now,
    send: (p) => sent.push(p),
    requestFlush: () => {
      flushPending = true
    },
    onConnect: () => {},
    onData: (chunk) => received.push(chunk.slice()),
    onEnd: () => {},
    onDrain: () => {},
    onFinish: () => {},
    onClose: () => {},
    readBacklog: () => 0,
  }
  const takeFlush = () => {
    const was = flushPending
    flushPending = false
    return was
  }
  return { h, sent, received, takeFlush }
}

describe('uTP acceptor writing before the initiator speaks', () => {
  it('loses no bytes when its first packet is lost and later ones overtake it', () => {
    const clock = { now: 0 }
    const a = host(clock)
    const b = host(clock)
    const dialler = UtpConnection.connect(a.h, 100, 5000)
    const syn = decodePacket(a.sent.shift()!)
    const acceptor = UtpConnection.accept(b.h, syn, 40_000)
    // The acceptor has something to say at once (say, a greeting of several packets).
    const greeting = new Uint8Array(10_000).map((_, i) => i % 251)
    acceptor.write(greeting)
    acceptor.flush()
    // Its first packet is lost on the way.
    expect(b.sent.length).toBeGreaterThan(0)
    b.sent.shift()
    const pump = () => {
      for (let round = 0; round < 200; round++) {
        let moved = false
        for (const p of b.sent.splice(0)) {
          dialler.onPacket(decodePacket(p))
          moved = true
        }
        if (a.takeFlush()) dialler.flush()
        for (const p of a.sent.splice(0)) {
          acceptor.onPacket(decodePacket(p))
          moved = true
        }
        if (b.takeFlush()) acceptor.flush()
        if (!moved) {
          const due = [dialler.nextDeadline(), acceptor.nextDeadline()].filter((d) => d !== undefined)
          if (due.length === 0) return
          clock.now = Math.max(clock.now, Math.min(...(due as number[])))
          dialler.onTimer()
          acceptor.onTimer()
          dialler.flush()
          acceptor.flush()
        }
        if (a.received.reduce((n, c) => n + c.length, 0) >= greeting.length) return
      }
    }
    pump()
    const got = Buffer.concat(a.received)
    expect(got.length).toBe(greeting.length)
    expect(got.equals(Buffer.from(greeting))).toBe(true)
    expect(dialler.state).toBe('connected')
  })

  it('sends freely once the initiator has answered', () => {
    const clock = { now: 0 }
    const a = host(clock)
    const b = host(clock)
    const dialler = UtpConnection.connect(a.h, 200, 7)
    const acceptor = UtpConnection.accept(b.h, decodePacket(a.sent.shift()!), 9)
    acceptor.flush()
    for (const p of b.sent.splice(0)) dialler.onPacket(decodePacket(p))
    dialler.write(new Uint8Array(100))
    dialler.flush()
    for (const p of a.sent.splice(0)) acceptor.onPacket(decodePacket(p))
    acceptor.write(new Uint8Array(10_000))
    acceptor.flush()
    const data = b.sent.map(decodePacket).filter((p) => p.type === 'data')
    expect(data.length).toBeGreaterThan(1)
  })
})
