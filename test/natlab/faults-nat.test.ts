import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { isRoot, prerequisite } from '../helpers/require-tool.js'
import type { Line } from './lab/child-lines.js'
import { labCli, labStats } from './lab/lab-cli.js'
import { seedRandomFile } from './lab/lab-process.js'
import { startLabTrackerProcess } from './lab/lab-tracker.js'
import { createLab, type Lab } from './lab/netns-lab.js'

const gate = prerequisite('root (network namespaces, iptables and conntrack)', isRoot())

let lab: Lab | undefined
const dirs: string[] = []
afterEach(() => {
  lab?.destroy()
  lab = undefined
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})

/** A lab of cone-NATed sites and its tracker, a payload to seed, and the seeder behind site `s`. */
async function seededLab(sites: string[], bytes: number, seedArgs: string[] = []) {
  const l = createLab(sites.map((name) => ({ name, kind: 'cone' as const })))
  lab = l
  const tracker = (await startLabTrackerProcess(l)).child
  const dir = mkdtempSync(join(tmpdir(), 'punchswarm-faults-'))
  dirs.push(dir)
  const announce = `http://${l.trackerIp}:6969/announce`
  const { content, magnet, seed } = await seedRandomFile(l, 's', dir, announce, bytes, seedArgs)
  const get = (site: string, timeoutS = 60) =>
    labCli(l, l.sites.get(site)!.hostNs, [
      'get',
      magnet,
      '-o',
      join(dir, site),
      '--timeout',
      String(timeoutS),
      '--json',
      '--no-dht',
      '--no-lsd',
    ])
  return { lab: l, tracker, dir, content, seed, get, sites: l.sites }
}

const notProgress = (seen: Line[]) => JSON.stringify(seen.filter((e) => e.event !== 'progress')).slice(-1500)
const progressAt = (pct: number) => (e: Line) => e.event === 'progress' && (e.percent as number) >= pct

describe.skipIf(gate.skip)('faults in the NAT lab', () => {
  it.each([
    ['leecher', 'g'],
    ['seeder', 's'],
  ])(
    'both routers lose their mappings mid-transfer and the %s comes back on a new port: the peers re-punch and the download completes',
    async (_, moved) => {
      const f = await seededLab(['s', 'g'], 4 * 1024 * 1024, ['--max-upload-rate', '256k'])
      const get = f.get('g')
      await get.out.wait(progressAt(15), 60_000)
      expect(get.out.seen.some((e) => e.event === 'punched')).toBe(true)
      // A router restart: every mapping is gone, and one router now maps its host's UDP socket to
      // another public port (40001), so what the other peer knew of it is no longer true.
      const site = f.sites.get(moved)!
      f.lab.exec(site.routerNs!, [
        'iptables',
        '-t',
        'nat',
        '-I',
        'POSTROUTING',
        '1',
        '-p',
        'udp',
        '-s',
        site.hostIp,
        '-j',
        'MASQUERADE',
        '--to-ports',
        '40001',
      ])
      for (const name of ['s', 'g']) f.lab.exec(f.sites.get(name)!.routerNs!, ['conntrack', '-F'])
      // The other peer is punched to (or punches) the moved one's new public endpoint: the moved peer
      // noticed, re-registered, and the path was punched again. The watch takes 5 s (mapping check)
      // to 12 s (dead path) and a punch; without it the dead path lingers until uTP gives up on it
      // (20 s) and the next announce lists the peer again.
      const other = moved === 'g' ? f.seed : get
      const newEndpoint = (e: Line) =>
        e.event === 'punched' && e.port === 40001 && e.address === site.publicIp
      const flushedAt = Date.now()
      // A moved leecher finds out at its mapping check (5 s) and punches at once; a moved seeder leaves
      // the leecher waiting until its path counts as dead (12 s).
      await other.out.wait(newEndpoint, moved === 'g' ? 15_000 : 25_000)
      console.info(
        `${moved === 'g' ? 'leecher' : 'seeder'} moved: punched again ${Date.now() - flushedAt} ms after the flush`,
      )
      const code = await get.exit
      expect(code, notProgress(get.out.seen)).toBe(0)
      expect(readFileSync(join(f.dir, 'g', 'payload.bin')).equals(f.content)).toBe(true)
    },
    150_000,
  )

  it('the tracker dies mid-swarm: the transfer completes without it; restarted, the peers re-register and a new peer joins and completes', async () => {
    const f = await seededLab(['s', 'g1', 'g2'], 3 * 1024 * 1024, ['--max-upload-rate', '512k'])
    const first = f.get('g1')
    await first.out.wait(progressAt(20), 60_000)
    f.tracker.kill('SIGKILL')
    expect(await first.exit, notProgress(first.out.seen)).toBe(0)
    expect(readFileSync(join(f.dir, 'g1', 'payload.bin')).equals(f.content)).toBe(true)
    // Same port, new process: no swarm, no registrations, a new token secret.
    await startLabTrackerProcess(f.lab)
    const second = f.get('g2', 90)
    expect(await second.exit, notProgress(second.out.seen)).toBe(0)
    expect(readFileSync(join(f.dir, 'g2', 'payload.bin')).equals(f.content)).toBe(true)
    // The newcomer reached the seeder behind its NAT, so the seeder had registered with the new tracker.
    expect(
      second.out.seen.some((e) => e.event === 'punched' && e.address === f.sites.get('s')!.publicIp),
    ).toBe(true)
    const stats = labStats<{ punches: { success: number }; swarms: { completed: number }[] }>(f.lab)
    expect(stats.punches.success).toBeGreaterThanOrEqual(1)
    // The newcomer's completion reached the tracker before its `stopped`.
    expect(stats.swarms[0]?.completed).toBe(1)
  }, 180_000)

  it('10% random loss on a NAT router, both directions: the download over the punched uTP path completes', async () => {
    const f = await seededLab(['s', 'g'], 2 * 1024 * 1024)
    // Every packet the leecher's router forwards, either way, is dropped with probability 0.1.
    f.lab.exec(f.sites.get('g')!.routerNs!, [
      'iptables',
      '-I',
      'FORWARD',
      '1',
      '-m',
      'statistic',
      '--mode',
      'random',
      '--probability',
      '0.1',
      '-j',
      'DROP',
    ])
    const get = f.get('g', 90)
    expect(await get.exit, notProgress(get.out.seen)).toBe(0)
    expect(readFileSync(join(f.dir, 'g', 'payload.bin')).equals(f.content)).toBe(true)
    // The rule did drop packets (its counter), so the transfer really crossed a lossy link.
    const rule = f.lab.exec(f.sites.get('g')!.routerNs!, ['iptables', '-L', 'FORWARD', '1', '-v', '-n', '-x'])
    expect(Number(rule.trim().split(/\s+/)[0])).toBeGreaterThan(50)
    const peers = get.out.seen.filter((e) => e.event === 'peer')
    expect(peers.length).toBeGreaterThan(0)
    expect(peers.every((e) => e.transport === 'utp')).toBe(true)
  }, 150_000)
})
