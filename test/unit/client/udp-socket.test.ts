import { createSocket } from 'node:dgram'
import { afterEach, describe, expect, it } from 'vitest'
import { nativeUdpBatch } from '../../../client/udp-batch/native-udp-batch.js'
import { UdpSocket } from '../../../client/udp-socket.js'
import type { UdpAddress } from '../../../protocol/datagram-socket.js'
import { until } from '../../helpers/until.js'

// The batched backend where it is built (batch-udp-io.test.ts says when it is missing).
describe.each([
  ...(nativeUdpBatch() ? [{ backend: 'batched addon', batched: true }] : []),
  { backend: 'node:dgram', batched: false },
])('UdpSocket message listeners ($backend)', ({ batched }) => {
  const open: UdpSocket[] = []
  afterEach(() => {
    for (const s of open.splice(0)) s.close()
  })

  async function pair() {
    const s = await UdpSocket.open({ host: '127.0.0.1', batched })
    open.push(s)
    expect(s.batched).toBe(batched)
    const sender = createSocket('udp4')
    const send = (text: string) =>
      new Promise<void>((r) => sender.send(text, s.address().port, '127.0.0.1', () => r()))
    return { s, send, close: () => sender.close() }
  }

  it('hands each datagram to every listener, once listeners, and stops after off', async () => {
    const { s, send, close } = await pair()
    const seen: string[] = []
    let from: UdpAddress | undefined
    const first = (b: Uint8Array, f: UdpAddress) => {
      seen.push(`first:${Buffer.from(b).toString()}`)
      from = f
    }
    const onceOnly = (b: Uint8Array) => seen.push(`once:${Buffer.from(b).toString()}`)
    // A listener that unsubscribes another while a datagram is being dispatched.
    const remover = (b: Uint8Array) => {
      seen.push(`remover:${Buffer.from(b).toString()}`)
      s.off('message', first)
    }
    s.on('message', first)
    s.once('message', onceOnly)
    s.on('message', remover)
    expect(s.listenerCount('message')).toBe(3)
    const got = (n: number) =>
      new Promise<void>((r) => {
        const check = () => (seen.length >= n ? r() : setTimeout(check, 5))
        check()
      })
    await send('one')
    await got(3)
    await send('two')
    await got(4)
    expect(seen).toEqual(['first:one', 'once:one', 'remover:one', 'remover:two'])
    expect(from).toMatchObject({ address: '127.0.0.1', family: 'IPv4' })
    expect(s.listenerCount('message')).toBe(1)
    s.off('message', remover)
    expect(s.listenerCount('message')).toBe(0)
    s.on('message', first)
    s.on('error', () => {})
    s.removeAllListeners('message')
    expect(s.listenerCount('message')).toBe(0)
    expect(s.listenerCount('error')).toBe(1)
    close()
  })

  it('still sends to host names through the resolver', async () => {
    const { s, close } = await pair()
    const other = await UdpSocket.open({ host: '127.0.0.1', batched })
    open.push(other)
    const arrived = new Promise<string>((r) => s.on('message', (b) => r(Buffer.from(b).toString())))
    other.send(Buffer.from('by name'), { address: 'localhost', port: s.address().port })
    expect(await arrived).toBe('by name')
    close()
  })

  it('runs what one datagram schedules (nextTick, promises) before the next is delivered', async () => {
    const { s, close } = await pair()
    const other = await UdpSocket.open({ host: '127.0.0.1', batched })
    open.push(other)
    const order: string[] = []
    s.on('message', (b) => {
      const n = b[0]
      order.push(`datagram ${n}`)
      process.nextTick(() => order.push(`tick ${n}`))
      void Promise.resolve().then(() => order.push(`promise ${n}`))
    })
    // Sent in one turn, so the batched socket reads them in one batch.
    for (let i = 0; i < 3; i++) other.send(Buffer.from([i]), { address: '127.0.0.1', port: s.address().port })
    await until(() => order.length === 9)
    expect(order).toEqual([0, 1, 2].flatMap((n) => [`datagram ${n}`, `tick ${n}`, `promise ${n}`]))
    close()
  })

  it('reports a datagram it cannot send as an error event and keeps sending', async () => {
    const { s, close } = await pair()
    const other = await UdpSocket.open({ host: '127.0.0.1', batched })
    open.push(other)
    const errors: string[] = []
    other.on('error', (err) => errors.push(err.message))
    const arrived = new Promise<string>((r) => s.on('message', (b) => r(Buffer.from(b).toString())))
    other.send(Buffer.from('x'), { address: '127.0.0.1', port: 0 })
    other.send(Buffer.from('after'), { address: '127.0.0.1', port: s.address().port })
    expect(await arrived).toBe('after')
    expect(errors).toHaveLength(1)
    close()
  })

  it('refuses a port that is taken with a TransportError', async () => {
    const { s, close } = await pair()
    await expect(
      UdpSocket.open({ host: '127.0.0.1', port: s.address().port, batched }),
    ).rejects.toMatchObject({ name: 'TransportError', code: 'TRANSPORT_SOCKET_ERROR' })
    close()
  })
})
