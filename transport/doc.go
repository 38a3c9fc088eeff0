// Package transport owns hotzfs's wire protocol: the version banner, checksummed frames, JSON control messages
// and zstd data streams, plus the carriers' plumbing (deadlines, ssh stdio, bandwidth limit, progress).
//
// A connection starts with [Handshake]. After it, peers exchange control messages ([WriteMessage],
// [ReadMessage], [Expect]) and data streams ([NewStreamWriter], [NewStreamReader]) on the same carrier. No
// function here buffers reads beyond the frame it returns, so control messages and streams may alternate freely
// on one io.ReadWriter.
//
// Frame format (all integers big-endian):
//
//	+------+-----------+-----------+----------------+
//	| type | length    | crc32c    | payload        |
//	| 1 B  | 4 B       | 4 B       | length bytes   |
//	+------+-----------+-----------+----------------+
//
// The CRC-32C (Castagnoli) covers the type, the length and the payload, so a flipped bit anywhere in a frame
// is detected before its payload is used. A control frame's CRC starts from 0; inside a data stream each
// frame's CRC continues from the previous frame's (it is the running CRC of the stream so far), so a frame
// dropped, repeated or reordered is detected at the next frame too. On an authenticated carrier (TLS, see
// [Conn.Authenticated]) the frames of a data stream (data, end, error trailer) carry 0 in the checksum field
// instead: TLS's AEAD already rejects any altered, dropped or reordered byte, and a CRC pass over every byte
// on each side is a cost a slow CPU notices. Control frames always carry their CRC. Each type has its own size
// limit, checked before anything is allocated: see [FrameType] and [MaxPayload]; a hello has a smaller one
// ([MaxHelloPayload]). A control message's JSON is refused before it is decoded when it nests more than 8
// deep or has an array of more than 10,000 elements, so a hostile frame costs no more than its own bytes.
//
// A data stream is a run of data frames (all [FrameData] or all [FrameZstd], one zstd stream across them)
// closed by exactly one [FrameEnd] (raw byte and frame counts, checked by the reader) or one [FrameError]
// (the sender's error). A stream reader returns io.EOF only after a valid end frame.
package transport
