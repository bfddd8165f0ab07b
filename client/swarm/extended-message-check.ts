import { bencodePrefixLength } from '../../protocol/bencode-codec.js'

const TEXT_DECODER = new TextDecoder()
const TEXT_ENCODER = new TextEncoder()

/**
 * Vets an extended message (BEP 10) before bittorrent-protocol and its extensions decode it with the
 * `bencode` package, which loops forever on a negative string length (`d1:a-3:xe`): one such message
 * from any peer would hang the client. Throws `DecodeError` (the wire is closed) unless what the
 * library will decode is well-formed bencode, on which it terminates.
 *
 * `extension` is our name for the extended message id (the Wire's `extendedMapping`); messages for
 * extensions we did not register are dropped unread by the Wire and are not checked.
 */
export function checkExtendedMessage(
  extendedId: number,
  extension: string | undefined,
  payload: Uint8Array,
): void {
  if (extendedId === 0 || (extension !== undefined && extension !== 'ut_metadata')) {
    bencodePrefixLength(payload)
  } else if (extension === 'ut_metadata') {
    bencodePrefixLength(utMetadataHeader(payload))
  }
}

/**
 * The bytes ut_metadata decodes: it turns the payload into text (invalid UTF-8 becoming U+FFFD, three
 * bytes each), cuts it after the first "ee" and decodes that text. Checking the raw bytes would not
 * do: the replacement characters shift a string's content into the structure.
 */
function utMetadataHeader(payload: Uint8Array): Uint8Array {
  const text = TEXT_DECODER.decode(payload)
  return TEXT_ENCODER.encode(text.substring(0, text.indexOf('ee') + 2))
}
