import { randomBytes } from 'node:crypto'
import type { Command } from 'commander'
import { realClock, realRandom } from '../real-clock.js'
import { RendezvousClient } from '../rendezvous/rendezvous-client.js'
import { renderStatsTable } from '../stats/stats-table.js'
import { httpAnnounce } from '../tracker-client/http-tracker-client.js'
import { UdpSocket } from '../udp-socket.js'
import { fetchStats } from './stats-command.js'

const say = (line: string) => process.stdout.write(`${line}\n`)
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex')

/**
 * `punchswarm demo`: the main job end to end on this machine. Today it runs the tracker and the
 * connect-request relay: two peers announce, learn their NAT class, register their UDP endpoints,
 * one asks the tracker to connect them, both punch, and the tracker's stats show it. Everything
 * stays on 127.0.0.1.
 */
async function runDemo(): Promise<void> {
  // Loaded on use so the other commands start without fastify.
  const { startTracker } = await import('../../tracker/tracker-server.js')
  const tracker = await startTracker({ host: '127.0.0.1', port: 0 })
  const sockets: UdpSocket[] = []
  const clients: RendezvousClient[] = []
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
    await new Promise((r) => setTimeout(r, 300))
    say("4. the tracker's swarm stats:\n")
    process.stdout.write(renderStatsTable(await fetchStats(`http://127.0.0.1:${tracker.httpPort}`, 5000)))
    say(
      '\nNot in this demo yet: file transfer (the swarm engine with uTP) and the NAT lab in network namespaces.',
    )
  } finally {
    for (const c of clients) c.stop()
    for (const s of sockets) s.close()
    await tracker.close()
  }
}

/** Registers `punchswarm demo`. */
export function registerDemoCommand(program: Command): void {
  program
    .command('demo')
    .description(
      'run the tracker and a hole-punched connection between two peers on this machine, then show the stats',
    )
    .action(runDemo)
}
