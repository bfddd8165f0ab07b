import { TrackerError, throwIfAborted } from '../../protocol/errors.js'
import {
  type ConnectQuery,
  connectUrl,
  decodeConnectAnswer,
  type HttpConnectAnswer,
} from '../../protocol/rendezvous/connect-query.js'

/** A `/connect` answer is a few dozen bytes; anything far larger is not one. */
const MAX_CONNECT_ANSWER_BYTES = 4096

/**
 * Asks the tracker of `announceUrl` over HTTP to connect this peer (registered, holding `q.token`)
 * to `q.targetPeerId` (docs/protocol/connect-request.md, Connect over HTTP). The tracker pushes the
 * request to the target over UDP; the answer says where to punch. Throws TrackerError:
 * `TRACKER_FAILURE_REASON` / `TRACKER_RATE_LIMITED` (refused; `cause` is the rendezvous error name),
 * `TRACKER_UNREACHABLE`, or DecodeError for an answer that is not one.
 */
export async function httpConnect(
  announceUrl: string,
  q: ConnectQuery,
  opts: { signal?: AbortSignal } = {},
): Promise<HttpConnectAnswer> {
  const url = connectUrl(announceUrl, q)
  let res: Response
  try {
    res = await fetch(url, { signal: opts.signal })
  } catch (err) {
    throwIfAborted(opts.signal)
    throw new TrackerError('TRACKER_UNREACHABLE', `${announceUrl} unreachable for /connect`, { cause: err })
  }
  const body = new Uint8Array(await res.arrayBuffer())
  throwIfAborted(opts.signal)
  if (res.status !== 200 || body.length > MAX_CONNECT_ANSWER_BYTES) {
    throw new TrackerError(
      'TRACKER_UNREACHABLE',
      `/connect answered HTTP ${res.status} with ${body.length} bytes`,
    )
  }
  return decodeConnectAnswer(body)
}
