/** Commands to bench/tracker-load/tracker-process.ts, one JSON object a line. */
export type TrackerMemoryCommand = { op: 'sample' } | { op: 'gc' } | { op: 'advance'; ms: number }

/** The tracker process's memory (bytes) and its store's counts at one moment. */
export interface TrackerMemorySample {
  event: 'sample'
  /** performance.now() in the tracker process. */
  t: number
  /** Taken right after two forced full collections. */
  afterGc: boolean
  rss: number
  heapUsed: number
  external: number
  arrayBuffers: number
  swarms: number
  peers: number
}

/** What the load client reports when it is done (latencies in ms, from each request's scheduled time). */
export interface LoadReport {
  http: LatencySummary
  udp: LatencySummary
  seconds: number
  /** p99 of each 10-second window, both protocols together: is the tail steady over the run? */
  p99ByWindow: number[]
}

export interface LatencySummary {
  sent: number
  answered: number
  errors: number
  p50: number
  p99: number
  max: number
}
