/**
 * What an IP address (text form) can reach, as the socket and service
 * layers need to know it
 */

export function isWildcard (host: string): boolean {
  return host === '0.0.0.0' || host === '::'
}

export function isLoopback (host: string): boolean {
  return host.startsWith('127.') || host === '::1'
}

export function isLinkLocal (host: string): boolean {
  return host.startsWith('169.254.') || host.toLowerCase().startsWith('fe80:')
}

/**
 * Loopback or link-local: never a public address, never worth offering to a
 * peer on another host
 */
export function isLocalOnly (host: string): boolean {
  return isLoopback(host) || isLinkLocal(host)
}
