import { stat } from 'node:fs/promises'
import { dirname, resolve } from 'node:path'
import type { Command } from 'commander'
import { UsageError } from '../../protocol/errors.js'
import { toMagnetUri } from '../metainfo/magnet-link.js'
import type { Metainfo } from '../metainfo/metainfo-types.js'
import { createTorrent } from '../metainfo/torrent-creator.js'
import { loadTorrent, parseTorrentBytes } from '../metainfo/torrent-loader.js'
import { SwarmClient } from '../swarm/swarm-client.js'
import {
  closeSwarmClient,
  optionalRate,
  type SwarmFlags,
  swarmClientOptions,
  withCachedDhtNodes,
} from './swarm-flags.js'
import { parsePeer, peerFields, swarmOutput } from './swarm-output.js'

interface SeedFlags extends SwarmFlags {
  tracker?: string[]
  peer?: string[]
  dir?: string
  json?: boolean
  maxUploadRate?: string
}

const collect = (v: string, prev: string[] = []) => [...prev, v]

/** Registers `punchswarm seed`. */
export function registerSeedCommand(program: Command): void {
  program
    .command('seed')
    .description('share a file, directory or .torrent; prints the magnet link and serves until stopped')
    .argument('<path>', 'a file or directory to share, or a .torrent whose data is in --dir')
    .option('--tracker <url>', 'tracker announce URL; repeat for more', collect)
    .option('--peer <host:port>', 'connect to this peer too; repeat for more', collect)
    .option('-p, --port <port>', 'TCP and UDP (uTP) port to listen on, 0 for any', '6881')
    .option('--dir <dir>', 'for a .torrent: the directory holding its data (default: the current one)')
    .option('--no-tcp', 'do not use TCP')
    .option('--no-utp', 'do not use uTP')
    .option(
      '--encryption <mode>',
      'MSE/PE: prefer (dial encrypted, plaintext if refused), allow (dial plaintext) or require (RC4 only)',
      'prefer',
    )
    .option('--max-upload-rate <bytes>', 'upload cap in bytes per second (k and m suffixes: 500k, 2m)')
    .option('--no-dht', 'do not use the DHT (BEP 5) to find peers or announce')
    .option('--no-lsd', 'do not announce on the local network or find peers there (BEP 14)')
    .option(
      '--dht-bootstrap <host:port>',
      'join the DHT through this node, not the public routers; repeat for more',
      collect,
    )
    .option('--json', 'print one JSON event per line')
    .action(async (path: string, flags: SeedFlags) => {
      // Every flag is checked before any work (hashing a directory to seed, reading a torrent).
      const clientOptions = swarmClientOptions(flags)
      const maxUploadRate = optionalRate(flags.maxUploadRate, 'max-upload-rate')
      const out = swarmOutput(flags.json === true)
      const peers = (flags.peer ?? []).map((p) => {
        try {
          return parsePeer(p)
        } catch (err) {
          throw new UsageError('USAGE_BAD_ARGUMENT', (err as Error).message)
        }
      })
      const trackers = (flags.tracker ?? []).map((t) => [t])
      let metainfo: Metainfo
      let dir: string
      const info = await stat(path).catch(() => {
        throw new UsageError('USAGE_NOT_FOUND', `${path}: no such file or directory`)
      })
      if (info.isFile() && path.endsWith('.torrent')) {
        metainfo = await loadTorrent(path)
        dir = resolve(flags.dir ?? '.')
      } else {
        metainfo = parseTorrentBytes(await createTorrent(path, { trackers }))
        dir = dirname(resolve(path))
      }
      const client = await SwarmClient.open(await withCachedDhtNodes(clientOptions, dir))
      const session = await client.add({
        infoHash: metainfo.infoHash,
        metainfo,
        dir,
        trackers: trackers.length > 0 ? trackers : metainfo.announce,
        ...(maxUploadRate ? { maxUploadRate } : {}),
      })
      if (!session.complete) {
        await closeSwarmClient(client, dir)
        const have = session.progress().percent.toFixed(1)
        throw new UsageError('USAGE_NOT_FOUND', `${metainfo.name}: only ${have}% of the data is in ${dir}`)
      }
      const magnet = toMagnetUri(metainfo)
      out.event('listening', { port: client.port, udp: client.udpSocket.batched ? 'batched' : 'dgram' })
      out.event('magnet', { uri: magnet, infoHash: metainfo.infoHashHex })
      out.line(`seeding ${metainfo.name} (${metainfo.infoHashHex}) on port ${client.port}`)
      out.line(magnet)
      client.on('punched', (p) => out.event('punched', p))
      session.on('peer', (l) => out.event('peer', peerFields(l)))
      const dht = client.dht
      dht?.on('announced', (_, info) => out.event('dht', { nodes: info.nodes, routingTable: dht.nodeCount }))
      for (const p of peers) session.addPeer(p.address, p.port)
      const stopTracking = out.track(session, 'seeding')
      try {
        await new Promise<void>((done, fail) => {
          const stop = () => done()
          process.once('SIGINT', stop)
          process.once('SIGTERM', stop)
          // A disk failure ends the seed with its one-line error.
          session.on('error', fail)
        })
      } finally {
        stopTracking()
        await closeSwarmClient(client, dir)
      }
    })
}
