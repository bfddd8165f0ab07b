import { randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { encodePacket } from '../../protocol/utp/utp-packet.js'
import { isRoot, prerequisite } from '../helpers/require-tool.js'
import { labStats } from './lab/lab-cli.js'
import { lines, PUNCH_PEER, runGet, runPair, seedRandomFile, startLabTracker } from './lab/lab-process.js'
import { createLab, type Lab, type SiteKind } from './lab/netns-lab.js'

const gate = prerequisite('root (network namespaces and iptables)', isRoot())

let lab: Lab | undefined
afterEach(() => {
  lab?.destroy()
  lab = undefined
})

/** The tracker on the public side, a target at site `a`, a requester at site `b`; punch, then uTP. */
async function punchPair(a: SiteKind, b: SiteKind) {
  lab = createLab([
    { name: 'a', kind: a },
    { name: 'b', kind: b },
  ])
  const announce = await startLabTracker(lab)
  const run = await runPair(lab, announce, 'b', 'a', 2 * 1024 * 1024)
  expect(run.registered.event).toBe('registered')
  return { lab, ...run }
}

describe.skipIf(gate.skip)('hole punching through real Linux NAT (network namespaces)', () => {
  it('two peers behind two cone NATs punch through and move 2 MiB over uTP, with no port forwarding', async () => {
    const { done, registered, requester } = await punchPair('cone', 'cone')
    expect(registered.natClass).toBe('cone')
    expect(done).toMatchObject({ event: 'done', bytes: 2 * 1024 * 1024, match: true })
    // The path the requester punched is the target router's public address, not anything private.
    const punched = requester.seen.find((l) => l.event === 'punched') as unknown as {
      address: { address: string }
    }
    expect(punched.address.address).toBe('198.18.1.2')
  }, 90_000)

  it('a peer behind a cone NAT reaches a public peer, and a public peer reaches one behind a cone NAT', async () => {
    const first = await punchPair('public', 'cone')
    expect(first.done).toMatchObject({ event: 'done', match: true })
    first.lab.destroy()
    const second = await punchPair('cone', 'public')
    expect(second.done).toMatchObject({ event: 'done', match: true })
  }, 120_000)

  it('a peer behind a symmetric NAT and one behind a cone NAT meet by birthday probing', async () => {
    const { done, registered } = await punchPair('cone', 'symmetric')
    expect(registered.natClass).toBe('cone')
    expect(done).toMatchObject({ event: 'done', match: true })
  }, 90_000)

  it('headline: punchswarm seed behind one cone NAT, punchswarm get behind another, no port forwarding', async () => {
    lab = createLab([
      { name: 'a', kind: 'cone' },
      { name: 'b', kind: 'cone' },
    ])
    const announce = await startLabTracker(lab)
    const dir = mkdtempSync(join(tmpdir(), 'punchswarm-natlab-'))
    try {
      const { content, magnet } = await seedRandomFile(lab, 'a', dir, announce, 3 * 1024 * 1024 + 7)
      const get = await runGet(lab, 'b', magnet, join(dir, 'out'), 40)
      expect(get.exit, JSON.stringify(get.out.seen.filter((l) => l.event !== 'progress')).slice(-1500)).toBe(
        0,
      )
      expect(readFileSync(join(dir, 'out', 'payload.bin')).equals(content)).toBe(true)
      const punched = get.out.seen.find((l) => l.event === 'punched') as unknown as { address: string }
      expect(punched.address).toBe('198.18.1.2')
      // The tracker's stats show both: the seeder (registered from behind its cone NAT), the leecher's
      // completed download, and the punch between them.
      const stats = labStats<{
        punches: { success: number }
        swarms: { seeders: number; completed: number; byNatClass: Record<string, number> }[]
      }>(lab)
      expect(stats.punches.success).toBeGreaterThanOrEqual(1)
      expect(stats.swarms).toHaveLength(1)
      expect(stats.swarms[0]).toMatchObject({ seeders: 1, completed: 1 })
      expect(stats.swarms[0]!.byNatClass.cone).toBeGreaterThanOrEqual(1)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  }, 120_000)

  it('a swarm: one seeder and six leechers, each behind its own NAT of mixed classes, all complete', async () => {
    const kinds: [string, SiteKind][] = [
      ['s', 'cone'],
      ['l1', 'cone'],
      ['l2', 'cone'],
      ['l3', 'symmetric'],
      ['l4', 'symmetric'],
      ['l5', 'public'],
      ['l6', 'cone'],
    ]
    lab = createLab(kinds.map(([name, kind]) => ({ name, kind })))
    const announce = await startLabTracker(lab)
    const dir = mkdtempSync(join(tmpdir(), 'punchswarm-natlab-swarm-'))
    try {
      const { content, magnet } = await seedRandomFile(lab, 's', dir, announce, 4 * 1024 * 1024 + 3)
      const leechers = await Promise.all(
        kinds
          .slice(1)
          .map(async ([name]) => ({ name, ...(await runGet(lab!, name, magnet, join(dir, name), 60)) })),
      )
      for (const l of leechers) {
        expect(
          l.exit,
          `${l.name}: ${JSON.stringify(l.out.seen.filter((e) => e.event !== 'progress')).slice(-800)} stderr: ${l.out.stderr().slice(-600)}`,
        ).toBe(0)
        expect(readFileSync(join(dir, l.name, 'payload.bin')).equals(content)).toBe(true)
      }
      // Every leecher reached the seeder behind its cone NAT through a punched path (the public one
      // included: the seeder's router admits nothing it did not start), and no punch the tracker relayed
      // failed (the two symmetric leechers are told they need a relay, which is no attempt).
      const seederIp = lab.sites.get('s')!.publicIp
      for (const l of leechers) {
        const punched = l.out.seen.filter((e) => e.event === 'punched' && e.address === seederIp)
        expect(punched.length, `${l.name} punched to the seeder`).toBeGreaterThan(0)
      }
      const { punches } = labStats<{ punches: { attempt: number; success: number; failure: number } }>(lab)
      console.info(`swarm punches: ${JSON.stringify(punches)}`)
      expect(punches.success).toBeGreaterThanOrEqual(leechers.length)
      expect(punches.failure).toBe(0)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  }, 180_000)

  it('the firewall is not weakened: a host that took part in no connect-request cannot reach a registered peer', async () => {
    lab = createLab([
      { name: 'a', kind: 'cone' },
      { name: 'x', kind: 'public' },
    ])
    await startLabTracker(lab)
    const target = lines(
      lab.spawn(lab.sites.get('a')!.hostNs, [
        process.execPath,
        PUNCH_PEER,
        JSON.stringify({
          tracker: `http://${lab.trackerIp}:6969/announce`,
          infoHash: randomBytes(20).toString('hex'),
          peerId: randomBytes(20).toString('hex'),
          bytes: 1000,
          role: 'target',
        }),
      ]),
    )
    const reg = (await target.wait((l) => l.event === 'registered')) as unknown as {
      observed: { address: string; port: number }
    }
    // A stranger on the internet aims uTP SYNs straight at the registered public endpoint.
    const syn = Buffer.from(
      encodePacket({
        type: 'syn',
        connectionId: 7,
        timestamp: 1,
        timestampDiff: 0,
        windowSize: 65536,
        seq: 1,
        ack: 0,
        payload: new Uint8Array(0),
      }),
    )
    const probe = `
      const s = require('node:dgram').createSocket('udp4')
      let answered = false
      s.on('message', () => { answered = true })
      s.bind(0, () => {
        for (let i = 0; i < 5; i++) setTimeout(() => s.send(Buffer.from('${syn.toString('hex')}', 'hex'), ${reg.observed.port}, '${reg.observed.address}'), i * 200)
        setTimeout(() => { console.log(JSON.stringify({ event: 'result', answered })); process.exit(0) }, 2500)
      })`
    const stranger = lines(lab.spawn(lab.sites.get('x')!.hostNs, [process.execPath, '-e', probe]))
    const result = await stranger.wait((l) => l.event === 'result', 10_000)
    expect(result.answered).toBe(false)
    expect(target.seen.some((l) => l.event === 'connection')).toBe(false)
  }, 60_000)
})
