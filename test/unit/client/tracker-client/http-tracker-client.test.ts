import { describe, expect, it } from 'vitest'
import { announceUrl, parseAnnounceResponse } from '../../../../client/tracker-client/http-tracker-client.js'
import { encodeBencode } from '../../../../protocol/bencode-codec.js'

const URL_ = 'http://t/announce'

describe('HTTP announce encoding', () => {
  it('appends to a URL that already has a query (passkeys) and asks for compact peers', () => {
    const url = announceUrl('http://t/announce?passkey=abc', {
      infoHash: new Uint8Array(20).fill(0xab),
      peerId: new TextEncoder().encode('-PS0001-000000000000'),
      port: 6881,
      uploaded: 0,
      downloaded: 0,
      left: 10,
      event: 'started',
      numwant: 50,
    })
    expect(url.startsWith('http://t/announce?passkey=abc&info_hash=%AB%AB')).toBe(true)
    expect(url).toContain('&compact=1')
    expect(url).toContain('&event=started')
    expect(url).toContain('&numwant=50')
  })
})

describe('parseAnnounceResponse', () => {
  it('reads compact IPv4 peers, peers6, counts, min interval, tracker id and warning', () => {
    const v6 = new Uint8Array(18)
    v6[15] = 1
    v6[16] = 0x1a
    v6[17] = 0xe1
    const res = parseAnnounceResponse(
      URL_,
      encodeBencode({
        interval: 1800,
        'min interval': 900,
        complete: 4,
        incomplete: 7,
        'tracker id': 'xyz',
        'warning message': 'be nice',
        peers: Uint8Array.of(10, 0, 0, 1, 0x1a, 0xe1, 192, 168, 1, 2, 0, 80),
        peers6: v6,
      }),
    )
    expect(res).toEqual({
      interval: 1800,
      minInterval: 900,
      complete: 4,
      incomplete: 7,
      trackerId: 'xyz',
      warning: 'be nice',
      peers: [
        { address: '10.0.0.1', port: 6881 },
        { address: '192.168.1.2', port: 80 },
        { address: '::1', port: 6881 },
      ],
    })
  })
  it('reads dictionary-model peers and drops bad ones', () => {
    const res = parseAnnounceResponse(
      URL_,
      encodeBencode({
        interval: 60,
        peers: [{ ip: '1.2.3.4', port: 5, 'peer id': 'x' }, { ip: 'h', port: 0 }, { port: 9 }],
      }),
    )
    expect(res.peers).toEqual([{ address: '1.2.3.4', port: 5 }])
  })
  it('turns a failure reason into TRACKER_FAILURE_REASON with the text', () => {
    expect(() =>
      parseAnnounceResponse(URL_, encodeBencode({ 'failure reason': 'unregistered torrent' })),
    ).toThrow(expect.objectContaining({ code: 'TRACKER_FAILURE_REASON', message: 'unregistered torrent' }))
  })
  it('refuses junk and answers without an interval as TRACKER_BAD_RESPONSE', () => {
    for (const body of [
      new TextEncoder().encode('<html>'),
      encodeBencode({ peers: new Uint8Array() }),
      encodeBencode([1]),
    ]) {
      expect(() => parseAnnounceResponse(URL_, body)).toThrow(
        expect.objectContaining({ code: 'TRACKER_BAD_RESPONSE' }),
      )
    }
  })
})
