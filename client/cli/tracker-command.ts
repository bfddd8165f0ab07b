import type { Command } from 'commander'
import { parsePort, parsePositiveInt } from './parse-port.js'

interface TrackerFlags {
  host: string
  port: string
  udpPort?: string
  altPort?: string
  trustProxy?: boolean
  interval?: string
  maxRate: string
  maxSwarms: string
  maxPeersPerSwarm: string
  connectRate: string
  logLevel: string
}

/** Registers `punchswarm tracker`. */
export function registerTrackerCommand(program: Command): void {
  program
    .command('tracker')
    .description(
      'run a BitTorrent tracker (HTTP and UDP) that also relays connect-requests between NATed peers',
    )
    .option('--host <host>', 'address to listen on', '0.0.0.0')
    .option('--port <port>', 'HTTP port (0 picks a free one)', '6969')
    .option('--udp-port <port>', 'UDP port for BEP 15 and rendezvous (default: the HTTP port number)')
    .option('--alt-port <port>', 'second UDP port for NAT classification (default: a free one)')
    .option('--trust-proxy', 'honour X-Forwarded-For and the ip parameter (only behind your own proxy)')
    .option('--interval <seconds>', 'announce interval asked of clients', '1800')
    .option(
      '--max-rate <n>',
      'announces and scrapes per second from one address (an IPv6 /64 counts as one); 0 for no limit',
      '20',
    )
    .option('--max-swarms <n>', 'swarms kept; a new one evicts the least recently announced', '1000000')
    .option('--max-peers-per-swarm <n>', 'peers kept per swarm; a new one evicts a long-silent one', '100000')
    .option('--connect-rate <n>', 'connect-requests per second from one address, and to one peer', '5')
    .option('--log-level <level>', 'pino log level on stderr', 'info')
    .action(async (flags: TrackerFlags) => {
      // Loaded here, not at the top: `punchswarm get` should not pay for fastify and pino at start-up.
      const { default: pino } = await import('pino')
      const { startTracker } = await import('../../tracker/tracker-server.js')
      const logger = pino({ level: flags.logLevel }, pino.destination(2))
      const tracker = await startTracker(
        {
          host: flags.host,
          port: parsePort(flags.port),
          udpPort: flags.udpPort === undefined ? undefined : parsePort(flags.udpPort, 'udp-port'),
          altPort: flags.altPort === undefined ? 0 : parsePort(flags.altPort, 'alt-port'),
          trustProxy: flags.trustProxy === true,
          intervalSeconds: parsePositiveInt(flags.interval ?? '1800', 'interval'),
          maxRequestsPerSecond: flags.maxRate === '0' ? 0 : parsePositiveInt(flags.maxRate, 'max-rate'),
          maxSwarms: parsePositiveInt(flags.maxSwarms, 'max-swarms'),
          maxPeersPerSwarm: parsePositiveInt(flags.maxPeersPerSwarm, 'max-peers-per-swarm'),
          connectRatePerSecond: parsePositiveInt(flags.connectRate, 'connect-rate'),
        },
        { logger },
      )
      const shown = flags.host === '0.0.0.0' || flags.host === '::' ? '127.0.0.1' : tracker.host
      const base = `http://${shown.includes(':') ? `[${shown}]` : shown}:${tracker.httpPort}`
      process.stdout.write(`${base}/announce\nudp://${shown}:${tracker.udpPort}\n${base}/stats\n`)
      logger.info({ http: tracker.httpPort, udp: tracker.udpPort, alt: tracker.altPort }, 'tracker listening')
      await new Promise<void>((resolve) => {
        const stop = (signal: string) => {
          logger.info({ signal }, 'shutting down')
          tracker.close().then(resolve, resolve)
        }
        process.once('SIGINT', () => stop('SIGINT'))
        process.once('SIGTERM', () => stop('SIGTERM'))
      })
    })
}
