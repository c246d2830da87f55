/**
 * One bounded HTTP/1.1 exchange with a UPnP-IGD gateway (a description GET
 * or a SOAP POST): plain http only, no redirects, no keep-alive, the
 * answer's body read up to a size cap (past it the request is destroyed)
 * and the whole exchange under the caller's signal.
 */

import { request } from 'node:http'
import { InvalidUpnpResponseError } from '../../errors.ts'
import type { AbortOptions } from '@libp2p/interface'

export interface IgdHttpRequest extends AbortOptions {
  method: 'GET' | 'POST'
  headers?: Record<string, string>
  body?: string
  /** largest body read, in bytes */
  maxBytes: number
}

export interface IgdHttpResponse {
  status: number
  body: string
}

/**
 * @throws {InvalidUpnpResponseError} `not-http` for another scheme, `too-large` past `maxBytes`
 * @throws {Error} the socket's error, or an AbortError when the signal fires
 */
export async function igdHttpRequest (url: URL, init: IgdHttpRequest): Promise<IgdHttpResponse> {
  if (url.protocol !== 'http:') {
    throw new InvalidUpnpResponseError('not-http', `Only http: URLs are followed, not ${url.protocol}`)
  }

  init.signal?.throwIfAborted()
  const body = init.body != null ? Buffer.from(init.body, 'utf8') : undefined

  return new Promise<IgdHttpResponse>((resolve, reject) => {
    const req = request(url, {
      method: init.method,
      headers: {
        ...init.headers,
        Connection: 'close',
        ...(body != null ? { 'Content-Length': String(body.byteLength) } : {})
      },
      signal: init.signal,
      agent: false
    }, (res) => {
      const declared = Number(res.headers['content-length'])

      if (Number.isFinite(declared) && declared > init.maxBytes) {
        req.destroy()
        reject(new InvalidUpnpResponseError('too-large', `The gateway's answer from ${url.host} is ${declared} bytes, more than the ${init.maxBytes} we read`))
        return
      }

      const chunks: Buffer[] = []
      let size = 0

      res.on('data', (chunk: Buffer) => {
        size += chunk.byteLength

        if (size > init.maxBytes) {
          req.destroy()
          reject(new InvalidUpnpResponseError('too-large', `The gateway's answer from ${url.host} is larger than the ${init.maxBytes} bytes we read`))
          return
        }

        chunks.push(chunk)
      })
      res.on('end', () => {
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') })
      })
      res.on('error', reject)
    })

    req.on('error', reject)
    req.end(body)
  })
}
