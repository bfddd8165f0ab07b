import bencode from 'bencode'
import pino from 'pino'
import { afterEach, describe, expect, it } from 'vitest'
import type { UdpAddress } from '../../../../protocol/datagram-socket.js'
import { TrackerError } from '../../../../protocol/errors.js'
import {
  CONNECT_URL_MIN_BYTES,
  type ConnectQuery,
  connectUrl,
  decodeConnectAnswer,
} from '../../../../protocol/rendezvous/connect-query.js'
import { decodeRendezvous, encodeRendezvous } from '../../../../protocol/rendezvous/rendezvous-codec.js'
import { percentEncodeBytes } from '../../../../protocol/tracker/query-bytes.js'
import { buildTracker } from '../../../../tracker/build-tracker.js'
import { RendezvousService } from '../../../../tracker/rendezvous/rendezvous-service.js'
import { TrackerStats } from '../../../../tracker/stats/tracker-stats.js'
import { MemorySwarmStore } from '../../../../tracker/store/memory-swarm-store.js'
import { announceUrl, manualClock } from '../../../helpers/tracker-fixture.js'
import { xorshiftRandom } from '../../../helpers/xorshift-random.js'

const apps: { close(): Promise<unknown> }[] = []
afterEach(async () => {
  for (const a of apps.splice(0)) await a.close()
})

const swarm = new Uint8Array(20).fill(0x61)
const other = new Uint8Array(20).fill(0x62)
const id = (c: string) => new Uint8Array(20).fill(c.charCodeAt(0))
const R = {
  id: id('r'),
  ip: '198.18.0.1',
  udp: { address: '198.18.0.1', port: 41000, family: 'IPv4' } as UdpAddress,
}
const G = {
  id: id('g'),
  ip: '198.18.0.2',
  udp: { address: '198.18.0.2', port: 42000, family: 'IPv4' } as UdpAddress,
}

async function setup(options: { connectRatePerSecond?: number } = {}) {
  const clock = manualClock()
  const random = xorshiftRandom(7)
  const store = new MemorySwarmStore({ random })
  const stats = new TrackerStats({ clock })
  const logger = pino({ level: 'silent' })
  const rendezvous = new RendezvousService(
    {
      secret: new Uint8Array(32).fill(1),
      host: '127.0.0.1',
      connectRatePerSecond: options.connectRatePerSecond,
    },
    { clock, random, store, stats },
  )
  const datagrams: { bytes: Uint8Array; to: UdpAddress }[] = []
  await rendezvous.start((bytes, to) => datagrams.push({ bytes, to }))
  const app = buildTracker({ udpPort: 6969 }, { store, clock, random, stats, logger, rendezvous })
  apps.push(app, { close: () => rendezvous.stop() })

  /** Announces with punchswarm=1 and returns the token; then (unless told not to) registers the UDP endpoint. */
  const join = async (p: typeof R, infoHash = swarm, opts: { register?: boolean; lan?: UdpAddress } = {}) => {
    const res = await app.inject({
      method: 'GET',
      url: `${announceUrl({ infoHash, peerId: p.id, event: 'started' })}&punchswarm=1`,
      remoteAddress: p.ip,
    })
    const token = (bencode.decode(res.rawPayload) as { punchswarm: { token: Uint8Array } }).punchswarm.token
    if (opts.register !== false) {
      rendezvous.handle(
        encodeRendezvous({
          type: 'register',
          txid: 1,
          infoHash,
          peerId: p.id,
          token,
          lan: opts.lan,
          natClass: 'cone',
          rttMs: 60,
        }),
        p.udp,
      )
    }
    datagrams.length = 0
    return token
  }
  const connect = async (q: ConnectQuery, ip: string, pad = true) => {
    const url = pad
      ? connectUrl('http://tracker.test/announce', q).slice('http://tracker.test'.length)
      : `/connect?info_hash=${percentEncodeBytes(q.infoHash)}&peer_id=${percentEncodeBytes(q.peerId)}` +
        `&token=${percentEncodeBytes(q.token)}&target=${percentEncodeBytes(q.targetPeerId)}`
    const res = await app.inject({ method: 'GET', url, remoteAddress: ip })
    expect(res.statusCode).toBe(200)
    return res.rawPayload
  }
  const refusal = (body: Uint8Array) => {
    try {
      decodeConnectAnswer(body)
    } catch (err) {
      if (err instanceof TrackerError) return { code: err.cause, reason: err.message }
      throw err
    }
    throw new Error('the connect-request was not refused')
  }
  return { app, clock, rendezvous, datagrams, join, connect, refusal }
}

