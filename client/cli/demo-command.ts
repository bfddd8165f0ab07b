import { createHash, randomBytes } from 'node:crypto'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Command } from 'commander'
import { createTorrent } from '../metainfo/torrent-creator.js'
import { parseTorrentBytes } from '../metainfo/torrent-loader.js'
import { realClock, realRandom } from '../real-clock.js'
import { RendezvousClient } from '../rendezvous/rendezvous-client.js'
import { renderStatsTable } from '../stats/stats-table.js'
import { SwarmClient } from '../swarm/swarm-client.js'
import { httpAnnounce } from '../tracker-client/http-tracker-client.js'
import { UdpSocket } from '../udp-socket.js'
import { fetchStats } from './stats-command.js'

const say = (line: string) => process.stdout.write(`${line}\n`)
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex')

/**
 * `punchswarm demo`: the main job end to end on this machine: the tracker and its connect-request
 * relay (two peers announce, learn their NAT class, register their UDP endpoints, one asks the tracker
 * to connect them, both punch), then a seeder and a leecher of the swarm engine moving a file over uTP
 * after finding each other through the tracker, and the tracker's stats. Everything stays on
 * 127.0.0.1; the NAT lab is not built yet.
 */
async function runDemo(): Promise<void> {
  // Loaded on use so the other commands start without fastify.
  const { startTracker } = await import('../../tracker/tracker-server.js')
  const tracker = await startTracker({ host: '127.0.0.1', port: 0 })
  const sockets: UdpSocket[] = []
  const clients: RendezvousClient[] = []
  const cleanups: (() => Promise<void>)[] = []
  try {
    say(
      `1. tracker listening: ${tracker.announceUrl}, ${tracker.udpUrl}, stats at http://127.0.0.1:${tracker.httpPort}/stats`,
    )
    const infoHash = randomBytes(20)
    const peers = []
    for (const name of ['seeder', 'leecher']) {
      const socket = await UdpSocket.open({ host: '127.0.0.1' })
      sockets.push(socket)
      const peerId = Buffer.concat([Buffer.from('-PS0100-'), randomBytes(12)])
      const res = await httpAnnounce(tracker.announceUrl, {
        infoHash,
        peerId,
        port: socket.address().port,
        uploaded: 0,
        downloaded: 0,
        left: name === 'seeder' ? 0 : 1,
        event: 'started',
        rendezvous: true,
      })
      if (!res.rendezvous) throw new Error('the tracker did not offer the rendezvous extension')
      const client = new RendezvousClient(
        {
          tracker: { address: '127.0.0.1', port: res.rendezvous.udpPort },
          altTracker: res.rendezvous.altPort
            ? { address: '127.0.0.1', port: res.rendezvous.altPort }
            : undefined,
          peerId,
        },
        { socket, clock: realClock, random: realRandom },
      )
      clients.push(client)
      const natClass = await client.classify()
      await client.register(infoHash, res.rendezvous.token)
      say(
        `2. ${name} ${hex(peerId).slice(0, 16)}… announced, NAT class '${natClass}', registered UDP ${socket.address().address}:${socket.address().port}`,
      )
      peers.push({ name, peerId, socket, client })
    }
    const [seeder, leecher] = peers as [(typeof peers)[0], (typeof peers)[0]]
    const targetSide = new Promise((resolve) => seeder.client.once('punched', resolve))
    const started = performance.now()
    const path = await leecher.client.connect(infoHash, seeder.peerId, {
      signal: AbortSignal.timeout(10_000),
    })
    await targetSide
    say(`3. leecher sent a connect-request; the tracker pushed it to the seeder; both punched:`)
    say(
      `   path ${path.address.address}:${path.address.port} open after ${(performance.now() - started).toFixed(1)} ms`,
    )
    cleanups.push(await transferDemo(tracker.announceUrl))
    await new Promise((r) => setTimeout(r, 300))
    say("5. the tracker's swarm stats:\n")
    process.stdout.write(renderStatsTable(await fetchStats(`http://127.0.0.1:${tracker.httpPort}`, 5000)))
    say('\nNot in this demo yet: the NAT lab in network namespaces (the peers here share 127.0.0.1).')
  } finally {
    for (const c of cleanups) await c()
    for (const c of clients) c.stop()
    for (const s of sockets) s.close()
    await tracker.close()
  }
}

/**
 * A seeder shares a 4 MiB file; a leecher finds it through the tracker and downloads it over uTP.
 * Returns the teardown, so the stats can still show both peers of that swarm.
 */
async function transferDemo(announceUrl: string): Promise<() => Promise<void>> {
  const dir = await mkdtemp(join(tmpdir(), 'punchswarm-demo-'))
  const clients: SwarmClient[] = []
  const teardown = async () => {
    for (const c of clients) await c.close()
    await rm(dir, { recursive: true, force: true })
  }
  try {
    const content = randomBytes(4 * 1024 * 1024)
    await writeFile(join(dir, 'payload.bin'), content)
    const m = parseTorrentBytes(await createTorrent(join(dir, 'payload.bin'), { trackers: [[announceUrl]] }))
    const seeder = await SwarmClient.open({ host: '127.0.0.1' })
    const leecher = await SwarmClient.open({ host: '127.0.0.1' })
    clients.push(seeder, leecher)
    await seeder.add({ infoHash: m.infoHash, metainfo: m, dir })
    const started = performance.now()
    const session = await leecher.add({ infoHash: m.infoHash, metainfo: m, dir: join(dir, 'download') })
    const transport = new Promise<string>((resolve) => session.once('peer', (l) => resolve(l.transport)))
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('the demo download did not finish in 30 s')), 30_000)
      session.once('complete', () => {
        clearTimeout(timer)
        resolve()
      })
    })
    const got = await readFile(join(dir, 'download', 'payload.bin'))
    const same = createHash('sha256')
      .update(got)
      .digest()
      .equals(createHash('sha256').update(content).digest())
    say(
      `4. a seeder shared payload.bin (4 MiB); a leecher found it through the tracker and downloaded it over ${await transport} in ${((performance.now() - started) / 1000).toFixed(1)} s; sha256 ${same ? 'matches' : 'DIFFERS'}`,
    )
    if (!same) throw new Error('the demo download does not match what was shared')
    return teardown
  } catch (err) {
    await teardown()
    throw err
  }
}

/** Registers `punchswarm demo`. */
export function registerDemoCommand(program: Command): void {
  program
    .command('demo')
    .option('--loopback', 'run on 127.0.0.1 even when the NAT lab is available')
    .description(
      'run the tracker, a NATed seeder and a NATed leecher (in the NAT lab when root, else on 127.0.0.1), then the stats',
    )
    .action(async (flags: { loopback?: boolean }) => {
      const { labAvailable, runLabDemo } = await import('./lab-demo.js')
      if (!flags.loopback && labAvailable()) return runLabDemo()
      say('(running on 127.0.0.1: the NAT lab needs root with iproute2 and iptables; see docs/natlab.md)')
      return runDemo()
    })
}
