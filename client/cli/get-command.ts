import { resolve } from 'node:path'
import type { Command } from 'commander'
import { UsageError } from '../../protocol/errors.js'
import { parseMagnet } from '../metainfo/magnet-link.js'
import type { Metainfo } from '../metainfo/metainfo-types.js'
import { loadTorrent } from '../metainfo/torrent-loader.js'
import { SwarmClient } from '../swarm/swarm-client.js'
import { parsePositiveInt } from './parse-port.js'
import {
  closeSwarmClient,
  optionalRate,
  type SwarmFlags,
  swarmClientOptions,
  withCachedDhtNodes,
} from './swarm-flags.js'
import { parsePeer, peerFields, swarmOutput } from './swarm-output.js'

interface GetFlags extends SwarmFlags {
  output: string
  tracker?: string[]
  peer?: string[]
  timeout?: string
  maxDownloadRate?: string
  maxUploadRate?: string
  seed?: boolean
  json?: boolean
}

const collect = (v: string, prev: string[] = []) => [...prev, v]

/** Registers `punchswarm get`. */
export function registerGetCommand(program: Command): void {
  program
    .command('get')
    .description('download a torrent or magnet link; exits 0 once every piece is verified')
    .argument('<torrent>', 'a .torrent file or a magnet link')
    .requiredOption('-o, --output <dir>', 'directory to download into')
    .option('--tracker <url>', "tracker announce URL besides the torrent's own; repeat for more", collect)
    .option('--peer <host:port>', 'connect to this peer too; repeat for more', collect)
    .option('-p, --port <port>', 'TCP and UDP (uTP) port to listen on, 0 for any', '0')
    .option('--no-tcp', 'do not use TCP')
    .option('--no-utp', 'do not use uTP')
    .option(
      '--encryption <mode>',
      'MSE/PE: prefer (dial encrypted, plaintext if refused), allow (dial plaintext) or require (RC4 only)',
      'prefer',
    )
    .option('--timeout <seconds>', 'fail if no peer has connected by then')
    .option('--max-download-rate <bytes>', 'download cap in bytes per second (k and m suffixes: 500k, 2m)')
    .option('--max-upload-rate <bytes>', 'upload cap in bytes per second (k and m suffixes: 500k, 2m)')
    .option('--seed', 'keep seeding after the download completes, until stopped')
    .option('--no-dht', 'do not use the DHT (BEP 5) to find peers or announce')
    .option('--no-lsd', 'do not announce on the local network or find peers there (BEP 14)')
    .option(
      '--dht-bootstrap <host:port>',
      'join the DHT through this node, not the public routers; repeat for more',
      collect,
    )
    .option('--json', 'print one JSON event per line')
    .action(async (target: string, flags: GetFlags) => {
      // Every flag is checked before any work (hashing a directory to seed, reading a torrent).
      const clientOptions = swarmClientOptions(flags)
      const out = swarmOutput(flags.json === true)
      const timeoutS = flags.timeout === undefined ? undefined : parsePositiveInt(flags.timeout, 'timeout')
      const maxDownloadRate = optionalRate(flags.maxDownloadRate, 'max-download-rate')
      const maxUploadRate = optionalRate(flags.maxUploadRate, 'max-upload-rate')
      const peers = (flags.peer ?? []).map((p) => {
        try {
          return parsePeer(p)
        } catch (err) {
          throw new UsageError('USAGE_BAD_ARGUMENT', (err as Error).message)
        }
      })
      let metainfo: Metainfo | undefined
      let infoHash: Uint8Array
      let trackers: string[][] = (flags.tracker ?? []).map((t) => [t])
      let webSeeds: string[] | undefined
      if (target.startsWith('magnet:')) {
        const m = parseMagnet(target)
        infoHash = m.infoHash
        trackers = [...trackers, ...m.trackers.map((t) => [t])]
        peers.push(...m.peers)
        webSeeds = m.webSeeds
      } else {
        metainfo = await loadTorrent(target)
        infoHash = metainfo.infoHash
        trackers = [...metainfo.announce, ...trackers]
      }
      const started = performance.now()
      const dir = resolve(flags.output)
      const client = await SwarmClient.open(await withCachedDhtNodes(clientOptions, dir))
      out.event('listening', { port: client.port, udp: client.udpSocket.batched ? 'batched' : 'dgram' })
      const session = await client.add({
        infoHash,
        ...(metainfo ? { metainfo } : {}),
        dir,
        trackers,
        ...(maxDownloadRate ? { maxDownloadRate } : {}),
        ...(maxUploadRate ? { maxUploadRate } : {}),
        ...(webSeeds ? { webSeeds } : {}),
      })
      client.on('punched', (p) => out.event('punched', p))
      session.on('peer', (l) => out.event('peer', peerFields(l)))
      const dht = client.dht
      dht?.on('announced', (_, info) => out.event('dht', { nodes: info.nodes, routingTable: dht.nodeCount }))
      session.on('metadata', (m) =>
        out.event('metadata', { name: m.name, pieces: m.layout.pieceCount, length: m.layout.length }),
      )
      session.on('banned', (id) => out.event('banned', { address: id }))
      for (const p of peers) session.addPeer(p.address, p.port)
      const stopTracking = out.track(session, 'downloading')
      try {
        await new Promise<void>((done, fail) => {
          if (session.complete) return done()
          session.once('complete', () => done())
          session.on('error', fail)
          const stop = () =>
            fail(new UsageError('USAGE_BAD_ARGUMENT', 'interrupted before the download completed'))
          process.once('SIGINT', stop)
          process.once('SIGTERM', stop)
          if (timeoutS !== undefined) {
            setTimeout(() => {
              // A web seed (BEP 19) that delivered counts as a peer.
              if (session.peers.length === 0 && session.progress().downloaded === 0 && !session.complete) {
                fail(new UsageError('USAGE_NO_PEERS', `no peer connected within ${timeoutS} s`))
              }
            }, timeoutS * 1000).unref()
          }
        })
      } finally {
        stopTracking()
        if (!flags.seed || !session.complete) await closeSwarmClient(client, dir)
      }
      const seconds = (performance.now() - started) / 1000
      out.event('complete', { seconds, ...session.progress() })
      out.line(`${session.metainfo?.name}: complete and verified in ${seconds.toFixed(1)} s`)
      if (flags.seed) {
        await new Promise<void>((done) => {
          process.once('SIGINT', () => done())
          process.once('SIGTERM', () => done())
        })
        await closeSwarmClient(client, dir)
      }
    })
}