describe('GET /connect', () => {
  it('pushes to the target registered UDP endpoint and answers with its endpoint, class, delay and nonce', async () => {
    const { join, connect, datagrams } = await setup()
    const tokR = await join(R)
    await join(G)
    const answer = decodeConnectAnswer(
      await connect({ infoHash: swarm, peerId: R.id, token: tokR, targetPeerId: G.id }, R.ip),
    )
    expect(answer).toMatchObject({
      target: { address: G.udp.address, port: G.udp.port },
      targetNatClass: 'cone',
      punchDelayMs: 0,
    })
    expect(datagrams).toHaveLength(1)
    expect(datagrams[0]!.to).toEqual(G.udp)
    const push = decodeRendezvous(datagrams[0]!.bytes)
    // G learns R's registered UDP endpoint (what it must punch to), and both hold one nonce.
    expect(push).toMatchObject({
      type: 'connectPush',
      requesterPeerId: R.id,
      requester: { address: R.udp.address, port: R.udp.port },
      requesterNatClass: 'cone',
      nonce: answer.nonce,
    })
  })

  it('refuses tokens of another peer, address or swarm, forged and expired ones, with badToken', async () => {
    const { join, connect, refusal, datagrams, clock } = await setup()
    const tokR = await join(R)
    const tokG = await join(G)
    const tokOther = await join(R, other)
    const ask = (token: Uint8Array, ip = R.ip, infoHash = swarm) =>
      connect({ infoHash, peerId: R.id, token, targetPeerId: G.id }, ip).then(refusal)
    expect(await ask(tokG)).toMatchObject({ code: 'badToken' })
    expect(await ask(tokR, '198.18.0.99')).toMatchObject({ code: 'badToken' })
    expect(await ask(tokOther)).toMatchObject({ code: 'badToken' })
    expect(await ask(new Uint8Array(20).fill(3))).toMatchObject({ code: 'badToken', reason: 'invalid token' })
    clock.advance(10 * 3600 * 1000)
    expect(await ask(tokR)).toMatchObject({ code: 'badToken', reason: 'token expired: announce again' })
    expect(datagrams).toHaveLength(0)
  })

  it('refuses a target outside the swarm and a requester without a registered endpoint', async () => {
    const { join, connect, refusal, datagrams } = await setup()
    const tokR = await join(R)
    await join(G, other)
    expect(
      refusal(await connect({ infoHash: swarm, peerId: R.id, token: tokR, targetPeerId: G.id }, R.ip)),
    ).toMatchObject({
      code: 'notRegistered',
      reason: 'target is not registered in this swarm',
    })
    // A requester that announced but never registered a UDP endpoint has nothing for the target to punch to.
    await join(G)
    const C = { id: id('c'), ip: '198.18.0.3', udp: { address: '198.18.0.3', port: 43000 } }
    const tokC = await join(C, swarm, { register: false })
    const res = await connect({ infoHash: swarm, peerId: C.id, token: tokC, targetPeerId: G.id }, C.ip)
    expect(refusal(res)).toMatchObject({
      code: 'notRegistered',
      reason: 'requester is not registered: register your UDP endpoint first',
    })
    expect(datagrams).toHaveLength(0)
  })

  it('rate-limits connect-requests per requester and per target, shared with the UDP path', async () => {
    const { join, connect, refusal, clock, rendezvous, datagrams } = await setup({ connectRatePerSecond: 2 })
    const tokR = await join(R)
    await join(G)
    const q = { infoHash: swarm, peerId: R.id, token: tokR, targetPeerId: G.id }
    const codes: unknown[] = []
    for (let i = 0; i < 8; i++) {
      const body = await connect(q, R.ip)
      codes.push(
        (bencode.decode(body) as Record<string, unknown>)['failure code'] ? refusal(body).code : 'relayed',
      )
    }
    expect(codes.slice(0, 4)).toEqual(['relayed', 'relayed', 'relayed', 'relayed'])
    expect(codes.slice(4)).toEqual(['rateLimited', 'rateLimited', 'rateLimited', 'rateLimited'])
    // The UDP path draws on the same buckets.
    rendezvous.handle(
      encodeRendezvous({ type: 'connectRequest', txid: 9, ...q, natClass: 'cone', rttMs: 60 }),
      R.udp,
    )
    expect(datagrams.map((d) => decodeRendezvous(d.bytes)).at(-1)).toMatchObject({
      type: 'error',
      code: 'rateLimited',
    })
    clock.advance(5000)
    expect(decodeConnectAnswer(await connect(q, R.ip)).nonce).toHaveLength(8)
  })

  it('refuses an unpadded request whose pushes would outweigh it; the padded URL goes through', async () => {
    const { join, connect, refusal, datagrams } = await setup()
    // IPv6 endpoints make the largest push: three of them outweigh a bare request.
    const R6 = {
      id: id('r'),
      ip: '2001:db8::1',
      udp: { address: '2001:db8::1', port: 41000, family: 'IPv6' } as UdpAddress,
    }
    const tokR = await join(R6, swarm, { lan: { address: 'fd00::1', port: 41000, family: 'IPv6' } })
    await join(G)
    const q = { infoHash: swarm, peerId: R6.id, token: tokR, targetPeerId: G.id }
    expect(refusal(await connect(q, R6.ip, false))).toMatchObject({ code: 'tooSmall' })
    expect(datagrams).toHaveLength(0)
    expect(connectUrl('http://t/announce', q).length - 'http://t'.length).toBeGreaterThanOrEqual(
      CONNECT_URL_MIN_BYTES,
    )
    expect(decodeConnectAnswer(await connect(q, R6.ip)).target.port).toBe(G.udp.port)
    expect(datagrams).toHaveLength(1)
  })

  it('answers bad queries and trackers without a relay with a bencoded failure reason', async () => {
    const { app } = await setup()
    const bad = await app.inject({ method: 'GET', url: '/connect?info_hash=abc', remoteAddress: R.ip })
    expect(
      Buffer.from(
        (bencode.decode(bad.rawPayload) as Record<string, Uint8Array>)['failure reason']!,
      ).toString(),
    ).toMatch(/info_hash/)
    const plain = buildTracker(
      {},
      {
        store: new MemorySwarmStore({ random: xorshiftRandom(1) }),
        clock: manualClock(),
        random: xorshiftRandom(1),
        stats: new TrackerStats({ clock: manualClock() }),
        logger: pino({ level: 'silent' }),
      },
    )
    apps.push(plain)
    const q = { infoHash: swarm, peerId: R.id, token: new Uint8Array(20), targetPeerId: G.id }
    const res = await plain.inject({
      method: 'GET',
      url: connectUrl('http://t/announce', q).slice(8),
      remoteAddress: R.ip,
    })
    expect(() => decodeConnectAnswer(res.rawPayload)).toThrow('this tracker does not relay connect-requests')
  })
})
