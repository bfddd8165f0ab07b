import type { UdpAddress } from '../../protocol/datagram-socket.js'

/**
 * Values keyed by (peer address, port, 16-bit connection id), looked up once per uTP datagram. Keyed
 * by the number first, then matched on address and port, so a lookup builds no string: a string key
 * made per datagram was a measurable share of a busy receiver's CPU and garbage.
 */
export class ConnectionTable<V> {
  private readonly byId = new Map<number, Array<{ address: string; port: number; value: V }>>()
  private count = 0

  get size(): number {
    return this.count
  }

  get(from: UdpAddress, id: number): V | undefined {
    const list = this.byId.get(id)
    if (list === undefined) return undefined
    for (let i = 0; i < list.length; i++) {
      const e = list[i]!
      if (e.port === from.port && e.address === from.address) return e.value
    }
    return undefined
  }

  has(from: UdpAddress, id: number): boolean {
    return this.get(from, id) !== undefined
  }

  /** Adds or replaces the value for this key. */
  set(from: UdpAddress, id: number, value: V): void {
    let list = this.byId.get(id)
    if (list === undefined) {
      list = []
      this.byId.set(id, list)
    }
    const e = list.find((x) => x.port === from.port && x.address === from.address)
    if (e) {
      e.value = value
      return
    }
    list.push({ address: from.address, port: from.port, value })
    this.count++
  }

  /** Removes the key if it holds `value` (a newer value under the same key stays). */
  deleteIf(from: UdpAddress, id: number, value: V): void {
    const list = this.byId.get(id)
    if (list === undefined) return
    const at = list.findIndex((x) => x.port === from.port && x.address === from.address && x.value === value)
    if (at < 0) return
    list.splice(at, 1)
    this.count--
    if (list.length === 0) this.byId.delete(id)
  }

  *values(): IterableIterator<V> {
    for (const list of this.byId.values()) for (const e of list) yield e.value
  }
}
