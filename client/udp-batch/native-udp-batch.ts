import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'

/** The addon built from udp-batch.c (binding.gyp) at install; Linux only. */
export interface NativeUdpBatch {
  /** Datagrams per batch, both ways. */
  readonly slots: number
  open(
    host: string,
    port: number,
    recvBufferBytes: number,
    sendBufferBytes: number,
    /** Filled per batch: [offset, length, ip, port] per datagram in `bytes`, then their count. */
    meta: Int32Array,
    onDatagram: (bytes: ArrayBuffer, index: number) => void,
    onWritable: () => void,
  ): NativeHandle
  /** Datagrams sent from the front, or -errno for the first one the kernel refused. */
  send(handle: NativeHandle, bytes: Uint8Array, meta: Int32Array, count: number): number
  awaitWritable(handle: NativeHandle): void
  setTtl(handle: NativeHandle, ttl: number): void
  /** [port, granted receive buffer, granted send buffer] */
  info(handle: NativeHandle): [number, number, number]
  close(handle: NativeHandle): void
}

declare const nativeHandle: unique symbol
export type NativeHandle = { readonly [nativeHandle]: true }

/** Set to 0 to use node:dgram even where the addon is built (for side-by-side measurements). */
export const UDP_BATCH_ENV = 'PUNCHSWARM_UDP_BATCH'

let loaded: NativeUdpBatch | null | undefined

/**
 * The addon, or null where it is not built (no compiler at install, not Linux) or switched off;
 * the client then uses node:dgram, with the same behaviour at a higher cost per datagram.
 */
export function nativeUdpBatch(): NativeUdpBatch | null {
  if (loaded === undefined) loaded = load()
  return loaded
}

function load(): NativeUdpBatch | null {
  if (process.platform !== 'linux' || process.env[UDP_BATCH_ENV] === '0') return null
  const require = createRequire(import.meta.url)
  // From client/udp-batch (sources under vitest) or dist/client/udp-batch (the build).
  for (const up of ['../../', '../../../']) {
    try {
      return require(fileURLToPath(new URL(`${up}build/Release/udp_batch.node`, import.meta.url)))
    } catch {
      // not at this depth
    }
  }
  return null
}
