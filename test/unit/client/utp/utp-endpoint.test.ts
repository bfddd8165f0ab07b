import { createHash, randomBytes } from 'node:crypto'
import { once } from 'node:events'
import type { Duplex } from 'node:stream'
import { afterEach, describe, expect, it } from 'vitest'
import { UdpSocket } from '../../../../client/udp-socket.js'
import { UtpEndpoint } from '../../../../client/utp/utp-endpoint.js'
import type { UtpStream } from '../../../../client/utp/utp-stream.js'
import { RENDEZVOUS_MAGIC } from '../../../../protocol/udp-framing.js'
import { decodePacket, encodePacket } from '../../../../protocol/utp/utp-packet.js'

const cleanups: (() => void)[] = []
afterEach(() => {
  for (const c of cleanups.splice(0).reverse()) c()
})

async function pair(options = {}) {
  const sa = await UdpSocket.open({ host: '127.0.0.1' })
  const sb = await UdpSocket.open({ host: '127.0.0.1' })
  const server = new UtpEndpoint(sa, options).listen()
  const client = new UtpEndpoint(sb, options)
  cleanups.push(() => {
    server.close()
    client.close()
    sa.close()
    sb.close()
  })
  return { sa, sb, server, client }
}

async function connectPair(options = {}) {
  const p = await pair(options)
  const accepted = once(p.server, 'connection') as Promise<[UtpStream]>
  const out = await p.client.connect(p.sa.address())
  const [inc] = await accepted
  return { ...p, out, inc }
}

function collect(s: Duplex): Promise<Buffer> {
  const parts: Buffer[] = []
  s.on('data', (d: Buffer) => parts.push(d))
  return new Promise((resolve, reject) => {
    s.on('end', () => resolve(Buffer.concat(parts)))
    s.on('error', reject)
  })
}

async function writeAll(s: Duplex, data: Uint8Array, chunk = 50_000) {
  for (let o = 0; o < data.length; o += chunk) {
    if (!s.write(data.subarray(o, o + chunk))) await once(s, 'drain')
  }
  s.end()
}

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex')

describe('uTP endpoint over real UDP sockets', () => {
  it('carries data both ways at once, byte-exact, and closes cleanly', async () => {
    const { out, inc } = await connectPair()
    const up = randomBytes(6 * 1024 * 1024 + 17)
    const down = randomBytes(3 * 1024 * 1024 + 5)
    const closed = Promise.all([once(out, 'close'), once(inc, 'close')])
    const gotUp = collect(inc)
    const gotDown = collect(out)
    await Promise.all([writeAll(out, up), writeAll(inc, down)])
    expect(sha(await gotUp)).toBe(sha(up))
    expect(sha(await gotDown)).toBe(sha(down))
    await closed
    expect(out.connection.state).toBe('closed')
    expect(inc.connection.state).toBe('closed')
  }, 30_000)

  it('stops the sender when the reader stops reading, then delivers everything once it reads', async () => {
    const { out, inc } = await connectPair({ recvWindow: 256 * 1024, sendBuffer: 64 * 1024 })
    inc.pause()
    const data = randomBytes(8 * 1024 * 1024)
    let written = 0
    const writer = (async () => {
      for (let o = 0; o < data.length; o += 16_384) {
        written = o
        if (!out.write(data.subarray(o, o + 16_384))) await once(out, 'drain')
      }
      out.end()
    })()
    await new Promise((r) => setTimeout(r, 500))
    // Window, stream buffers and send buffer bound what can be in transit; the rest waits.
    expect(written).toBeLessThan(2 * 1024 * 1024)
    const got = collect(inc)
    inc.resume()
    await writer
    expect(sha(await got)).toBe(sha(data))
  }, 30_000)

  it('ignores datagrams of the other protocols that share the socket', async () => {
    const { sb, sa, out, inc, server } = await connectPair()
    const noise = await UdpSocket.open({ host: '127.0.0.1' })
    cleanups.push(() => noise.close())
    const got = collect(inc)
    const rendezvous = new Uint8Array(64)
    rendezvous.set(RENDEZVOUS_MAGIC)
    for (let i = 0; i < 50; i++) {
      noise.send(rendezvous, sa.address())
      noise.send(
        new TextEncoder().encode('d1:ad2:id20:aaaaaaaaaaaaaaaaaaaae1:q4:ping1:t2:aa1:y1:qe'),
        sa.address(),
      )
      sb.send(Uint8Array.of(0, 0, 0, 1, 0, 0, 0, 0), sa.address())
    }
    const data = randomBytes(512 * 1024)
    await writeAll(out, data)
    expect(sha(await got)).toBe(sha(data))
    expect(server.stats.malformed).toBe(0)
    expect(server.stats.resetsSent).toBe(0)
  })

  it('answers a packet for an unknown connection with a RESET carrying its connection id', async () => {
    const { sa } = await pair()
    const probe = await UdpSocket.open({ host: '127.0.0.1' })
    cleanups.push(() => probe.close())
    const reply = once(probe, 'message') as Promise<[Uint8Array]>
    probe.send(
      encodePacket({
        type: 'data',
        connectionId: 4242,
        timestamp: 1,
        timestampDiff: 0,
        windowSize: 1000,
        seq: 7,
        ack: 3,
        payload: Uint8Array.of(1, 2, 3),
      }),
      sa.address(),
    )
    const [bytes] = await reply
    const p = decodePacket(bytes)
    expect(p).toMatchObject({ type: 'reset', connectionId: 4242, ack: 7 })
  })

  it('rejects a connect to an endpoint that is not listening with TRANSPORT_REFUSED', async () => {
    const { sb, client } = await pair()
    const other = await UdpSocket.open({ host: '127.0.0.1' })
    const closedEndpoint = new UtpEndpoint(other)
    cleanups.push(() => {
      closedEndpoint.close()
      other.close()
    })
    await expect(client.connect(other.address())).rejects.toMatchObject({ code: 'TRANSPORT_REFUSED' })
    expect(closedEndpoint.stats.refused).toBe(1)
    expect(sb.address().port).toBeGreaterThan(0)
  })

  it('gives up a connect nobody answers with TRANSPORT_TIMEOUT, and a connect can be aborted', async () => {
    const { client } = await pair({ connectTimeoutMs: 1500 })
    const silent = await UdpSocket.open({ host: '127.0.0.1' })
    cleanups.push(() => silent.close())
    const t0 = performance.now()
    await expect(client.connect(silent.address())).rejects.toMatchObject({ code: 'TRANSPORT_TIMEOUT' })
    expect(performance.now() - t0).toBeGreaterThanOrEqual(1400)
    const ac = new AbortController()
    const pending = client.connect(silent.address(), { signal: ac.signal })
    ac.abort()
    await expect(pending).rejects.toMatchObject({ name: 'AbortError' })
    expect(client.connectionCount).toBe(0)
  })

  it('a destroyed stream resets the peer, whose stream errors with TRANSPORT_RESET', async () => {
    const { out, inc } = await connectPair()
    const err = once(inc, 'error')
    out.destroy()
    const [e] = await err
    expect(e).toMatchObject({ code: 'TRANSPORT_RESET' })
  })
})
