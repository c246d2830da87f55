/**
 * The echo protocol of `listen` and the measurements of `dial` over it:
 * round-trip times of small messages, and the throughput of a bulk
 * transfer echoed back. The protocol id is the one of `@libp2p/echo`, so
 * `dial` can measure against any libp2p peer that runs it.
 */

import { randomBytes } from 'node:crypto'
import { byteStream } from '@libp2p/utils'
import type { Connection, Stream } from '@libp2p/interface'

export const ECHO_PROTOCOL = '/echo/1.0.0'

/** size of one RTT probe message, bytes */
const RTT_MESSAGE_BYTES = 32

/** size of one write of the throughput test, bytes */
const THROUGHPUT_CHUNK_BYTES = 64 * 1024

/** echo streams one peer may have open with us at once */
export const MAX_ECHO_STREAMS = 8

/**
 * Echo every chunk back until the remote closes its side; resolves with
 * the number of bytes echoed, also when the final close fails (the remote
 * may hang up as soon as it has its data back)
 */
export async function echoStream (stream: Stream, signal: AbortSignal): Promise<number> {
  let bytes = 0

  for await (const chunk of stream) {
    bytes += chunk.byteLength
    if (!stream.send(chunk)) {
      await stream.onDrain({ signal })
    }
  }

  await stream.close({ signal }).catch(() => { stream.abort(new Error('could not close the echo stream')) })
  return bytes
}

export interface StreamOptions {
  signal: AbortSignal
  /** the connection is relayed (limited): the stream must be allowed on it */
  limited: boolean
}

/**
 * Round-trip times of `count` small messages, one at a time, over one echo
 * stream on `connection`, ms each
 */
export async function measureRtt (connection: Connection, count: number, options: StreamOptions): Promise<number[]> {
  const stream = await connection.newStream(ECHO_PROTOCOL, { signal: options.signal, runOnLimitedConnection: options.limited })
  const bytes = byteStream(stream)
  const samples: number[] = []

  try {
    for (let i = 0; i < count; i++) {
      const message = randomBytes(RTT_MESSAGE_BYTES)
      const started = performance.now()
      await bytes.write(message, { signal: options.signal })
      const answer = await bytes.read({ bytes: RTT_MESSAGE_BYTES, signal: options.signal })
      samples.push(performance.now() - started)

      if (!Buffer.from(answer.subarray()).equals(message)) {
        throw new Error('the echo came back changed')
      }
    }
  } finally {
    await stream.close({ signal: options.signal }).catch(() => { stream.abort(new Error('could not close the RTT stream')) })
  }

  return samples
}

/**
 * Send `total` random bytes over a new echo stream while reading the echo;
 * resolves when every byte is back (checked) with the seconds it took
 */
export async function measureThroughput (connection: Connection, total: number, options: StreamOptions): Promise<{ bytes: number, seconds: number }> {
  const stream = await connection.newStream(ECHO_PROTOCOL, { signal: options.signal, runOnLimitedConnection: options.limited })
  const started = performance.now()
  let finished: number | undefined
  // one random block, sent over and over: the check compares each echoed byte with it
  const block = randomBytes(THROUGHPUT_CHUNK_BYTES)

  // read until the echo side closes (after our close): a clean end for both
  const reading = (async () => {
    let received = 0
    for await (const chunk of stream) {
      const data = chunk.subarray()
      for (let i = 0; i < data.byteLength; i++) {
        if (data[i] !== block[(received + i) % block.byteLength]) {
          throw new Error(`the echo came back changed at byte ${received + i}`)
        }
      }
      received += data.byteLength
      if (received >= total) {
        finished ??= performance.now()
      }
    }
    return received
  })()
  reading.catch(() => {})

  try {
    for (let sent = 0; sent < total;) {
      const n = Math.min(block.byteLength, total - sent)
      if (!stream.send(block.subarray(0, n))) {
        await stream.onDrain({ signal: options.signal })
      }
      sent += n
    }

    await stream.close({ signal: options.signal })
    const received = await abortable(reading, options.signal)

    if (received !== total || finished == null) {
      throw new Error(`the echo stream ended after ${received} of ${total} bytes`)
    }

    return { bytes: total, seconds: (finished - started) / 1000 }
  } catch (err: any) {
    stream.abort(err)
    throw err
  }
}

async function abortable<T> (promise: Promise<T>, signal: AbortSignal): Promise<T> {
  signal.throwIfAborted()
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => { reject(signal.reason) }
    signal.addEventListener('abort', onAbort, { once: true })
    promise.then(resolve, reject).finally(() => { signal.removeEventListener('abort', onAbort) })
  })
}
