import { pathToFileURL } from 'node:url'

/**
 * Runs bittorrent-tracker (npm) with HTTP and UDP only, for the side-by-side bench. It is installed on
 * demand into bench/.deps (its WebRTC dependency builds native code, so it is not a devDependency).
 */
const [entry, port] = process.argv.slice(2) as [string, string]
const mod = (await import(pathToFileURL(entry).href)) as { default: new (o: object) => TrackerServer }
interface TrackerServer {
  listen(port: number, host: object, cb: () => void): void
  on(event: string, fn: (...a: unknown[]) => void): void
}
const server = new mod.default({ http: true, udp: true, ws: false, stats: false, trustProxy: false })
server.on('error', (err) => process.stderr.write(`tracker error: ${String(err)}\n`))
server.on('warning', () => {})
server.listen(Number(port), { http: '127.0.0.1', udp: '127.0.0.1', udp6: '::1' }, () =>
  process.stdout.write('listening\n'),
)
