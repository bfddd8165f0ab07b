import { SingleBar } from 'cli-progress'
import { wireEncryption } from '../swarm/peer-encryption.js'
import type { PeerLink } from '../swarm/peer-link.js'
import type { TorrentSession } from '../swarm/torrent-session.js'

/** How `seed` and `get` report: JSON lines for scripts, a progress bar on a terminal, else quiet lines. */
export interface SwarmOutput {
  event(name: string, fields?: Record<string, unknown>): void
  /** Starts periodic progress reports for a session; returns a function that stops them. */
  track(session: TorrentSession, label: string): () => void
  /** A line meant for a human (printed as is unless --json). */
  line(text: string): void
}

export function swarmOutput(json: boolean): SwarmOutput {
  const write = (o: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(o)}\n`)
  return {
    event: (name, fields = {}) => {
      if (json) write({ event: name, ...fields })
    },
    line: (text) => {
      if (!json) process.stdout.write(`${text}\n`)
    },
    track: (session, label) => {
      if (json) {
        const t = setInterval(() => write({ event: 'progress', ...session.progress() }), 500)
        return () => clearInterval(t)
      }
      if (!process.stdout.isTTY) return () => {}
      const bar = new SingleBar({
        format: `${label} [{bar}] {percentage}% | down {down}/s up {up}/s | {peers} peers | ETA {eta_formatted}`,
        hideCursor: true,
      })
      bar.start(100, 0, { down: '0 B', up: '0 B', peers: 0 })
      const t = setInterval(() => {
        const p = session.progress()
        bar.update(Math.floor(p.percent * 10) / 10, {
          down: bytes(p.downRate),
          up: bytes(p.upRate),
          peers: p.peers,
        })
      }, 500)
      return () => {
        clearInterval(t)
        bar.stop()
      }
    },
  }
}

function bytes(n: number): string {
  if (n < 1024) return `${Math.round(n)} B`
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`
  return `${(n / 1024 / 1024).toFixed(1)} MiB`
}

/** `host:port` of a `--peer` flag. */
export function parsePeer(text: string): { address: string; port: number } {
  const m = /^\[?([^\]]+?)\]?:(\d{1,5})$/.exec(text.trim())
  if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535) {
    throw new Error(`--peer must be host:port, got '${text}'`)
  }
  return { address: m[1]!, port: Number(m[2]) }
}

/** The `peer` event's fields for a connected peer. */
export function peerFields(l: PeerLink): Record<string, unknown> {
  return { address: l.id, transport: l.transport, direction: l.direction, encryption: wireEncryption(l.wire) }
}
