/** What run.ts and worker.ts say to each other over the fork IPC channel. */

export type Transport = 'utp' | 'tcp'

export interface ReceiverConfig {
  role: 'recv'
  transport: Transport
  /** Payload bytes expected (the receive buffer is preallocated). */
  bytes: number
  /** UDP socket buffers asked for; 0 leaves the kernel default (net.core.rmem_default). */
  buffers: number
}

export interface SenderConfig {
  role: 'send'
  transport: Transport
  /** The payload, read into memory before the clock starts. */
  file: string
  port: number
  buffers: number
}

export type WorkerConfig = ReceiverConfig | SenderConfig

/** uTP connection counters (UtpConnectionStats) plus the congestion state at the time. */
export interface LinkStats {
  packetsSent: number
  packetsReceived: number
  retransmits: number
  fastRetransmits: number
  timeouts: number
  duplicatesReceived: number
  dropped: number
  bytesSent: number
  bytesReceived: number
  state?: string
  cwnd?: number
  bytesInFlight?: number
  bufferedBytes?: number
  rttMs?: number
}

/** CPU seconds (user + system, all threads) since the transfer started. */
export interface Cpu {
  user: number
  system: number
}

export type WorkerMessage =
  | { type: 'ready'; port?: number; buffers?: { recv: number; send: number } }
  | { type: 'progress'; bytes: number; stats?: LinkStats }
  /** Receiver: the stream ended (the parent stops its clock on this message). */
  | { type: 'end'; bytes: number; overflow: number; cpu: Cpu; stats?: LinkStats }
  /** Receiver: sha256 of what arrived, computed after 'end'. */
  | { type: 'result'; sha256: string }
  /** Sender: everything written and (uTP) acknowledged. */
  | { type: 'sent'; bytes: number; cpu: Cpu; stats?: LinkStats }
  | { type: 'error'; message: string; stats?: LinkStats }

export type ParentMessage = { type: 'go' } | { type: 'exit' }
